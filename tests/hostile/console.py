"""Hostile input on the debug console (issue 17), troupe-chat's (--console): four lines of
1 MB each, then 1 MB of binary garbage (random bytes, NULs and newlines among them), each on
a session whose replies are read as they come. Each 1 MB line gets one "line too long" error
(its bytes are skipped, never buffered: RSS stays within a few MB), the garbage gets its
errors, and both sessions still run the command that follows. Meanwhile and afterwards the
chat's users are served, a new console session answers, and the server exits 0 on
SIGTERM."""

import threading
import time

import hostile as h

HELP = b"commands (one per line"


class Session:
    """A console connection whose output a thread reads all the time."""

    def __init__(self, port):
        self.sock = h.connect(port)
        self.out = bytearray()
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        while True:
            try:
                d = self.sock.recv(1 << 16)
            except OSError:
                return
            if not d:
                return
            with self.lock:
                self.out += d

    def wait_for(self, marker, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if marker in self.out:
                    return True
            time.sleep(0.02)
        return False

    def text(self):
        with self.lock:
            return bytes(self.out)

    def close(self):
        self.sock.close()


def main():
    h.setup(__doc__)
    srv = h.Server(h.ARGS.chat, console=True)
    a, b, chan = h.chat_pair(srv.port, "con")
    before = srv.rss_kb()

    long = Session(srv.console_port)
    for i in range(4):
        long.sock.sendall(b"a" * (1 << 20) + b"\n")
        h.chat_message(a, b, chan, f"during line {i}")
    long.sock.sendall(b"help\n")
    h.check(long.wait_for(HELP, h.wait_s(20)), f"no help after the long lines: "
            f"{long.text()[-300:]!r}")
    errors = long.text().count(b"error: line too long")
    print(f"4 lines of 1 MB: {errors} 'line too long' errors, then help answered")
    h.check(errors == 4, f"{errors} 'line too long' errors for 4 long lines")
    h.check_rss(srv, "4 console lines of 1 MB", before, srv.rss_kb(), 8)

    junk = Session(srv.console_port)
    data = h.garbage(1 << 20, 17)
    for i in range(0, len(data), 1 << 16):
        junk.sock.sendall(data[i:i + (1 << 16)])
    junk.sock.sendall(b"\nhelp\n")
    h.check(junk.wait_for(HELP, h.wait_s(30)), f"no help after the garbage: "
            f"{junk.text()[-300:]!r}")
    newlines = data.count(b"\n")
    print(f"1 MB of garbage ({newlines} newlines): "
          f"{junk.text().count(b'error:')} error replies, then help answered")
    h.chat_message(a, b, chan, "after the garbage")
    h.check_rss(srv, "1 MB console lines and garbage", before, srv.rss_kb(), 16)

    lines = h.console_call(srv.console_port, "help")
    h.check(any(l.startswith("commands") for l in lines), f"a new session's help: {lines!r}")
    long.close()
    junk.close()
    a.close()
    b.close()
    srv.stop()


h.run(main)
