#!/usr/bin/env python3
"""troupe-pubsub as a cluster: three nodes (p1 seeded by none, p2 and p3 by p1), subscribers
on every node (to a channel, and to a pattern), publishers on every node. Every subscriber
gets every message, each publisher's in the order it published them, exactly once; PUBLISH
answers with the number of receivers in the whole cluster; PUBSUB NUMSUB counts them all.
Then p3 is killed: its subscribers leave the others' counts.

usage: cluster_pubsub.py PATH/TO/troupe-pubsub
"""
import os, signal, socket, subprocess, sys, tempfile, time

N = 300  # messages per publisher


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Reader:
    def __init__(self, sock):
        self.s, self.buf = sock, b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def value(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t in (b"*", b">"):
            return [self.value() for _ in range(int(rest))]
        if t == b"$":
            return self._bytes(int(rest))
        if t == b":":
            return int(rest)
        if t in (b"+", b"-"):
            return rest
        raise ValueError("unexpected %r" % line)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    return s, Reader(s)


def start(binary, name, cport, seeds, cookie):
    args = [binary, "--port", "0", "--node", name, "--cluster", "127.0.0.1:%d" % cport,
            "--cookie-file", cookie]
    if seeds:
        args += ["--seeds", seeds]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    assert " listening on " in line, "no listening line: %r" % line
    return p, int(line.rsplit(":", 1)[1])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def numsub(port, channel):
    s, r = connect(port)
    s.sendall(resp("PUBSUB", "NUMSUB", channel))
    v = r.value()
    s.close()
    return v[1]


def wait_for(cond, what, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def main():
    binary = sys.argv[1]
    fd, cookie = tempfile.mkstemp(prefix="troupe-cookie-")
    os.write(fd, b"cluster-pubsub-test-cookie-0123456789")
    os.close(fd)
    procs = []
    try:
        c1 = free_port()
        p1, port1 = start(binary, "p1", c1, None, cookie)
        procs.append(p1)
        p2, port2 = start(binary, "p2", free_port(), "127.0.0.1:%d" % c1, cookie)
        procs.append(p2)
        p3, port3 = start(binary, "p3", free_port(), "127.0.0.1:%d" % c1, cookie)
        procs.append(p3)
        ports = [port1, port2, port3]

        # A channel subscriber and a pattern subscriber on every node.
        subs = []
        for port in ports:
            for kind, target in (("SUBSCRIBE", "news"), ("PSUBSCRIBE", "ne*")):
                s, r = connect(port)
                s.sendall(resp(kind, target))
                assert r.value()[0] in (b"subscribe", b"psubscribe")
                subs.append((kind, s, r))
        wait_for(lambda: all(numsub(p, "news") == 3 for p in ports), "NUMSUB 3 on every node")

        # A publisher on every node, interleaved; each message names its publisher and number.
        pubs = [connect(port) for port in ports]
        for i in range(N):
            for k, (s, r) in enumerate(pubs):
                s.sendall(resp("PUBLISH", "news", "p%d:%d" % (k, i)))
        for s, r in pubs:
            for _ in range(N):
                got = r.value()
                assert got == 6, "PUBLISH counted %r receivers, want 6 (3 nodes x 2)" % got

        for kind, s, r in subs:
            nxt = [0, 0, 0]
            for _ in range(3 * N):
                v = r.value()
                payload = v[-1].decode()
                who, num = payload.split(":")
                k = int(who[1:])
                assert int(num) == nxt[k], "%s got %s, want p%d:%d" % (kind, payload, k, nxt[k])
                nxt[k] += 1
            assert nxt == [N, N, N]
        print("ok: 3 nodes, 6 subscribers, %d messages each, in order" % (3 * N))

        # p3 dies: its subscribers leave the others' counts.
        p3.kill()
        p3.wait()
        wait_for(lambda: numsub(port1, "news") == 2 and numsub(port2, "news") == 2,
                 "NUMSUB 2 after p3 died")
        s, r = connect(port1)
        s.sendall(resp("PUBLISH", "news", "after"))
        assert r.value() == 4
        print("ok: p3 killed, counts follow")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                rc = p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                raise
            assert rc in (0, -signal.SIGKILL), "a node exited with %r" % rc
        os.unlink(cookie)


if __name__ == "__main__":
    main()
