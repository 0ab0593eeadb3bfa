"""5,000 connect-and-reset clients in a burst (issue 17), against troupe-chat and against
troupe-pubsub: batches of clients connect and close at once with SO_LINGER 0 (an RST, so
the server meets ECONNRESET or EPIPE on sockets it has just accepted or greeted). Between
the batches the normal users are served (a channel message arrives; a PING is answered);
afterwards the server holds no more descriptors than before (every reset connection was
let go of), its RSS is bounded (printed before and after), and it exits 0 on SIGTERM."""

import socket
import struct
import time

import hostile as h

BATCH = 250
LINGER0 = struct.pack("ii", 1, 0)


def burst(port, n, between):
    """n clients in batches: connect every one of a batch, then reset them all."""
    done = 0
    while done < n:
        batch = []
        for _ in range(min(BATCH, n - done)):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
            try:
                s.connect(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            batch.append(s)
        for s in batch:
            s.close()  # RST
        done += BATCH
        between()


def settle(srv, want):
    deadline = time.monotonic() + h.wait_s(30)
    while srv.fds() > want and time.monotonic() < deadline:
        time.sleep(0.1)
    return srv.fds()


def chat(n):
    srv = h.Server(h.ARGS.chat)
    a, b, chan = h.chat_pair(srv.port, "rst")
    base, before = srv.fds(), srv.rss_kb()
    sent = [0]

    def between():
        h.chat_message(a, b, chan, f"between {sent[0]}")
        sent[0] += 1

    t0 = time.monotonic()
    burst(srv.port, n, between)
    print(f"troupe-chat: {n} clients reset in {time.monotonic() - t0:.2f} s, "
          f"{sent[0]} messages between the batches")
    left = settle(srv, base)
    h.check(left <= base, f"troupe-chat holds {left} descriptors, {base} before the burst")
    a.ping("after the burst")
    h.check_rss(srv, f"{n} reset clients", before, srv.rss_kb(), 32)
    a.close()
    b.close()
    srv.stop()


def pubsub(n):
    srv = h.Server(h.ARGS.pubsub)
    c = h.Resp(srv.port)
    h.check(c.call("PING") == b"+PONG\r\n", "a normal client was not served")  # it is in
    base, before = srv.fds(), srv.rss_kb()

    def between():
        h.check(c.call("PING") == b"+PONG\r\n", "a normal client was not served")

    t0 = time.monotonic()
    burst(srv.port, n, between)
    print(f"troupe-pubsub: {n} clients reset in {time.monotonic() - t0:.2f} s")
    left = settle(srv, base)
    h.check(left <= base, f"troupe-pubsub holds {left} descriptors, {base} before the burst")
    h.resp_ping(srv.port)
    h.check_rss(srv, f"{n} reset clients", before, srv.rss_kb(), 32)
    c.close()
    srv.stop()


def main():
    h.setup(__doc__)
    n = h.scaled(5000, 500)
    chat(n)
    pubsub(n)


h.run(main)
