"""The open files limit reached (issue 17): a server started with RLIMIT_NOFILE 64 and
clients connecting until it can take no more.

troupe-chat: connections are opened one at a time until one is not greeted. Then, at the
limit: the listener has logged the shortage exactly once (not once per attempt, though more
clients keep trying), the server does not spin (its CPU time over 2 s of waiting clients
stays small), and the users already in are served (a channel message arrives, a PING is
answered). When some connections close, the clients that waited are greeted, a new client
is too, and the end of the shortage is logged once.

troupe-pubsub: the same limit while two clients keep sending INFO (which opens
/proc/self/statm on a worker thread) and another keeps connecting and hanging up. That is
the race that hung the server before: libuv's accept loop keeps a spare descriptor for this
case and loses it to the other thread's open, and then calls back with EMFILE in a loop that
only a freed descriptor ends, at 100% CPU and one log line per attempt (17 million lines in
8 s). Now every INFO is answered, the server is idle once the load stops, and the shortage
is logged once. Then the same again with troupe-pubsub as a cluster node and the churn on
its cluster port, whose listener had the same loop (10 million lines in 6 s).

Both exit 0 on SIGTERM at the end."""

import os
import re
import socket
import tempfile
import threading
import time

import hostile as h

LIMIT = 64
SHORTAGE = r"tcp: cannot accept on .*Too many open files"
CLUSTER_SHORTAGE = r"cluster: cannot accept on .*Too many open files"
OVER = r"tcp: accepting on .* again"


def reply_in(sock, want, seconds, give_up=None):
    """True once what came on sock holds `want`; False at EOF, after `seconds`, or as soon as
    give_up() is true (the server said it is at its limit: this client waits)."""
    got = b""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            d = sock.recv(4096)
        except socket.timeout:
            if give_up and give_up():
                return False
            continue
        except ConnectionError:
            return False
        if not d:
            return False
        got += d
        if want in got:
            return True
    return False


def greeted(sock, seconds, give_up=None):
    return reply_in(sock, b"NOTICE", seconds, give_up)


def chat():
    srv = h.Server(h.ARGS.chat, nofile=LIMIT)
    a, b, chan = h.chat_pair(srv.port, "fd")
    conns, waiting = [], None
    for i in range(4 * LIMIT):
        s = h.connect(srv.port)
        if not greeted(s, h.wait_s(10), lambda: srv.log_count(SHORTAGE) > 0):
            waiting = s
            break
        conns.append(s)
    h.check(waiting is not None, f"{len(conns)} connections under a limit of {LIMIT}")
    print(f"troupe-chat: {len(conns)} clients greeted, then the limit ({LIMIT} files, "
          f"{srv.fds()} open)")
    more = [h.connect(srv.port) for _ in range(8)]  # they wait in the backlog too
    time.sleep(0.5)
    cpu0 = srv.cpu_s()
    time.sleep(2)
    cpu = srv.cpu_s() - cpu0
    print(f"troupe-chat: CPU over 2 s at the limit: {cpu:.2f} s")
    h.check(cpu < 1.0, f"the server used {cpu:.2f} s of CPU in 2 s at the limit (spinning)")
    h.check(srv.log_count(SHORTAGE) == 1,
            f"the shortage logged {srv.log_count(SHORTAGE)} times, not once: "
            f"{srv.log()[-600:]!r}")
    h.check(srv.alive(), "troupe-chat died at the limit")
    h.chat_message(a, b, chan, "still here at the limit")
    a.ping("at the limit")
    # Free 12 descriptors: the 9 that waited get in, and a new client after them.
    for s in conns[:12]:
        s.close()
    for s in [waiting] + more:
        h.check(greeted(s, h.wait_s(10)), "a client that waited was not greeted")
    fresh = h.connect(srv.port)
    h.check(greeted(fresh, h.wait_s(10)), "a new client was not greeted after the limit")
    h.chat_message(a, b, chan, "after the limit")
    print(f"troupe-chat log: {srv.log_count(SHORTAGE)} shortage line, "
          f"{srv.log_count(OVER)} end-of-shortage line")
    h.check(srv.log_count(SHORTAGE) == 1, f"shortage logged again: {srv.log()[-600:]!r}")
    h.check(srv.log_count(OVER) == 1, f"the end of the shortage logged "
            f"{srv.log_count(OVER)} times: {srv.log()[-600:]!r}")
    for s in conns[12:] + [waiting, fresh] + more:
        s.close()
    a.close()
    b.close()
    srv.stop()


def answers_ping(sock, seconds, give_up=None):
    try:
        sock.sendall(b"PING\r\n")
    except ConnectionError:
        return False
    return reply_in(sock, b"+PONG", seconds, give_up)


def pubsub(cluster=False):
    args, cookie = [], None
    if cluster:
        fd, cookie = tempfile.mkstemp(prefix="troupe-cookie-")
        os.write(fd, b"hostile-fdlimit-cookie-0123456789")
        os.close(fd)
        args = ["--node", "n1", "--cluster", "127.0.0.1:0", "--cookie-file", cookie]
    srv = h.Server(h.ARGS.pubsub, *args, nofile=LIMIT)
    churn_port, what = srv.port, "troupe-pubsub"
    if cluster:
        deadline = time.monotonic() + h.wait_s(10)
        while not re.search(r"cluster node n1 on port (\d+)", srv.log()):
            h.check(time.monotonic() < deadline, "the cluster port was not announced")
            time.sleep(0.05)
        churn_port = int(re.search(r"cluster node n1 on port (\d+)", srv.log()).group(1))
        what = "troupe-pubsub (churn on its cluster port)"
    info = [h.Resp(srv.port) for _ in range(2)]
    conns = []
    for i in range(4 * LIMIT):
        s = h.connect(srv.port)
        if not answers_ping(s, h.wait_s(10), lambda: srv.log_count(SHORTAGE) > 0):
            conns.append(s)
            break
        conns.append(s)
    h.check(len(conns) < 4 * LIMIT, "the limit was never reached")
    print(f"troupe-pubsub: {len(conns) - 1} clients served, then the limit")
    stop = threading.Event()
    tries = [0]

    def churn():
        while not stop.is_set():
            try:
                socket.create_connection(("127.0.0.1", churn_port), timeout=0.5).close()
                tries[0] += 1
            except OSError:
                pass

    t = threading.Thread(target=churn)
    t.start()
    infos = 0
    end = time.monotonic() + 3
    try:
        while time.monotonic() < end:
            for c in info:
                r = c.call("INFO")
                h.check(r.startswith(b"$"), f"INFO answered {r[:80]!r}")
                infos += 1
    finally:
        stop.set()
        t.join()
    print(f"{what}: {infos} INFO answered while {tries[0]} connections were tried at the "
          f"limit")
    cpu0 = srv.cpu_s()
    time.sleep(2)
    cpu = srv.cpu_s() - cpu0
    print(f"{what}: CPU over 2 s after the load, at the limit: {cpu:.2f} s")
    h.check(cpu < 1.0, f"the server used {cpu:.2f} s of CPU in 2 s at the limit (spinning)")
    h.check(srv.log_count(SHORTAGE) == 1,
            f"the shortage logged {srv.log_count(SHORTAGE)} times, not once: "
            f"{srv.log()[-600:]!r}")
    if cluster:
        h.check(srv.log_count(CLUSTER_SHORTAGE) == 1,
                f"the cluster port's shortage logged {srv.log_count(CLUSTER_SHORTAGE)} times, "
                f"not once: {srv.log()[-600:]!r}")
    h.check(info[0].call("PING") == b"+PONG\r\n", "a client in was not served at the limit")
    for s in conns:
        s.close()
    # The backlog (clients that hung up while they waited) is accepted and dropped.
    deadline = time.monotonic() + h.wait_s(30)
    while srv.log_count(OVER) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    h.check(srv.log_count(OVER) == 1, f"the end of the shortage logged "
            f"{srv.log_count(OVER)} times: {srv.log()[-600:]!r}")
    h.resp_ping(srv.port)
    for c in info:
        c.close()
    srv.stop()
    if cookie:
        os.unlink(cookie)


def main():
    h.setup(__doc__)
    chat()
    pubsub()
    pubsub(cluster=True)


h.run(main)
