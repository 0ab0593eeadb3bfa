"""The node-wide output budget (tr_config_t.out_budget, troupe-pubsub --out-budget): many
subscribers that stop reading cannot take the server's memory to their number times the
per-client limit. troupe-pubsub runs with a budget of 8 MiB and the default 32 MiB limit;
16 subscribers subscribe and never read (a small receive buffer each), one subscriber reads
everything, and a publisher sends 2,000 messages of 16 KiB (32 MiB to every subscriber,
512 MiB for the 16 together without the budget). Asserted: every non-reader is dropped for
holding more than its share of the budget (the log says so, once each), the reader gets
every message in order and stays connected, and the server's RSS grows by less than 64 MB
(plain build). Under a sanitizer there are 4 non-readers, and the flood is the same."""

import socket
import threading
import time

import hostile as h

BUDGET = 8 << 20
SIZE = 16 << 10


def main():
    h.setup(__doc__)
    stuck_n = h.scaled(16, 4)
    # Not scaled: the last non-reader left must still pass the budget on its own.
    msgs = 2000
    srv = h.Server(h.ARGS.pubsub, "--out-budget", str(BUDGET))
    base_kb = srv.rss_kb()

    stuck = []
    for _ in range(stuck_n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: the window
        s.connect(("127.0.0.1", srv.port))
        s.sendall(h.Resp.encode("SUBSCRIBE", "flood"))
        stuck.append(s)
    reader = h.Resp(srv.port)
    r = reader.call("SUBSCRIBE", "flood")
    h.check(b"subscribe" in r, f"SUBSCRIBE answered {r!r}")
    time.sleep(0.2)  # the stuck ones' SUBSCRIBEs are in

    frame_head = b"*3\r\n$7\r\nmessage\r\n$5\r\nflood\r\n$%d\r\n" % SIZE
    frame = len(frame_head) + SIZE + 2
    stream, reader_err = [reader.buf], []

    def read_all():  # raw bytes as fast as they come: a reader that keeps up
        have = len(reader.buf)
        reader.sock.settimeout(h.wait_s(60))
        try:
            while have < msgs * frame:
                d = reader.sock.recv(1 << 20)
                if not d:
                    raise EOFError("connection closed")
                stream.append(d)
                have += len(d)
        except Exception as e:  # noqa: BLE001 - reported below
            reader_err.append(repr(e))

    t = threading.Thread(target=read_all, daemon=True)
    t.start()
    pub = h.Resp(srv.port)
    peak_kb = srv.rss_kb()
    pad = b"x" * (SIZE - 8)
    for i in range(msgs):
        pub.send(h.Resp.encode("PUBLISH", "flood", b"%08d" % i + pad))
        if i % 50 == 49:
            peak_kb = max(peak_kb, srv.rss_kb())
    for _ in range(msgs):
        pub.reply(timeout=h.wait_s(60))
    t.join(h.wait_s(120))
    peak_kb = max(peak_kb, srv.rss_kb())
    h.check(not reader_err, f"the reader failed: {reader_err}")
    data = b"".join(stream)
    got = 0
    while got < msgs and data[got * frame:(got + 1) * frame].startswith(frame_head + b"%08d" % got):
        got += 1
    h.check(got == msgs and len(data) == msgs * frame,
            f"the reader got {got} of {msgs} messages in order ({len(data)} bytes)")
    reader.buf = b""
    reader.sock.settimeout(None)
    pong = reader.call("PING")  # subscribed, RESP2: ["pong", ""]
    h.check(b"pong" in pong, f"the reader is not served after the flood: {pong!r}")

    dropped = srv.log_count(r"over its share \(\d+\) of the node's output budget")
    print(f"{dropped} of {stuck_n} non-reading subscribers dropped over their share of the "
          f"{BUDGET >> 20} MiB budget; the reader got all {msgs}; peak RSS {h.mb(peak_kb)}")
    h.check(dropped == stuck_n, f"{dropped} of {stuck_n} non-readers were dropped by the budget")
    for s in stuck:  # each was closed by the server: what it holds, then EOF
        s.settimeout(h.wait_s(20))
        try:
            while s.recv(1 << 20):
                pass
        except ConnectionError:
            pass
        s.close()
    h.check_rss(srv, "during the flood", base_kb, peak_kb, 64)
    h.resp_ping(srv.port)
    reader.close()
    pub.close()
    srv.stop()


if __name__ == "__main__":
    h.run(main)
