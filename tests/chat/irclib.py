"""What the chat tests written in Python share: starting troupe-chat (and ngIRCd, the
reference server), a raw IRC client over a socket, and turning IRC lines into something
two servers' replies can be compared by.

Every wait is bounded by WAIT_S, only to keep a broken build from hanging; nothing here
asserts anything about time."""

import os
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

WAIT_S = 20.0


class Failure(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """troupe-chat on a free port (--port 0; its one line names the port). With
    metrics=True it also serves --metrics on a free port, read from its stderr into
    metrics_port (the rest of its stderr is passed on)."""

    def __init__(self, binary, *args, metrics=False):
        if metrics:
            args = (*args, "--metrics", "127.0.0.1:0")
        self.proc = subprocess.Popen([binary, "--port", "0", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE if metrics else None, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r":(\d+)\s*$", line)
        if not m:
            self.proc.kill()
            raise Failure(f"troupe-chat did not start: {line!r}")
        self.port = int(m.group(1))
        self.metrics_port = None
        while metrics and self.metrics_port is None:  # printed before the line above
            err = self.proc.stderr.readline()
            if not err:
                self.proc.kill()
                raise Failure("troupe-chat did not say its metrics port")
            sys.stderr.write(err)
            m = re.search(r"metrics on port (\d+)$", err.strip())
            self.metrics_port = int(m.group(1)) if m else None
        if metrics:
            threading.Thread(target=lambda: sys.stderr.writelines(self.proc.stderr),
                             daemon=True).start()

    def stop(self):
        """SIGTERM; returns the exit status (0 expected)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


class Ngircd:
    """ngIRCd, the reference: a private configuration on a free port, without the command
    throttling (MaxPenaltyTime 0) that would make a test crawl, channels created +nt as
    troupe-chat's are."""

    NAME = "irc.test"

    def __init__(self, binary="ngircd"):
        self.dir = tempfile.mkdtemp(prefix="ngircd-")
        self.port = free_port()
        conf = os.path.join(self.dir, "ngircd.conf")
        with open(conf, "w") as f:
            f.write(f"""[Global]
Name = {self.NAME}
Info = reference
Listen = 127.0.0.1
Ports = {self.port}
MotdPhrase = hello
PidFile = {self.dir}/ngircd.pid
[Limits]
MaxNickLength = 30
MaxPenaltyTime = 0
PingTimeout = 120
PongTimeout = 20
MaxConnectionsIP = 0
[Options]
Ident = no
PAM = no
DNS = no
DefaultChannelModes = nt
[SSL]
""")
        self.proc = subprocess.Popen([binary, "-n", "-f", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise Failure("ngircd did not start")
                time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Client:
    """A raw IRC client: lines in and out, PINGs from the server answered while waiting."""

    def __init__(self, port, label=""):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        self.label = label
        self.buf = b""
        self.lines = []  # every line received, in order
        self.eof = False
        self.pongs = 0

    def send(self, *lines):
        self.sock.sendall("".join(l + "\r\n" for l in lines).encode())

    def send_raw(self, data):
        self.sock.sendall(data)

    def shut(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        self.sock.close()

    def _read(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or self.eof:
            return False
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return False
        data = self.sock.recv(65536)
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

    def wait_for(self, pattern, start=0):
        """Index of the first line from `start` on matching the regex; Failure after WAIT_S."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + WAIT_S
        i = start
        while True:
            while i < len(self.lines):
                if rx.search(self.lines[i]):
                    return i
                i += 1
            if self.eof or not self._read(deadline):
                raise Failure(f"{self.label}: no line matching {pattern!r}; got "
                              f"{self.lines[start:]!r}{' and EOF' if self.eof else ''}")

    def wait_eof(self):
        deadline = time.monotonic() + WAIT_S
        while not self.eof:
            if not self._read(deadline):
                raise Failure(f"{self.label}: no EOF; last lines {self.lines[-5:]!r}")

    def barrier(self, token):
        """PING the server and wait for the PONG: every reply to what was sent before it
        has arrived. The PONG is left out of `lines`."""
        self.send(f"PING :{token}")
        i = self.wait_for(rf"PONG .*{re.escape(token)}$", len(self.lines))
        del self.lines[i]

    def register(self, nick, user=None, real=None):
        start = len(self.lines)
        self.send(f"NICK {nick}", f"USER {user or nick} 0 * :{real or nick + ' R'}")
        self.wait_for(r" (376|422) ", start)  # the end of the MOTD ends registration


# ---- comparing replies ----

REGISTRATION = {"001", "002", "003", "004", "005", "042", "250", "251", "252", "253", "254",
                "255", "265", "266", "372", "375", "376", "422"}
# Numerics whose last parameter is data (a list, a topic, a message), not prose.
DATA_TRAILING = {"301", "302", "303", "311", "319", "322", "332", "352", "353"}
# What ngIRCd adds that troupe-chat does not have (its WHOIS host and modes lines).
EXTRA = {"378", "379"}


def parse(line):
    """(prefix, command, params, trailing?) of one IRC line."""
    prefix = None
    if line.startswith(":"):
        prefix, _, line = line[1:].partition(" ")
    trailing = None
    if " :" in line:
        line, _, trailing = line.partition(" :")
    elif line.startswith(":"):
        trailing, line = line[1:], ""
    words = line.split()
    return prefix, (words[0].upper() if words else ""), words[1:], trailing


def normalize(line, servers, names=None):
    """One line as a comparable tuple, or None for lines that differ between servers by
    nature (registration, server notices, ngIRCd extras). `servers`: names to write S;
    `names`: a dict of strings to replace (per-run nicks and channels)."""
    prefix, cmd, params, trailing = parse(line)
    if cmd in REGISTRATION or cmd in EXTRA or cmd == "NOTICE" and prefix in servers:
        return None
    if cmd == "ERROR":
        return ("ERROR",)
    if cmd == "QUIT" and trailing is not None:
        # A client's own reason: troupe-chat writes "Quit: reason", ngIRCd '"reason"'.
        trailing = re.sub(r"^Quit: ", "", trailing).strip('"')

    def fix(word):
        for a, b in (names or {}).items():
            word = re.sub(rf"(?<![\w#]){re.escape(a)}(?![\w-])", b, word)
        word = re.sub(r"!~", "!", word)  # ngIRCd marks users without ident with "~"
        word = re.sub(r"=([+-])~", r"=\1", word)
        return "S" if word in servers else word

    if prefix is not None:
        prefix = "S" if prefix in servers else fix(prefix)
    params = [fix(p) for p in params]
    if cmd.isdigit():
        if cmd in ("311", "352") and len(params) > 2:
            params[2] = params[2].lstrip("~")  # the user name
        if cmd in ("329", "317"):
            params = params[:2] + ["N"] * len(params[2:])
        if cmd == "333" and len(params) > 3:
            params[3] = "N"  # the time the topic was set
        if cmd == "324" and len(params) > 2:
            params[2] = "+" + "".join(sorted(params[2].lstrip("+")))
        if cmd in DATA_TRAILING and trailing is not None:
            words = [fix(w) for w in trailing.split(" ")]
            if cmd in ("353", "319", "303", "302"):
                words = sorted(words)
            trailing = " ".join(words)
        else:
            trailing = None
    elif trailing is not None:
        # Outside numerics a trailing parameter is a parameter like any other ("JOIN :#c" is
        # "JOIN #c"), and an empty one is none ("PART #c :" is "PART #c").
        if trailing or cmd == "TOPIC":
            params.append(fix(trailing))
        trailing = None
    return (prefix, cmd, tuple(params), trailing)


def normalized(lines, servers, names=None):
    out = [n for n in (normalize(l, servers, names) for l in lines) if n is not None]
    # Members are listed in an order of each server's own: compare WHO's lines as a set.
    i = 0
    while i < len(out):
        j = i
        while j < len(out) and len(out[j]) > 1 and out[j][1] == "352":
            j += 1
        out[i:j] = sorted(out[i:j])
        i = max(j, i + 1)
    return out


# ---- troupe-chat clusters ----

def _fnv(data, h):
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def chat_home(key, nodes):
    """The node of `nodes` that a new channel's room goes to: the rendezvous hashing of
    examples/chat/rooms.c (FNV-1a of node and key, mixed by splitmix64's finaliser)."""
    m = 0xFFFFFFFFFFFFFFFF

    def score(node):
        basis = 1469598103934665603
        h = _fnv(node.encode(), basis) ^ ((_fnv(key.encode(), basis) * 0x9E3779B97F4A7C15) & m)
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & m
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & m
        return h ^ (h >> 31)
    return max(nodes, key=score)
