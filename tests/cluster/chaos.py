#!/usr/bin/env python3
"""The cluster under faults (driven by tests/cluster/chaos.sh, which makes the namespaces):
troupe-chat nodes in network namespaces, IRC clients in one channel on every node sending
numbered lines, and faults between the nodes; the nodes' own log lines tell when each side
saw the other go down and come up.

Each node runs in namespace PREFIXnI as nI, listening for peers on 10.77.0.I:7000 (seeded by
n1) and for IRC clients on 127.0.0.1:6667 of its namespace, where its clients connect: the
faults touch only the links between nodes. Every client sends "seq NICK N" lines to the
scenario's channel at a steady rate; every receiver checks each sender's numbers only grow
(a number seen twice is a duplicate, a smaller one unseen before is a reorder). Lines lost
while a link is down are allowed (delivery is at most once), but in a scenario in which no
link went down every line must arrive.

The faults: delay and loss through tests/cluster/netem.py (iptables NFQUEUE on each node's
traffic to the others: netem's model, for kernels built without sch_netem); partitions with
iptables DROP on INPUT (Jepsen's drop!), so no RST tells anyone: the heartbeat finds out.

Scenarios (3 nodes, then 5 for the ring):
  delay      50 ms +- 10 ms (normal) each way: no link may go down
  loss5      5% loss each way: no link may go down
  loss20     20% loss each way, correlated 75% (Jepsen's flaky): downs are reported
  partition  n3 cut from n1 and n2, then healed: each side sees the other down within 3 s of
             the cut, and up again within 5 s of the heal; n1-n2 stays up
  asym       n1's packets to n3 dropped (one direction only): both sides down within 3 s, up
             within 5 s of the heal
  ring       5 nodes, each reaching only its two neighbours (Jepsen's majorities ring): the
             cut links go down once each and stay down, the others stay up; every node
             serves; all up within 5 s of the heal
  churn      (the cluster soak) a node restarted every --every seconds while clients chat,
             alternately killed (SIGKILL) and stopped (SIGTERM); its clients reconnect
Everywhere: no duplicate or reordered line for any pair, no link up more often than it went
down (no reconnect storm), and at the end every link up and every client served.

usage: chaos.py --prefix P --bin PATH/troupe-chat (--short|--full) [--only a,b] [--json F]
                [--logs DIR] [--churn SECONDS --every SECONDS]"""

import argparse
import ctypes
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CLONE_NEWNET = 0x40000000
QUEUE = 7  # the NFQUEUE number netem.py serves
IRC_PORT, CLUSTER_PORT = 6667, 7000
DETECT_S, RECONNECT_S = 3.0, 5.0  # the bounds
HERE = os.path.dirname(os.path.abspath(__file__))
libc = ctypes.CDLL(None, use_errno=True)
_home_ns = os.open("/proc/self/ns/net", os.O_RDONLY)


class Failure(Exception):
    pass


class netns:
    """Run the calling thread in a namespace for a while: sockets made and processes started
    meanwhile belong to it."""

    def __init__(self, name):
        self.path = f"/run/netns/{name}"

    def __enter__(self):
        fd = os.open(self.path, os.O_RDONLY)
        try:
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns {self.path}")
        finally:
            os.close(fd)

    def __exit__(self, *exc):
        if libc.setns(_home_ns, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back")


def iptables(ns, *args):
    with netns(ns):
        subprocess.run(["iptables", "-w", *args], check=True)


class Run:
    def __init__(self, args):
        self.args = args
        self.t0 = time.monotonic()
        self.lock = threading.Lock()
        self.events = []  # (t, node, "up"|"down", peer, reason)
        self.logdir = args.logs or tempfile.mkdtemp(prefix="troupe-chaos-")
        os.makedirs(self.logdir, exist_ok=True)
        self.cookie = os.path.join(self.logdir, "cookie")
        with open(self.cookie, "w") as f:
            f.write("chaos-test-cookie-%016x\n" % random.getrandbits(64))
        os.chmod(self.cookie, 0o400)
        self.nodes = []
        self.clients = []
        self.netem = None
        self.results = []
        self.timers = []  # (due, fn), run by the pump

    def later(self, delay, fn):
        self.timers.append((time.monotonic() + delay, fn))

    def now(self):
        return time.monotonic() - self.t0

    def say(self, text):
        print(f"[{self.now():7.2f}] {text}", flush=True)

    # ---- nodes ----

    def start_nodes(self, n):
        self.nodes = [Node(self, i, n) for i in range(1, n + 1)]
        for node in self.nodes:
            node.start()
        self.wait_mesh(20, "the cluster to form")

    def stop_nodes(self):
        for c in self.clients:
            c.close()
        self.clients = []
        for node in self.nodes:
            node.stop(signal.SIGTERM)
        self.nodes = []

    def mesh_complete(self):
        names = {n.name for n in self.nodes}
        return all(n.alive() and n.up_peers() == names - {n.name} for n in self.nodes)

    def wait_mesh(self, seconds, what):
        deadline = time.monotonic() + seconds
        while not self.mesh_complete():
            if time.monotonic() > deadline:
                views = {n.name: sorted(n.up_peers()) for n in self.nodes}
                raise Failure(f"no full mesh after {seconds} s waiting for {what}: {views}")
            self.pump(0.05)
        return self.now()

    def events_between(self, a, b):
        with self.lock:
            return [e for e in self.events if a <= e[0] <= b]

    # ---- clients ----

    def connect_clients(self, per_node):
        for node in self.nodes:
            for k in range(per_node):
                c = Client(self, node, f"{node.name}u{k}")
                c.connect()
                self.clients.append(c)
        self.wait_clients(lambda c: c.registered, 20, "registration")

    def wait_clients(self, ok, seconds, what):
        deadline = time.monotonic() + seconds
        while not all(ok(c) for c in self.clients):
            if time.monotonic() > deadline:
                bad = [c.nick for c in self.clients if not ok(c)]
                raise Failure(f"{what}: not done after {seconds} s for {bad}")
            self.pump(0.05)

    def pump(self, seconds):
        """Serve every client (read, answer PINGs, check lines, send on schedule) for a
        while."""
        end = time.monotonic() + seconds
        while True:
            now = time.monotonic()
            socks = {c.sock: c for c in self.clients if c.sock}
            wait = max(0.0, min(end - now, 0.02))
            r = select.select(list(socks), [], [], wait)[0] if socks else time.sleep(wait)
            for s in r or ():
                socks[s].read()
            now = time.monotonic()
            due = [t for t in self.timers if t[0] <= now]
            self.timers = [t for t in self.timers if t[0] > now]
            for _, fn in due:
                fn()
            for c in self.clients:
                c.tick(now)
            if now >= end:
                return

    def join_all(self, chan):
        """Every client in chan, one room: retried on a fresh name while the groups settle
        (a node that has not heard of a room yet makes its own)."""
        nicks = {c.nick for c in self.clients}
        for attempt in range(6):
            name = chan if attempt == 0 else f"{chan}-{attempt}"
            for c in self.clients:
                c.join(name)
            self.wait_clients(lambda c: c.joined.get(name) and c.ends.get(name, 0) >= 1, 20,
                              f"JOIN {name}")
            for c in self.clients:
                c.names_ask(name)
            self.wait_clients(lambda c: c.ends.get(name, 0) >= 2, 20, f"NAMES {name}")
            if all(c.names == nicks for c in self.clients):
                return name
            for c in self.clients:
                c.part(name)
                c.ends.pop(name, None)
            self.pump(1.0)
        raise Failure(f"the clients never all met in one room of {chan}")

    # ---- faults ----

    def shape(self, nodes, delay, jitter, loss, corr):
        for n in nodes:
            self.netem_cmd(f"{n.ns} {delay} {jitter} {loss} {corr}")
            iptables(n.ns, "-A", "OUTPUT", "-d", "10.77.0.0/24", "-j", "NFQUEUE", "--queue-num",
                     str(QUEUE), "--queue-bypass")

    def unshape(self, nodes):
        for n in nodes:
            iptables(n.ns, "-F", "OUTPUT")
            self.netem_cmd(f"{n.ns} 0 0 0 0")

    def netem_cmd(self, line):
        if not self.netem:
            self.netem = subprocess.Popen(
                [sys.executable, os.path.join(HERE, "netem.py"), str(QUEUE),
                 *(f"{self.args.prefix}n{i}" for i in range(1, 6))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if self.netem.stdout.readline().strip() != "ready":
                raise Failure("netem.py did not start")
        self.netem.stdin.write(line + "\n")
        self.netem.stdin.flush()

    def netem_stats(self):
        if not self.netem:
            return {}
        self.netem.stdin.write("stats\n")
        self.netem.stdin.flush()
        return json.loads(self.netem.stdout.readline())

    def cut(self, pairs):
        """Drop what each (receiver, sender) pair's receiver gets from its sender. Returns
        the links cut, both ways (one direction lost ends the link for both sides), with
        when their first rule went in."""
        when = {}
        for rx, tx in pairs:
            iptables(rx.ns, "-A", "INPUT", "-s", tx.addr, "-j", "DROP")
            t = self.now()
            when.setdefault((rx.name, tx.name), t)
            when.setdefault((tx.name, rx.name), t)
        return when

    def heal(self, nodes):
        """Remove the cuts; returns when the healing began and when each node's rules went."""
        began, when = self.now(), {}
        for n in nodes:
            iptables(n.ns, "-F", "INPUT")
            when[n.name] = self.now()
        return began, when

    def close(self):
        for c in self.clients:
            c.close()
        for node in self.nodes:
            node.stop(signal.SIGTERM)
        if self.netem:
            self.netem.stdin.close()
            self.netem.wait(10)


class Node:
    def __init__(self, run, i, total):
        self.run, self.i = run, i
        self.name, self.ns, self.addr = f"n{i}", f"{run.args.prefix}n{i}", f"10.77.0.{i}"
        self.proc = None
        self.peers = {}  # peer -> up?
        self.starts = 0
        self.log = open(os.path.join(run.logdir, f"{self.name}.log"), "a")

    def start(self):
        args = [self.run.args.bin, "--port", str(IRC_PORT), "--bind", "127.0.0.1", "--workers",
                "1", "--node", self.name, "--cluster", f"{self.addr}:{CLUSTER_PORT}",
                "--cookie-file", self.run.cookie]
        if self.i != 1:
            args += ["--seeds", f"10.77.0.1:{CLUSTER_PORT}"]
        env = dict(os.environ, TROUPE_LOG="info")
        self.peers = {}
        self.starts += 1
        with self.run.lock:
            self.run.events.append((self.run.now(), self.name, "start", "", ""))
        self.log.write(f"---- start {self.starts} at {self.run.now():.3f}\n")
        with netns(self.ns):
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         env=env, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise Failure(f"{self.name} did not start: {line!r}")
        self.reader = threading.Thread(target=self.read_log, args=(self.proc,), daemon=True)
        self.reader.start()

    def read_log(self, proc):
        up = re.compile(r"cluster: (\S+) is up \(")
        down = re.compile(r"cluster: (\S+) is down: (\S+) \(")
        for line in proc.stderr:
            t = self.run.now()
            self.log.write(f"{t:9.3f} {line}")
            m = up.search(line)
            if m:
                with self.run.lock:
                    self.peers[m.group(1)] = True
                    self.run.events.append((t, self.name, "up", m.group(1), ""))
                continue
            m = down.search(line)
            if m:
                with self.run.lock:
                    self.peers[m.group(1)] = False
                    self.run.events.append((t, self.name, "down", m.group(1), m.group(2)))
        self.log.flush()

    def up_peers(self):
        with self.run.lock:
            return {p for p, up in self.peers.items() if up}

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.reader.join(10)  # its last lines are read before anything starts again
        self.proc = None
        return rc


class Pair:
    __slots__ = ("last", "seen", "dups", "reorders", "bad")

    def __init__(self):
        self.last, self.seen, self.dups, self.reorders = -1, set(), 0, 0
        self.bad = []  # (number, "dup"|"reorder")


class Client:
    """An IRC client in its node's namespace; reads with the run's pump."""

    def __init__(self, run, node, nick):
        self.run, self.node, self.nick = run, node, nick
        self.sock = None
        self.seq = 0
        self.rate = 0.0  # lines a second to the current channel
        self.chan = None
        self.next_send = 0.0
        self.sent = 0  # to the current channel
        self.pairs = {}  # sender -> Pair, for the current channel
        self.last_rx = 0.0  # when a line of the current channel last came
        self.joined, self.names, self.ends = {}, set(), {}  # ends: 366s by channel
        self.registered = False
        self.tail = []

    def connect(self):
        with netns(self.node.ns):
            self.sock = socket.create_connection(("127.0.0.1", IRC_PORT), timeout=10)
        self.buf = b""
        self.registered = False
        self.joined = {}
        self.send(f"NICK {self.nick}", f"USER {self.nick} 0 * :chaos")

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def send(self, *lines):
        if not self.sock:
            return
        try:
            self.sock.sendall("".join(l + "\r\n" for l in lines).encode())
        except OSError:
            self.close()

    def join(self, chan):
        self.send(f"JOIN {chan}")

    def part(self, chan):
        self.joined.pop(chan, None)
        self.send(f"PART {chan} :next")

    def names_ask(self, chan):
        """NAMES; done when the channel's second 366 came (the first ends the JOIN's)."""
        self.names = set()
        self.send(f"NAMES {chan}")

    def talk(self, chan, rate):
        """Send to chan at rate lines a second from now on (0: stop); counters start anew."""
        if chan != self.chan:
            self.pairs, self.sent = {}, 0
        self.chan, self.rate = chan, rate
        self.next_send = time.monotonic() + random.random() / rate if rate else 0.0

    def tick(self, now):
        if self.rate and self.sock and self.registered and self.joined.get(self.chan):
            while now >= self.next_send:
                self.send(f"PRIVMSG {self.chan} :seq {self.nick} {self.seq}")
                self.seq += 1
                self.sent += 1
                self.next_send += 1.0 / self.rate

    def read(self):
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        self.buf += data
        while b"\n" in self.buf:
            raw, self.buf = self.buf.split(b"\n", 1)
            self.line(raw.rstrip(b"\r").decode("utf-8", "replace"))

    def line(self, line):
        self.tail = (self.tail + [line])[-20:]
        if line.startswith("PING "):
            self.send("PONG " + line[5:])
            return
        parts = line.split(" ", 3)
        if len(parts) < 2:
            return
        cmd = parts[1]
        if cmd == "PRIVMSG" and len(parts) == 4 and parts[2] == self.chan:
            words = parts[3].lstrip(":").split()
            if len(words) == 3 and words[0] == "seq":
                self.got(words[1], int(words[2]))
        elif cmd in ("376", "422"):
            self.registered = True
        elif cmd == "433":  # the nick is still held (an old session not gone yet): again
            self.run.later(0.5, lambda: self.send(f"NICK {self.nick}"))
        elif cmd == "366" and len(parts) == 4:
            chan = parts[3].split()[0]
            self.ends[chan] = self.ends.get(chan, 0) + 1
        elif cmd == "353" and len(parts) == 4:
            self.names |= {n.lstrip("@+") for n in parts[3].split(":", 1)[-1].split()}
        elif cmd == "JOIN" and parts[0][1:].split("!")[0] == self.nick:
            self.joined[parts[2].lstrip(":")] = True
        elif cmd == "PART" and parts[0][1:].split("!")[0] == self.nick:
            chan = parts[2]
            self.joined.pop(chan, None)
            if chan == self.chan and "*.net *.split" not in line and self.rate:
                # The room's node stopped in order: it is gone for good, join it anew.
                self.run.later(0.2, lambda: self.join(chan))

    def got(self, sender, n):
        self.last_rx = time.monotonic()
        p = self.pairs.get(sender)
        if p is None:
            p = self.pairs[sender] = Pair()
        if n in p.seen:
            p.dups += 1
            p.bad.append((n, "dup"))
        elif n < p.last:
            p.reorders += 1
            p.bad.append((n, "reorder"))
        p.seen.add(n)
        p.last = max(p.last, n)


# ---- scenarios ----

def directed_links(nodes):
    return [(a.name, b.name) for a in nodes for b in nodes if a is not b]


def summarize(run, name, chan, t_start, t_end, cut=None, healed=None, expect_all=False,
              downs_allowed=False, extra=None, lines=None, events_end=None):
    """cut: the links cut, with when; healed: (when the healing began, {link: when its last
    rule went}); lines: {sender: (first, end)}, the numbers of the lines that count (one
    cycle of several on one channel), else all of the channel's; events_end: how far the
    nodes' downs and ups count (t_end when not given)."""
    """The figures of one scenario, and its verdict by the issue's bounds."""
    names = [n.name for n in run.nodes]
    evs = run.events_between(t_start, t_end if events_end is None else events_end)
    downs = {l: [e for e in evs if e[2] == "down" and (e[1], e[3]) == l]
             for l in directed_links(run.nodes)}
    ups = {l: [e for e in evs if e[2] == "up" and (e[1], e[3]) == l]
           for l in directed_links(run.nodes)}
    cut_links = set(cut or {})
    false_downs = sum(len(d) for l, d in downs.items() if l not in cut_links)
    problems = []
    res = {"scenario": name, "nodes": len(names), "channel": chan,
           "seconds": round(t_end - t_start, 1), "false_downs": false_downs,
           "downs": sum(len(d) for d in downs.values()),
           "ups": sum(len(u) for u in ups.values()),
           "down_reasons": sorted({e[4] for d in downs.values() for e in d})}
    # Reconnect storms: a link comes up only after it went down (or its node started), at
    # most once for each.
    starts = {n: sum(1 for e in evs if e[2] == "start" and e[1] == n) for n in names}
    for l in ups:
        if len(ups[l]) > len(downs[l]) + starts[l[0]]:
            problems.append(f"{l[0]} saw {l[1]} up {len(ups[l])} times after "
                            f"{len(downs[l])} downs (a reconnect storm)")
    if cut:
        detect, reconnect = {}, {}
        for l, t_cut in cut.items():
            first = [e[0] for e in downs[l] if e[0] >= t_cut]
            if not first:
                problems.append(f"{l[0]} never saw {l[1]} go down")
                continue
            detect[l] = first[0] - t_cut
            if len(downs[l]) > 1:
                problems.append(f"{l[0]} saw {l[1]} go down {len(downs[l])} times")
            began, healed_at = healed
            back = [e[0] for e in ups[l] if e[0] < began and e[0] > first[0]]
            if back:
                problems.append(f"{l[0]} saw {l[1]} up while they were cut off")
            after = [e[0] for e in ups[l] if e[0] >= began]
            if not after:
                problems.append(f"{l[0]} never saw {l[1]} up again")
                continue
            # From when the link's last rule went (it cannot connect before); the log line
            # is read a moment after the kernel took the rule out, hence the floor at 0.
            reconnect[l] = max(0.0, after[0] - healed_at[l])
        res["detect_s"] = {f"{a}<-{b}": round(v, 3) for (a, b), v in sorted(detect.items())}
        res["reconnect_s"] = {f"{a}<-{b}": round(v, 3) for (a, b), v in
                              sorted(reconnect.items())}
        if detect and max(detect.values()) > DETECT_S:
            problems.append(f"detection took {max(detect.values()):.3f} s (bound {DETECT_S} s)")
        if reconnect and max(reconnect.values()) > RECONNECT_S:
            problems.append(f"reconnect took {max(reconnect.values()):.3f} s "
                            f"(bound {RECONNECT_S} s)")
    if false_downs and not downs_allowed:
        problems.append(f"{false_downs} false node-downs: " + "; ".join(
            f"{e[1]} saw {e[3]} down ({e[4]}) at {e[0]:.2f}" for l, d in downs.items()
            if l not in cut_links for e in d))
    if lines is None:
        sent = sum(c.sent for c in run.clients)
        inside = lambda s, n: True  # noqa: E731
    else:
        sent = sum(e - f for f, e in lines.values())
        inside = lambda s, n: s in lines and lines[s][0] <= n < lines[s][1]  # noqa: E731
    got = sum(1 for c in run.clients for s, p in c.pairs.items() for n in p.seen if inside(s, n))
    expected = sent * (len(run.clients) - 1)
    bad = {(c.nick, s): [k for n, k in p.bad if inside(s, n)] for c in run.clients
           for s, p in c.pairs.items()}
    dups = sum(k.count("dup") for k in bad.values())
    reorders = sum(k.count("reorder") for k in bad.values())
    res.update(sent=sent, delivered=got, expected=expected, lost=expected - got,
               duplicates=dups, reorders=reorders)
    if dups or reorders:
        problems.append("duplicates or reorders: " + ", ".join(
            f"{r}<-{s}: {k.count('dup')} dup {k.count('reorder')} reorder"
            for (r, s), k in bad.items() if k))
    if expect_all and res["downs"] == 0 and got != expected:
        problems.append(f"{expected - got} of {expected} lines lost though no link went down")
    if extra:
        res.update(extra)
    res["problems"] = problems
    res["pass"] = not problems
    run.results.append(res)
    line = (f"{name}: {res['seconds']} s, {len(names)} nodes: {sent} lines sent, {got} of "
            f"{expected} deliveries ({expected - got} lost), {dups} duplicates, "
            f"{reorders} reorders; downs {res['downs']}"
            + ("" if downs_allowed else f" (false {false_downs})") + f", ups {res['ups']}")
    if cut and res.get("detect_s"):
        line += (f"; detection max {max(res['detect_s'].values()):.3f} s, reconnect max "
                 f"{max(res['reconnect_s'].values(), default=float('nan')):.3f} s")
    run.say(line)
    for p in problems:
        run.say(f"  FAIL {name}: {p}")
    return res


def drain(run, expect_all, seconds=15):
    """Stop sending; let what is under way arrive (all of it when nothing was cut)."""
    for c in run.clients:
        c.rate = 0
    deadline = time.monotonic() + seconds
    expected = sum(c.sent for c in run.clients) * (len(run.clients) - 1)
    while time.monotonic() < deadline:
        run.pump(0.2)
        got = sum(len(p.seen) for c in run.clients for p in c.pairs.values())
        quiet = all(time.monotonic() - c.last_rx > 2.0 for c in run.clients)
        if got >= expected or (not expect_all and quiet):
            break


def begin(run, name, rate):
    chan = run.join_all(f"#{name}")
    for c in run.clients:
        c.talk(chan, rate)
    return chan


def end(run, chan):
    for c in run.clients:
        c.talk(None, 0)
        c.part(chan)
    run.pump(0.3)


def shaped(run, name, hold, delay=0, jitter=0, loss=0, corr=0, rate=5.0):
    chan = begin(run, name, rate)
    run.pump(1.0)
    t0 = run.now()
    run.shape(run.nodes, delay, jitter, loss, corr)
    before = run.netem_stats()
    run.pump(hold)
    stats = run.netem_stats()
    run.unshape(run.nodes)
    t1 = run.now()
    if name == "loss20":  # links that went down come back before the counts are taken
        run.wait_mesh(30, "the links after 20% loss")
    run.pump(1.0)
    downs = any(e[2] == "down" for e in run.events_between(t0, run.now()))
    drain(run, expect_all=not downs)
    mine = [n.ns for n in run.nodes]
    pk = sum(stats[ns]["packets"] - before[ns]["packets"] for ns in mine)
    dr = sum(stats[ns]["dropped"] - before[ns]["dropped"] for ns in mine)
    extra = {"packets_shaped": pk, "packets_dropped": dr,
             "loss_applied_pct": round(100 * dr / pk, 2) if pk else 0.0}
    if delay:  # the mean hold since netem started (it shapes nothing else)
        extra["mean_delay_ms"] = round(sum(stats[ns]["mean_delay_ms"] for ns in mine)
                                       / len(mine), 1)
    # Downs and ups count until the lines are counted: a link that the loss took down may be
    # found down by its heartbeat only after the shaping ended (detection takes up to some
    # 2.5 s), and what was sent over it meanwhile is lost to that down, not to a bug.
    res = summarize(run, name, chan, t0, t1 + 0.5, expect_all=True,
                    downs_allowed=name == "loss20", extra=extra, events_end=run.now())
    end(run, chan)
    run.wait_mesh(30, f"the links after {name}")
    return res


def cutting(run, name, cycles, hold, healed_for, pairs_of, rate=5.0):
    """cycles of (cut for hold seconds, heal, wait until meshed, healed_for seconds)."""
    chan = begin(run, name, rate)
    run.pump(1.0)
    done = []  # what each cycle's figures are taken from, once all of it has arrived
    for k in range(cycles):
        t0 = run.now()
        first = {c.nick: c.seq for c in run.clients}
        pairs = pairs_of(run.nodes)
        cut = run.cut(pairs)
        t_cut = min(cut.values())
        run.pump(hold)
        if name == "ring":
            # Every node serves: each client hears at least one other during the cut.
            for c in run.clients:
                c.ring_mark = sum(len(p.seen) for p in c.pairs.values())
            run.pump(2.0)
            deaf = [c.nick for c in run.clients
                    if sum(len(p.seen) for p in c.pairs.values()) == c.ring_mark]
        began, flushed = run.heal(list(dict.fromkeys(rx for rx, _ in pairs)))
        healed_at = {l: max(flushed[rx.name] for rx, tx in pairs if {rx.name, tx.name} == set(l))
                     for l in cut}
        healed = (began, healed_at)
        run.wait_mesh(30, f"the links after {name}")
        run.pump(healed_for)
        extra = {"cut_s": round(began - t_cut, 1), "cycle": k + 1}
        lines = {c.nick: (first[c.nick], c.seq) for c in run.clients}
        done.append((k, t0 - 0.01, run.now(), cut, healed, extra, lines,
                     deaf if name == "ring" else []))
    drain(run, expect_all=False)
    results = []
    for k, t0, t1, cut, healed, extra, lines, deaf in done:
        r = summarize(run, name if cycles == 1 else f"{name}#{k + 1}", chan, t0, t1, cut=cut,
                      healed=healed, extra=extra, lines=lines)
        if deaf:
            r["problems"].append(f"clients that heard no one during the ring: {deaf}")
            r["pass"] = False
            run.say(f"  FAIL ring: clients heard no one: {deaf}")
        results.append(r)
    end(run, chan)
    return results


def partition_pairs(nodes):
    n3 = nodes[2]
    return [(a, b) for a in nodes for b in nodes if a is not b and n3 in (a, b)]


def asym_pairs(nodes):
    return [(nodes[2], nodes[0])]  # n3 gets nothing from n1; n1 still hears n3


def ring_pairs(nodes):
    k = len(nodes)
    return [(nodes[i], nodes[j]) for i in range(k) for j in range(k)
            if (j - i) % k not in (0, 1, k - 1)]


def churn(run, seconds, every, rate=5.0):
    """The cluster soak: one node restarted every `every` seconds, in turn, killed or stopped
    in order; its clients reconnect and join again; at the end a quiet round in which every
    line must reach everyone."""
    chan = begin(run, "soak", rate)
    t_start = run.now()
    restarts = 0
    worst_mesh = 0.0
    for k in range(1, int(seconds / every + 1e-9) + 1):
        run.pump(max(0.0, t_start + k * every - run.now()))
        node = run.nodes[k % len(run.nodes)]  # n2, n3, n1, n2, ...
        sig = signal.SIGKILL if restarts % 2 == 0 else signal.SIGTERM
        mine = [c for c in run.clients if c.node is node]
        rc = node.stop(sig)
        for c in mine:
            c.close()
        if sig == signal.SIGTERM and rc != 0:
            raise Failure(f"{node.name} exited with {rc} on SIGTERM")
        t_stop = run.now()
        node.start()
        t_mesh = run.wait_mesh(30, f"{node.name} back")
        worst_mesh = max(worst_mesh, t_mesh - t_stop)
        run.pump(1.0)  # its groups arrive: its clients then find the channel's room
        for c in mine:
            c.connect()
        run.wait_clients(lambda c: c.registered, 20, "registration after a restart")
        for c in mine:
            c.join(chan)
        restarts += 1
        run.say(f"churn: {node.name} restarted ({signal.Signals(sig).name}), cluster whole "
                f"again {t_mesh - t_stop:.2f} s after it went")
    run.pump(2.0)
    drain(run, expect_all=False)
    res = summarize(run, "churn", chan, t_start, run.now(), downs_allowed=True, extra={
        "restarts": restarts, "worst_rejoin_s": round(worst_mesh, 3)})
    # Everyone back: every link up, every client in one room, and a round that reaches all.
    end(run, chan)
    final = begin(run, "final", rate)
    run.pump(3.0)
    drain(run, expect_all=True)
    fin = summarize(run, "churn-final", final, run.now() - 3, run.now(), expect_all=True)
    end(run, final)
    return [res, fin]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--bin", required=True)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--short", action="store_true")
    g.add_argument("--full", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--json")
    ap.add_argument("--logs")
    ap.add_argument("--churn", type=float, default=0)
    ap.add_argument("--every", type=float, default=30)
    ap.add_argument("--cut", type=float, help="seconds of each cut (partition, asym, ring)")
    ap.add_argument("--cycles", type=int, help="cuts per scenario (partition, asym, ring)")
    args = ap.parse_args()
    run = Run(args)
    full = args.full
    only = set(filter(None, args.only.split(",")))
    want = lambda s: not only or s in only  # noqa: E731
    run.say(f"logs in {run.logdir}")
    ok = False
    try:
        if args.churn:
            run.start_nodes(3)
            run.connect_clients(2)
            churn(run, args.churn, args.every)
        else:
            hold = 300 if full else 6
            cycles, cut_s, healed_s = (5, 30, 28) if full else (1, 12, 2)
            ring_s = asym_s = 30 if full else 6
            if args.cut:
                cut_s = ring_s = asym_s = args.cut
            cycles = args.cycles or cycles
            if any(want(s) for s in ("delay", "loss5", "loss20", "partition", "asym")):
                run.start_nodes(3)
                run.connect_clients(2)
                if want("delay"):
                    shaped(run, "delay", hold, delay=50, jitter=10)
                if want("loss5"):
                    shaped(run, "loss5", hold, loss=5)
                if want("loss20"):
                    shaped(run, "loss20", hold, loss=20, corr=75)
                if want("partition"):
                    cutting(run, "partition", cycles, cut_s, healed_s, partition_pairs)
                if want("asym"):
                    cutting(run, "asym", cycles, asym_s, healed_s, asym_pairs)
                run.stop_nodes()
            if want("ring"):
                run.start_nodes(5)
                run.connect_clients(2)
                cutting(run, "ring", cycles, ring_s, healed_s, ring_pairs)
        ok = all(r["pass"] for r in run.results) and bool(run.results)
    except Failure as e:
        run.say(f"FAIL: {e}")
    finally:
        run.close()
        if args.json:
            with open(args.json, "w") as f:
                json.dump(run.results, f, indent=1)
    run.say(("chaos: all scenarios passed" if ok else "chaos: FAILED") +
            f" ({len(run.results)} results; logs in {run.logdir})")
    if ok and not args.logs:
        shutil.rmtree(run.logdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
