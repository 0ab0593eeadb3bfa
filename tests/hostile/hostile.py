"""What the hostile-client tests share (issue 17): the real servers started on free ports
with their stderr kept (to count what they log), their memory and CPU read from /proc, plain
IRC, RESP, console and HTTP clients for the normal users who must keep being served while
an attack runs, and the scale of a run.

Every test script takes the same arguments:

    SCRIPT --chat BIN --pubsub BIN [--sanitizer address|thread]

With --sanitizer (tests/CMakeLists.txt passes TROUPE_SANITIZE) the counts shrink (SCALE) and
the waits grow (SLOW): a sanitizer makes the servers 2-10 times slower and their RSS is then
mostly the sanitizer's (shadow memory, ASan's quarantine of freed blocks), so memory bounds
are asserted in the plain build only and printed in every build.

Assertions are about correctness and about bounds with wide margins; times and RSS figures
are printed for the reader (the log of ctest --output-on-failure or -V), never compared
against tight limits. Every wait is bounded, only to keep a broken build from hanging."""

import argparse
import ctypes
import os
import random
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time

ARGS = None
SERVERS = []  # every server started, killed at the end of run() whatever happened
LOG_KEEP = 4 << 20  # bytes of a server's stderr kept (a server that logs per attempt floods)
SAN = ""
SCALE = 1.0
SLOW = 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def setup(description):
    """Parse the common arguments; sets ARGS, SAN, SCALE and SLOW."""
    global ARGS, SAN, SCALE, SLOW
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--chat", required=True)
    p.add_argument("--pubsub", required=True)
    p.add_argument("--sanitizer", default="")
    ARGS = p.parse_args()
    SAN = ARGS.sanitizer
    SCALE = {"": 1.0, "address": 0.3, "thread": 0.2}.get(SAN, 0.2)
    SLOW = {"": 1.0, "address": 3.0, "thread": 6.0}.get(SAN, 6.0)
    print(f"build: {SAN or 'plain'} (counts x{SCALE}, waits x{SLOW})")
    return ARGS


def scaled(n, least=1):
    return max(least, int(n * SCALE))


def wait_s(seconds):
    return seconds * SLOW


def run(main):
    """Run a test's main(); exit 0 when it passed, 1 with the reason when not (an unexpected
    exception also prints its traceback), naming any server that had died. A server still
    running then (the test failed before stopping it) is killed."""
    try:
        main()
    except BaseException as e:
        print(f"FAIL: {e}" if isinstance(e, Failure) else f"FAIL: {e!r}")
        for srv in SERVERS:  # a server that died, and how, is most of the diagnosis
            rc = srv.proc.poll()
            if rc is not None and srv.proc.returncode not in (0, -signal.SIGKILL):
                print(f"{srv.name} had exited {rc}; its log ends: {srv.log()[-2000:]}")
        if not isinstance(e, Failure):
            raise
        sys.exit(1)
    finally:
        for srv in SERVERS:
            if srv.alive():
                srv.proc.kill()
                srv.proc.wait()
    print("PASS")


def raise_nofile(n):
    """This process's RLIMIT_NOFILE up to n (root may raise the hard limit too)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, max(n, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    check(resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= n,
          f"cannot raise this test's open files limit to {n}")


def readable(sock, seconds):
    """Wait up to `seconds` for sock to be readable (poll: descriptors over 1024 are fine)."""
    p = select.poll()
    p.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(p.poll(max(0, seconds) * 1000))


def mb(kb):
    return f"{kb / 1024:.1f} MB"


# ---- servers ----

_LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


class Server:
    """troupe-chat or troupe-pubsub on a free port (--port 0), optionally with its console and
    metrics server (also on free ports) and a lower RLIMIT_NOFILE (set between fork and exec,
    as prlimit would). A thread keeps the first LOG_KEEP bytes of its stderr, so a test can
    count what it logged (a server that logs in a loop cannot fill the disk), and it gets
    SIGKILL if this process dies (PR_SET_PDEATHSIG), so a test that fails or times out
    leaves nothing running."""

    def __init__(self, binary, *args, console=False, metrics=False, nofile=None):
        self.name = os.path.basename(binary)
        argv = [binary, "--port", "0", *args]
        if console:
            argv += ["--console", "127.0.0.1:0"]
        if metrics:
            argv += ["--metrics", "127.0.0.1:0"]

        def child():
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=child, text=True)
        SERVERS.append(self)
        self._err = bytearray()
        self._err_lock = threading.Lock()
        self.log_dropped = 0
        self._err_thread = threading.Thread(target=self._keep_log, daemon=True)
        self._err_thread.start()
        line = ""
        if readable(self.proc.stdout, wait_s(20)):
            line = self.proc.stdout.readline()
        m = re.search(r"listening on .*:(\d+)\s*$", line)
        if not m:
            self.proc.kill()
            raise Failure(f"{self.name} did not start: {line!r} {self.log()[-500:]!r}")
        self.port = int(m.group(1))
        self.pid = self.proc.pid
        # The other ports went to stderr before the stdout line.
        self.console_port = self._port_in_log("console")
        self.metrics_port = self._port_in_log("metrics")
        check(not console or self.console_port, "the console's port was not announced")
        check(not metrics or self.metrics_port, "the metrics server's port was not announced")

    def _port_in_log(self, what):
        m = re.search(rf": {what} on port (\d+)", self.log())
        return int(m.group(1)) if m else None

    def _keep_log(self):
        fd = self.proc.stderr.fileno()
        while True:
            try:
                d = os.read(fd, 65536)
            except OSError:
                return
            if not d:
                return
            with self._err_lock:
                room = LOG_KEEP - len(self._err)
                self._err += d[:max(0, room)]
                self.log_dropped += max(0, len(d) - max(0, room))

    def log(self):
        """What the server wrote to stderr so far (its first LOG_KEEP bytes)."""
        time.sleep(0.05)  # what it wrote just now: let the reader thread have it
        with self._err_lock:
            return self._err.decode("utf-8", "replace")

    def log_count(self, pattern):
        return len(re.findall(pattern, self.log()))

    def alive(self):
        return self.proc.poll() is None

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise Failure("no VmRSS")

    def cpu_s(self):
        """User + system CPU seconds the server has used."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self):
        """SIGTERM; it must exit 0 (under ASan that includes leaking nothing)."""
        check(self.alive(), f"{self.name} died: {self.log()[-2000:]}")
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=wait_s(30))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure(f"{self.name} did not exit within {wait_s(30):.0f} s of SIGTERM")
        check(rc == 0, f"{self.name} exited {rc} on SIGTERM; its log ends: {self.log()[-2000:]}")
        print(f"{self.name}: exited 0 on SIGTERM")


def rss_report(server, what, before_kb, after_kb):
    print(f"{server.name} RSS {what}: before {mb(before_kb)}, after {mb(after_kb)} "
          f"({(after_kb - before_kb) / 1024:+.1f} MB)")


def check_rss(server, what, before_kb, after_kb, bound_mb):
    """Print the figures; in the plain build, assert after < before + bound_mb."""
    rss_report(server, what, before_kb, after_kb)
    if not SAN:
        check(after_kb < before_kb + bound_mb * 1024,
              f"{what}: RSS grew from {mb(before_kb)} to {mb(after_kb)}, over {bound_mb} MB")


# ---- clients ----

def connect(port, timeout=None):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout or wait_s(20))


class Irc:
    """A raw IRC client: lines in and out, the server's PINGs answered while waiting."""

    def __init__(self, port, nick=None):
        self.sock = connect(port)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.lines = []
        self.eof = False
        if nick:
            self.register(nick)

    def send(self, *lines):
        self.sock.sendall("".join(l + "\r\n" for l in lines).encode())

    def _read(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or self.eof:
            return False
        if not readable(self.sock, left):
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionError:
            data = b""
        if not data:
            self.eof = True
            return True
        self.buf += data
        while b"\n" in self.buf:
            raw, self.buf = self.buf.split(b"\n", 1)
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if line.startswith("PING "):
                self.send("PONG " + line[5:])
                continue
            self.lines.append(line)
        return True

    def wait_for(self, pattern, start=0, timeout=None):
        """Index of the first line from `start` on matching the regex; Failure on timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + (timeout or wait_s(20))
        i = start
        while True:
            while i < len(self.lines):
                if rx.search(self.lines[i]):
                    return i
                i += 1
            if self.eof or not self._read(deadline):
                raise Failure(f"no line matching {pattern!r}; got {self.lines[start:][-5:]!r}"
                              f"{' and EOF' if self.eof else ''}")

    def register(self, nick):
        start = len(self.lines)
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        self.wait_for(r" (376|422) ", start)

    def ping(self, token):
        """PING and wait for its PONG: the server is serving this client."""
        start = len(self.lines)
        self.send(f"PING :{token}")
        self.wait_for(rf"PONG .*{re.escape(token)}$", start)

    def close(self):
        self.sock.close()


def chat_pair(port, tag):
    """Two registered clients in one channel: the normal users of a chat test."""
    a, b = Irc(port, f"{tag}a"), Irc(port, f"{tag}b")
    chan = f"#{tag}"
    for c in (a, b):
        start = len(c.lines)
        c.send(f"JOIN {chan}")
        c.wait_for(r" 366 ", start)
    a.wait_for(rf":{tag}b!\S* JOIN")
    return a, b, chan


def chat_message(a, b, chan, text):
    """a says text in chan; seconds until b has it (Failure if it never comes)."""
    start = len(b.lines)
    t0 = time.monotonic()
    a.send(f"PRIVMSG {chan} :{text}")
    b.wait_for(rf"PRIVMSG {re.escape(chan)} :{re.escape(text)}$", start)
    return time.monotonic() - t0


def percentiles(samples):
    s = sorted(samples)
    if not s:
        return "no samples"

    def at(q):
        return s[min(len(s) - 1, int(q * len(s)))] * 1000
    return (f"n={len(s)} p50 {at(0.5):.2f} ms, p99 {at(0.99):.2f} ms, "
            f"max {s[-1] * 1000:.2f} ms")


class Resp:
    """A RESP2 client: commands out, whole replies in."""

    def __init__(self, port):
        self.sock = connect(port)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    @staticmethod
    def encode(*args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if not readable(self.sock, left):
            raise Failure(f"no reply within the wait; have {self.buf[:200]!r}")
        try:
            d = self.sock.recv(1 << 20)
        except ConnectionError:
            d = b""
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def _end(self, pos, deadline):
        """The position after one whole reply at pos."""
        while True:
            i = self.buf.find(b"\r\n", pos)
            if i >= 0:
                break
            self._fill(deadline)
        t, head, after = self.buf[pos:pos + 1], self.buf[pos + 1:i], i + 2
        if t in b"+-:":
            return after
        if t == b"$":
            n = int(head)
            if n < 0:
                return after
            while len(self.buf) < after + n + 2:
                self._fill(deadline)
            return after + n + 2
        if t == b"*":
            for _ in range(max(0, int(head))):
                while len(self.buf) <= after:
                    self._fill(deadline)
                after = self._end(after, deadline)
            return after
        raise Failure(f"not a RESP2 reply: {self.buf[pos:pos + 80]!r}")

    def reply(self, timeout=None):
        deadline = time.monotonic() + (timeout or wait_s(20))
        while not self.buf:
            self._fill(deadline)
        end = self._end(0, deadline)
        r, self.buf = self.buf[:end], self.buf[end:]
        return r

    def call(self, *args):
        self.send(self.encode(*args))
        return self.reply()

    def read_to_eof(self, timeout=None):
        """Everything until the server closes (Failure if it does not)."""
        deadline = time.monotonic() + (timeout or wait_s(20))
        while True:
            try:
                self._fill(deadline)
            except EOFError:
                return self.buf

    def close(self):
        self.sock.close()


def resp_ping(port, token="alive"):
    """A fresh client's PING is answered: the server serves."""
    c = Resp(port)
    r = c.call("PING", token)
    c.close()
    check(r == b"$%d\r\n%s\r\n" % (len(token), token.encode()), f"PING answered {r!r}")


def console_call(port, line, sock=None):
    """Run one console command (text mode) and return its reply's lines (up to ".")."""
    s = sock or connect(port)
    s.sendall(line.encode() + b"\n")
    buf = b""
    deadline = time.monotonic() + wait_s(20)
    while not (buf.endswith(b"\n.\n") or buf == b".\n"):
        left = deadline - time.monotonic()
        check(readable(s, left), f"console: no reply to {line!r}; have {buf[-200:]!r}")
        d = s.recv(65536)
        check(d, f"console closed before replying to {line!r}")
        buf += d
    if sock is None:
        s.close()
    return buf.decode("utf-8", "replace").split("\n")[:-2]


def http_get(port, path="/metrics"):
    """GET path from the metrics server; (status, body)."""
    s = connect(port)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    buf = b""
    deadline = time.monotonic() + wait_s(20)
    while True:
        left = deadline - time.monotonic()
        check(readable(s, left), f"metrics: no whole answer to GET {path}")
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d+)", head)
    check(m, f"metrics: not an HTTP answer: {buf[:100]!r}")
    return int(m.group(1)), body.decode("utf-8", "replace")


def metric(body, name, labels=""):
    """The value of one Prometheus sample whose labels contain `labels`."""
    for line in body.split("\n"):
        if line.startswith(name) and labels in line and not line.startswith("#"):
            return float(line.rsplit(" ", 1)[1])
    raise Failure(f"no {name}{{{labels}}} in /metrics")


def garbage(n, seed):
    return random.Random(seed).randbytes(n)


def drain(sock, seconds):
    """Read and drop what comes for up to `seconds` (or until EOF); returns (bytes, eof)."""
    deadline = time.monotonic() + seconds
    got, eof = 0, False
    while not eof:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if not readable(sock, left):
            break
        try:
            d = sock.recv(1 << 20)
        except ConnectionError:
            d = b""
        got += len(d)
        eof = not d
    return got, eof
