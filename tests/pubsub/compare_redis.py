#!/usr/bin/env python3
"""The same RESP conversations against redis-server and troupe-pubsub must give the same bytes.

    compare_redis.py TROUPE_PUBSUB_BINARY

Starts a redis-server (Debian's, the reference) and a troupe-pubsub on free loopback ports,
and runs every conversation below against each, on fresh connections: each step sends one
command (or raw bytes) on one of the conversation's connections and reads a given number of
complete replies from it (RESP2 and RESP3 are parsed, so a read never depends on timing).
The raw bytes of every reply must be equal, after the normalizations a conversation names
for what differs by design between two servers (a client id, the server's version). Where
troupe-pubsub answers as Redis 7.2 does and the reference (7.0) does not know the command yet,
the conversation states Redis 7.2's reply instead. Exit status 0 only when every conversation
matched; every mismatch is printed with both sides' bytes.
"""
import os
import re
import socket
import subprocess
import sys
import time

WAIT_S = 10.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_listening(port, proc):
    end = time.time() + WAIT_S
    while time.time() < end:
        if proc.poll() is not None:
            raise SystemExit("server exited at start (port %d)" % port)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not listen on %d" % port)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def _line(self, pos):
        while True:
            i = self.buf.find(b"\r\n", pos)
            if i >= 0:
                return i
            self._fill()

    def _skip(self, pos):
        """The position after one complete reply starting at pos."""
        while len(self.buf) <= pos:
            self._fill()
        t = self.buf[pos:pos + 1]
        e = self._line(pos)
        head = self.buf[pos + 1:e]
        after = e + 2
        if t in b"+-:_,#(":
            return after
        if t in b"$=!":
            n = int(head)
            if n < 0:
                return after
            while len(self.buf) < after + n + 2:
                self._fill()
            return after + n + 2
        if t in b"*~>%|":
            n = int(head)
            if n < 0:
                return after
            if t in b"%|":
                n *= 2
            for _ in range(n):
                after = self._skip(after)
            if t == b"|":  # an attribute is followed by the reply it annotates
                after = self._skip(after)
            return after
        raise ValueError("not RESP: %r" % self.buf[pos:pos + 40])

    def reply(self):
        end = self._skip(0)
        r, self.buf = self.buf[:end], self.buf[end:]
        return r

    def eof(self):
        """Read to the end of the connection (after QUIT or a protocol error)."""
        try:
            while True:
                self._fill()
        except (EOFError, ConnectionResetError):
            pass
        rest, self.buf = self.buf, b""
        return rest


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def run(port, steps):
    conns = {}
    got = []
    for step in steps:
        who, what, n = step
        if who not in conns:
            conns[who] = Conn(port)
        c = conns[who]
        if what is not None:
            c.send(what if isinstance(what, bytes) else cmd(*what.split(" ")))
        if n == "eof":
            got.append(c.eof())
        else:
            for _ in range(n):
                got.append(c.reply())
    for c in conns.values():
        c.s.close()
    return got


def S(who, text, n=1):
    """A step: send `text` (split on blanks; or raw bytes) on connection `who`, read n replies."""
    return (who, text, n)


# What differs between two servers by design, per conversation.
def norm_hello(b):
    b = re.sub(rb"\$7\r\nversion\r\n\$\d+\r\n[0-9.]+\r\n", b"$7\r\nversion\r\nV\r\n", b)
    return re.sub(rb"\$2\r\nid\r\n:\d+\r\n", b"$2\r\nid\r\n:ID\r\n", b)


def norm_id(b):
    return re.sub(rb"^:\d+\r\n$", b":ID\r\n", b)


CONVERSATIONS = [
    ("ping and echo", [S("a", "PING"), S("a", "PING hello"), S("a", "ECHO hi"), S("a", "ECHO"),
                       S("a", "PING a b"), S("a", "ping"), S("a", "PiNg x")], None),
    ("unknown commands and arguments", [
        S("a", "FOO"), S("a", "FOO a b c"), S("a", "NOSUCH " + "x" * 200),
        S("a", b"*3\r\n$3\r\nfoo\r\n$4\r\na\r\nb\r\n$1\r\nc\r\n"),
        S("a", "PUBLISH a"), S("a", "SUBSCRIBE"), S("a", "PSUBSCRIBE"), S("a", "SSUBSCRIBE"),
        S("a", "SPUBLISH x"), S("a", "SELECT"), S("a", "PUBSUB"), S("a", "CLIENT"),
        S("a", "CLIENT FOO"), S("a", "PUBSUB FOO"), S("a", "COMMAND FOO"),
        S("a", "CLIENT SETNAME"), S("a", "CLIENT GETNAME x"), S("a", "PUBSUB NUMPAT x")], None),
    ("select and auth without a password", [
        S("a", "SELECT 3"), S("a", "SELECT 15"), S("a", "SELECT 16"), S("a", "SELECT -1"),
        S("a", "SELECT x"), S("a", "SELECT 1.5"), S("a", "AUTH x"), S("a", "AUTH a b"),
        S("a", "AUTH default x"), S("a", "AUTH a b c")], None),
    ("hello and resp3", [
        S("a", "HELLO"), S("a", "HELLO 3"), S("a", "PING"), S("a", "CLIENT GETNAME"),
        S("a", "HELLO 4"), S("a", "HELLO x"), S("a", "HELLO 3 SETNAME"),
        S("a", "HELLO 3 SETNAME bad\x01name"), S("a", "HELLO 3 FOO"),
        S("a", "HELLO 3 AUTH default x SETNAME me"), S("a", "CLIENT GETNAME"),
        S("a", "HELLO 2"), S("a", "CLIENT GETNAME"), S("a", "HELLO 3 AUTH nobody x")],
     norm_hello),
    ("client names", [
        S("a", "CLIENT GETNAME"), S("a", "CLIENT SETNAME foo"), S("a", "CLIENT GETNAME"),
        S("a", "CLIENT SETNAME has\x7fdel"), S("a", "CLIENT SETNAME"),
        S("a", b"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$5\r\na b c\r\n"),
        S("a", "CLIENT GETNAME"), S("a", "CLIENT NO-EVICT on"), S("a", "CLIENT NO-EVICT off"),
        S("a", "CLIENT NO-EVICT x"), S("a", "CLIENT REPLY ON")], None),
    ("client id", [S("a", "CLIENT ID")], norm_id),
    ("subscribe, publish, unsubscribe (RESP2)", [
        S("s", "SUBSCRIBE a b"), S("p", "PUBLISH a x"), S("s", None), S("p", "PUBLISH b y"),
        S("s", None), S("p", "PUBLISH nobody z"), S("s", "PING"), S("s", "PING hi"),
        S("s", "ECHO no"), S("s", "SUBSCRIBE a"), S("s", "UNSUBSCRIBE a"),
        S("s", "UNSUBSCRIBE nothere"), S("p", "PUBLISH a gone"), S("p", "PUBLISH b stays"),
        S("s", None), S("s", "UNSUBSCRIBE b"), S("s", "UNSUBSCRIBE"), S("s", "PING"),
        S("s", "PSUBSCRIBE"), S("s", "PUNSUBSCRIBE"), S("s", "SUNSUBSCRIBE")], None),
    # (Which of two patterns that match one channel comes first is Redis's dict order, which
    # nothing promises: each publish here matches at most one pattern of a subscriber.)
    ("patterns and channels: message then pmessage", [
        S("s", "SUBSCRIBE news.uk"), S("s", "PSUBSCRIBE news.* w?ather.[uv]k", 2),
        S("p", "PUBLISH news.uk hello"), S("s", None, 2), S("p", "PUBLISH news.fr bonjour"),
        S("s", None), S("p", "PUBLISH weather.uk rain"), S("s", None),
        S("p", "PUBSUB NUMPAT"), S("s", "PUNSUBSCRIBE news.*"),
        S("p", "PUBLISH news.uk again"), S("s", None), S("s", "PUNSUBSCRIBE w?ather.[uv]k"),
        S("s", "UNSUBSCRIBE news.uk"), S("p", "PUBSUB NUMPAT")], None),
    ("glob patterns as Redis matches them", [
        S("s", r"PSUBSCRIBE h\*llo [^a]x [a-c]y z[ ab*"),
        S("p", "PUBLISH h*llo 1"), S("s", None), S("p", "PUBLISH hello 2"),
        S("p", "PUBLISH bx 3"), S("s", None), S("p", "PUBLISH ax 4"), S("p", "PUBLISH by 5"),
        S("s", None), S("p", "PUBLISH z 6"), S("p", "PUBLISH zab 7"), S("s", None),
        S("p", "PUBLISH z[ 8"), S("s", None)], None),
    ("shard channels", [
        S("s", "SSUBSCRIBE s1 s2", 2), S("s", "SUBSCRIBE c1"), S("p", "SPUBLISH s1 x"),
        S("s", None), S("p", "PUBLISH s1 notshard"), S("p", "SPUBLISH c1 notchannel"),
        S("p", "PUBSUB SHARDCHANNELS *1"), S("p", "PUBSUB SHARDCHANNELS s2"),
        S("p", "PUBSUB SHARDNUMSUB s1 s2 s3"), S("s", "SUNSUBSCRIBE s1"),
        S("s", "UNSUBSCRIBE c1"), S("s", "SUNSUBSCRIBE s2"), S("s", "SUNSUBSCRIBE")], None),
    ("pubsub introspection", [
        S("a", "SUBSCRIBE x1"), S("b", "SUBSCRIBE x1 x2", 2), S("c", "PSUBSCRIBE x*"),
        S("p", "PUBSUB CHANNELS x2"), S("p", "PUBSUB CHANNELS *1"), S("p", "PUBSUB NUMSUB x1 x2 x3"), S("p", "PUBSUB NUMSUB"),
        S("p", "PUBSUB NUMPAT"), S("p", "PUBSUB CHANNELS x2 extra"), S("p", "PUBSUB HELP"),
        S("p", "PUBLISH x1 m"), S("a", None), S("b", None), S("c", None)], None),
    ("resp3 subscriptions and pushes", [
        S("s", "HELLO 3"), S("s", "SUBSCRIBE a"), S("s", "PSUBSCRIBE a*"),
        S("p", "PUBLISH a one"), S("s", None, 2), S("p", "PUBLISH ab two"), S("s", None), S("s", "PING"), S("s", "ECHO allowed"),
        S("s", "PUBLISH a self", 3), S("s", "CLIENT GETNAME"),
        S("s", "UNSUBSCRIBE"), S("s", "PUNSUBSCRIBE"), S("s", "UNSUBSCRIBE"),
        S("s", "PUBSUB NUMSUB a"), S("s", "COMMAND INFO nosuch ping")], norm_hello),
    ("command introspection", [
        S("a", "COMMAND INFO publish subscribe ping client|setname nosuch"),
        S("a", "COMMAND INFO PUBLISH"), S("a", "COMMAND DOCS publish echo nosuch"),
        # (not a container's own entry: Redis lists subcommands in an order seeded at random
        # when it starts)
        S("a", "COMMAND DOCS pubsub|numsub"), S("a", "COMMAND INFO pubsub|numpat"),
        S("a", "HELLO 3"), S("a", "COMMAND INFO unsubscribe"), S("a", "COMMAND DOCS hello")],
     norm_hello),
    ("inline commands", [
        S("a", b"PING\r\n"), S("a", b"ECHO \"a\\x41\\n\" 'it\\'s'\r\n", 1),
        S("a", b"   \r\nPING x\r\n"), S("a", b"SUBSCRIBE a  \"b c\"\t'd'\n", 3),
        S("a", b"PING\r\n")], None),
    ("pipelining", [
        S("a", cmd("SUBSCRIBE", "q") + cmd("PING") + cmd("PUBLISH", "q", "x") +
          cmd("UNSUBSCRIBE", "q") + cmd("PUBLISH", "q", "y") + cmd("PING"), 5)], None),
    ("reset", [
        S("a", "HELLO 3"), S("a", "CLIENT SETNAME me"), S("a", "SUBSCRIBE a"),
        S("a", "PSUBSCRIBE b*"), S("a", "RESET"), S("a", "CLIENT GETNAME"), S("a", "PING"),
        S("b", "PUBSUB NUMSUB a"), S("b", "PUBSUB NUMPAT")], norm_hello),
    ("quit closes after replying", [S("a", cmd("PING") + cmd("QUIT") + cmd("PING"), "eof")],
     None),
    ("a protocol error is answered, then the connection closes", [
        S("a", b"*1\r\n$-5\r\n", "eof")], None),
    ("protocol errors of every kind", [S("a", b"*x\r\n", "eof")], None),
    ("an unbalanced quote", [S("a", b"ECHO \"open\r\n", "eof")], None),
    ("a bad bulk header", [S("a", b"*1\r\n+OK\r\n", "eof")], None),
]

# Conversations with a password set (both servers started with --requirepass).
AUTH_CONVERSATIONS = [
    ("noauth before auth", [
        S("a", "PING"), S("a", "SUBSCRIBE a"), S("a", "AUTH wrong"), S("a", "AUTH secret"),
        S("a", "PING"), S("b", "HELLO 3"), S("b", "HELLO 3 AUTH default wrong"),
        S("b", "HELLO 3 AUTH default secret"), S("b", "PING"), S("c", "AUTH default secret"),
        S("c", "RESET"), S("c", "PING"), S("d", "QUIT", "eof")], norm_hello),
]

# Redis 7.2's replies to what the 7.0 reference does not know yet (checked on troupe alone).
REDIS72 = [
    ("client setinfo and no-touch (Redis 7.2)", [
        S("a", "CLIENT SETINFO LIB-NAME mylib"), S("a", "CLIENT SETINFO LIB-VER 1.2.3"),
        S("a", "CLIENT SETINFO LIB-NAME bad\x01"), S("a", "CLIENT SETINFO FOO x"),
        S("a", "CLIENT NO-TOUCH on"), S("a", "CLIENT NO-TOUCH off")],
     [b"+OK\r\n", b"+OK\r\n",
      b"-ERR lib-name cannot contain spaces, newlines or special characters.\r\n",
      b"-ERR Unrecognized option 'FOO'\r\n", b"+OK\r\n", b"+OK\r\n"]),
]


def start(argv, port):
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port, p)
    return p


def main():
    troupe_bin = sys.argv[1]
    failures = 0

    def servers(extra_redis, extra_troupe):
        rp, tp = free_port(), free_port()
        r = start(["redis-server", "--port", str(rp), "--save", "", "--appendonly", "no",
                   "--bind", "127.0.0.1"] + extra_redis, rp)
        t = start([troupe_bin, "--port", str(tp)] + extra_troupe, tp)
        return (r, rp), (t, tp)

    def compare(convs, rp, tp):
        nonlocal failures
        for name, steps, norm in convs:
            try:
                want = run(rp, steps)
            except (OSError, EOFError, ValueError) as e:
                failures += 1
                print("BROKEN CONVERSATION (redis-server): %s: %r" % (name, e))
                continue
            try:
                got = run(tp, steps)
            except (OSError, EOFError, ValueError) as e:
                failures += 1
                print("MISMATCH: %s: troupe-pubsub: %r (redis-server gave %r)" % (name, e, want))
                continue
            if norm:
                want, got = [norm(x) for x in want], [norm(x) for x in got]
            if want != got:
                failures += 1
                print("MISMATCH: %s" % name)
                for i, (w, g) in enumerate(zip(want, got)):
                    if w != g:
                        print("  reply %d\n    redis:  %r\n    troupe: %r" % (i, w, g))
                if len(want) != len(got):
                    print("  %d replies from redis, %d from troupe" % (len(want), len(got)))
            else:
                print("ok: %s (%d replies)" % (name, len(want)))

    (r, rp), (t, tp) = servers([], [])
    try:
        compare(CONVERSATIONS, rp, tp)
        for name, steps, want in REDIS72:
            got = run(tp, steps)
            if got != want:
                failures += 1
                print("MISMATCH (Redis 7.2's replies): %s\n  want %r\n  got  %r" % (name, want, got))
            else:
                print("ok: %s" % name)
    finally:
        r.terminate(), t.terminate()
        r.wait(), t.wait()
    (r, rp), (t, tp) = servers(["--requirepass", "secret"], ["--requirepass", "secret"])
    try:
        compare(AUTH_CONVERSATIONS, rp, tp)
    finally:
        r.terminate(), t.terminate()
        r.wait(), t.wait()
    if t.returncode != 0:
        print("troupe-pubsub exited %d after SIGTERM (want 0)" % t.returncode)
        failures += 1
    print("%d conversation(s) differ" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
