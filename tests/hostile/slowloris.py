"""Slowloris against troupe-chat (issue 17): a handful of clients that send one byte a
second (half of them registering, half in the middle of a line that never ends) while two
users chat in a channel. Every message of the users arrives, a new user can register during
the attack, and the server is up with its RSS bounded afterwards; it exits 0 on SIGTERM.

The users' message latency before and during the attack is printed, not asserted (timing
belongs in benchmarks)."""

import threading
import time

import hostile as h

SLOW_CLIENTS = 8
ATTACK_S = 6


def main():
    h.setup(__doc__)
    srv = h.Server(h.ARGS.chat)
    a, b, chan = h.chat_pair(srv.port, "sl")
    before = srv.rss_kb()
    calm = [h.chat_message(a, b, chan, f"calm {i}") for i in range(40)]
    print(f"latency before the attack: {h.percentiles(calm)}")

    texts = []
    for i in range(SLOW_CLIENTS):
        if i % 2 == 0:
            texts.append(f"NICK slow{i}\r\nUSER slow{i} 0 * :slow\r\n".encode())
        else:
            texts.append(f"PRIVMSG {chan} :".encode() + b"z" * 500)
    slow = [h.connect(srv.port) for _ in range(SLOW_CLIENTS)]
    stop = threading.Event()
    sent = [0]

    def trickle():
        i = 0
        while not stop.wait(1.0):  # one byte a second on each
            for s, t in zip(slow, texts):
                s.send(t[i % len(t):i % len(t) + 1])
                sent[0] += 1
            i += 1

    t = threading.Thread(target=trickle)
    t.start()
    attack, n = [], 0
    try:
        end = time.monotonic() + ATTACK_S
        while time.monotonic() < end:
            attack.append(h.chat_message(a, b, chan, f"under attack {n}"))
            n += 1
            time.sleep(0.05)
            if n == 20:
                c = h.Irc(srv.port, "newcomer")  # registering while the attack runs
                c.ping("newcomer")
                c.close()
    finally:
        stop.set()
        t.join()
    print(f"latency during the attack ({SLOW_CLIENTS} clients, {sent[0]} bytes at 1 byte/s "
          f"each): {h.percentiles(attack)}")
    h.check(n >= 20, f"only {n} messages went through in {ATTACK_S} s")
    h.check(srv.alive(), "troupe-chat died")
    a.ping("after")
    h.check_rss(srv, "slowloris", before, srv.rss_kb(), 16)
    for s in slow:
        s.close()
    a.close()
    b.close()
    srv.stop()


h.run(main)
