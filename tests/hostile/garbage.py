"""Garbage on every port (issue 17): troupe-chat and troupe-pubsub, each with its console and
metrics server, get on each of their three ports two clients that send 256 KB of garbage,
one of random bytes and one of random protocol-looking bytes (RESP, IRC and HTTP
punctuation, digits, CRLFs), read whatever comes back, and hang up. Whether a server answers
with errors or closes is its protocol's business; what is asserted is that afterwards every
port serves a normal client (an IRC user's message and registration, a PING, a console's
help, GET /metrics), that RSS is bounded (printed before and after), and that both servers
exit 0 on SIGTERM."""

import random
import socket
import threading

import hostile as h

SIZE = 256 << 10
ALPHABET = b"*$+-:_#,%>~()=!\r\n\r\n0123456789 \tGETPOST/HTTP1.Host:NICKUSERPRIVMSG#&@\x00\xff"


def flavours(seed):
    rnd = random.Random(seed)
    return [("random bytes", h.garbage(SIZE, seed)),
            ("protocol-looking", bytes(rnd.choice(ALPHABET) for _ in range(SIZE)))]


def spray(port, data):
    """Send data on a new connection while reading; returns (bytes back, closed by server)."""
    s = h.connect(port)
    got = [0, False]

    def read():
        got[0], got[1] = h.drain(s, h.wait_s(10))

    t = threading.Thread(target=read)
    t.start()
    try:
        for i in range(0, len(data), 16384):
            s.sendall(data[i:i + 16384])
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # it closed on us (a shutdown after its RST: ENOTCONN): fine
    t.join()
    s.close()
    return got[0], got[1]


def attack(srv, ports, seed):
    before = srv.rss_kb()
    for name, port in ports:
        for what, data in flavours(seed):
            seed += 1
            back, closed = spray(port, data)
            print(f"{srv.name} {name} port, 256 KB of {what}: {back} bytes back, "
                  f"{'closed by the server' if closed else 'left open'}")
            h.check(srv.alive(), f"{srv.name} died of garbage on its {name} port")
    return before


def normal_console_and_metrics(srv):
    lines = h.console_call(srv.console_port, "help")
    h.check(any(l.startswith("commands") for l in lines), f"console help after: {lines!r}")
    status, body = h.http_get(srv.metrics_port)
    h.check(status == 200, f"GET /metrics answered {status}")
    h.metric(body, "troupe_listener_connections")


def main():
    h.setup(__doc__)
    chat = h.Server(h.ARGS.chat, console=True, metrics=True)
    a, b, chan = h.chat_pair(chat.port, "junk")
    before = attack(chat, [("chat", chat.port), ("console", chat.console_port),
                           ("metrics", chat.metrics_port)], 100)
    h.chat_message(a, b, chan, "after the garbage")
    c = h.Irc(chat.port, "newcomer")
    c.ping("new")
    c.close()
    normal_console_and_metrics(chat)
    h.check_rss(chat, "garbage on every port", before, chat.rss_kb(), 32)

    ps = h.Server(h.ARGS.pubsub, console=True, metrics=True)
    before = attack(ps, [("pubsub", ps.port), ("console", ps.console_port),
                         ("metrics", ps.metrics_port)], 200)
    h.resp_ping(ps.port)
    normal_console_and_metrics(ps)
    h.check_rss(ps, "garbage on every port", before, ps.rss_kb(), 32)

    a.close()
    b.close()
    chat.stop()
    ps.stop()


h.run(main)
