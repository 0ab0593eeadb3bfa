#!/usr/bin/env python3
"""troupe-chat's --metrics server (include/troupe/metrics.h), from outside:

- GET /metrics of a lone server and of a 2-node cluster is valid Prometheus text as
  promtool (Debian's prometheus) checks it: any error or lint warning it prints fails;
- every family named in FAMILIES (and on a cluster, CLUSTER_FAMILIES, with a series per
  peer) has its HELP and TYPE lines before its samples, and every sample the node label;
- counters move under the chat load (troupe-chat-load): messages handled, the chat
  listener's accepted connections and received bytes, and on the cluster the link's bytes;
- hostile HTTP gets its clean answer (400, 431, 414, 405 with Allow, 413, 505, 404, 403), a
  pipelined pair its two answers in order, HEAD a head without a body, a connection that
  sends nothing before its EOF is closed with no answer, and after each the server still
  answers GET /metrics.

usage: metrics_prom.py TROUPE_CHAT TROUPE_CHAT_LOAD PROMTOOL

One line per check ("ok: ..." or "FAIL: ..."), then "N passed, N failed"; exit 0 only when
none failed. Waits are bounded (irclib.WAIT_S) against a hang; nothing asserts a time.
"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "chat"))
from irclib import WAIT_S, Failure, Server, free_port  # noqa: E402

FAMILIES = {
    "troupe_build_info": "gauge",
    "troupe_uptime_seconds": "gauge",
    "troupe_actors": "gauge",
    "troupe_actors_spawned_total": "counter",
    "troupe_actors_exited_total": "counter",
    "troupe_messages_handled_total": "counter",
    "troupe_messages_sent_total": "counter",
    "troupe_dead_letters_total": "counter",
    "troupe_memory_bytes": "gauge",
    "troupe_mailbox_messages": "gauge",
    "troupe_mailbox_depth_max": "gauge",
    "troupe_mailbox_depth": "gauge",
    "troupe_actors_muted": "gauge",
    "troupe_worker_turns_total": "counter",
    "troupe_worker_steals_total": "counter",
    "troupe_worker_parks_total": "counter",
    "troupe_worker_busy_seconds_total": "counter",
    "troupe_scheduler_injected_total": "counter",
    "troupe_timers_pending": "gauge",
    "troupe_listener_connections": "gauge",
    "troupe_listener_accepted_total": "counter",
    "troupe_listener_refused_total": "counter",
    "troupe_listener_received_bytes_total": "counter",
    "troupe_listener_sent_bytes_total": "counter",
    "troupe_listener_slow_dropped_total": "counter",
}
CLUSTER_FAMILIES = {
    "troupe_cluster_refused_auth_total": "counter",
    "troupe_cluster_link_up": "gauge",
    "troupe_cluster_link_rtt_seconds": "gauge",
    "troupe_cluster_link_received_bytes_total": "counter",
    "troupe_cluster_link_sent_bytes_total": "counter",
    "troupe_cluster_link_received_frames_total": "counter",
    "troupe_cluster_link_sent_frames_total": "counter",
    "troupe_cluster_link_queue_bytes": "gauge",
    "troupe_cluster_link_muted": "gauge",
    "troupe_cluster_link_dropped_total": "counter",
    "troupe_cluster_link_reconnects_total": "counter",
}
# Families that may have no sample (no mailbox holds a message at that moment).
MAY_BE_EMPTY = {"troupe_mailbox_depth"}
LOAD_CLIENTS, LOAD_LINES = 8, 50

passed, failed = 0, 0


def ok(what):
    global passed
    passed += 1
    print("ok:", what, flush=True)


def fail(what):
    global failed
    failed += 1
    print("FAIL:", what, flush=True)


def check(cond, what, detail=""):
    if cond:
        ok(what)
    else:
        fail(what + (": " + detail if detail else ""))
    return cond


# ---- HTTP ----

def get(port, path):
    """(status, headers, body) of one GET on a connection of its own."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT_S)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


class Raw:
    """One connection for bytes the way no well-behaved client sends them, and answers read
    by their Content-Length (the server keeps some connections open after an answer)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        self.buf = b""
        self.eof = False

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking it all: read what it said

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            raise Failure(f"no answer within {WAIT_S} s; got {self.buf[:200]!r}")
        if not data:
            self.eof = True
        self.buf += data

    def response(self, head_only=False):
        """(status, headers, body) of the next answer, or None at EOF before one."""
        while b"\r\n\r\n" not in self.buf:
            if self.eof:
                if self.buf:
                    raise Failure(f"a cut answer: {self.buf[:200]!r}")
                return None
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0])
        if not m:
            raise Failure(f"not a status line: {lines[0]!r}")
        headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = 0 if head_only else int(headers.get("content-length", "0"))
        while len(self.buf) < n and not self.eof:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(m.group(1)), headers, body

    def closed(self):
        """True when the server closes the connection with nothing more sent."""
        while not self.eof:
            self._fill()
        return self.buf == b""

    def close(self):
        self.sock.close()


# ---- the exposition ----

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse(text):
    """{family: {"help", "type", "samples": [(labels, value)]}}; Failure on a line out of
    place (a sample before its family's HELP and TYPE)."""
    fams, seen_help = {}, {}
    for n, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        m = re.match(r"^# (HELP|TYPE) (\S+) (.*)$", line)
        if m:
            f = fams.setdefault(m.group(2), {"help": None, "type": None, "samples": []})
            f[m.group(1).lower()] = m.group(3)
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise Failure(f"line {n} is not a sample: {line!r}")
        name = m.group(1)
        f = fams.get(name)
        if not f or not f["help"] or not f["type"]:
            raise Failure(f"line {n}: a sample of {name} before its HELP and TYPE lines")
        labels = dict(LABEL.findall(m.group(2) or ""))
        f["samples"].append((labels, float(m.group(3))))
    return fams


def scrape(port):
    status, headers, body = get(port, "/metrics")
    if status != 200:
        raise Failure(f"GET /metrics: {status}")
    if not headers.get("content-type", "").startswith("text/plain; version=0.0.4"):
        raise Failure(f"GET /metrics: Content-Type {headers.get('content-type')!r}")
    return body.decode()


def value(fams, name, **labels):
    """The sum of the family's samples that have these labels."""
    return sum(v for l, v in fams.get(name, {}).get("samples", [])
               if all(l.get(k) == x for k, x in labels.items()))


def promtool_check(promtool, text, what):
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=WAIT_S)
    said = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and not said, f"promtool check metrics accepts {what}",
          f"exit {r.returncode}: {said}")


def check_families(fams, families, node, what):
    bad = []
    for name, kind in families.items():
        f = fams.get(name)
        if not f:
            bad.append(f"{name} missing")
        elif f["type"] != kind:
            bad.append(f"{name} is a {f['type']}, want {kind}")
        elif not f["samples"] and name not in MAY_BE_EMPTY:
            bad.append(f"{name} has no sample")
    check(not bad, f"{what}: {len(families)} families with HELP, TYPE and samples",
          "; ".join(bad))
    unlabelled = [n for n, f in fams.items() for l, _ in f["samples"] if l.get("node") != node]
    check(not unlabelled, f'{what}: every sample labelled node="{node}"',
          f"not so: {sorted(set(unlabelled))}")


def chat_listener(fams, port):
    """The listener label of troupe-chat's own (IRC) listener."""
    for l, _ in fams.get("troupe_listener_accepted_total", {}).get("samples", []):
        if l.get("behaviour") == "chat.session" and l.get("listener", "").endswith(f":{port}"):
            return l["listener"]
    raise Failure(f"no listener series of behaviour chat.session on port {port}")


def run_load(load, ports, room):
    args = [load, "--port", str(ports[0]), "--clients", str(LOAD_CLIENTS), "--lines",
            str(LOAD_LINES), "--room", room, "--timeout-s", str(int(WAIT_S))]
    if len(ports) > 1:
        args += ["--ports", ",".join(map(str, ports))]
    r = subprocess.run(args, capture_output=True, text=True, timeout=WAIT_S * 2)
    if r.returncode != 0:
        raise Failure(f"troupe-chat-load exited {r.returncode}: {r.stdout}{r.stderr}")
    return r.stdout.strip()


# ---- the cases ----

def lone(binary, load, promtool):
    s = Server(binary, metrics=True)
    try:
        text = scrape(s.metrics_port)
        promtool_check(promtool, text, "a lone server's /metrics")
        fams = parse(text)
        check_families(fams, FAMILIES, "", "lone server")
        check("troupe_cluster_link_up" not in fams, "lone server: no cluster link series")
        lis = chat_listener(fams, s.port)
        before = fams
        print("load:", run_load(load, [s.port], "#load"), flush=True)
        text = scrape(s.metrics_port)
        promtool_check(promtool, text, "/metrics after the load")
        after = parse(text)
        d = value(after, "troupe_messages_handled_total") - \
            value(before, "troupe_messages_handled_total")
        check(d >= LOAD_CLIENTS * LOAD_LINES, "the load moved troupe_messages_handled_total",
              f"by {d}, want at least {LOAD_CLIENTS * LOAD_LINES}")
        d = value(after, "troupe_listener_accepted_total", listener=lis) - \
            value(before, "troupe_listener_accepted_total", listener=lis)
        check(d == LOAD_CLIENTS, f"the chat listener ({lis}) accepted the load's clients",
              f"troupe_listener_accepted_total moved by {d}, want {LOAD_CLIENTS}")
        # Each of the load's lines is "PRIVMSG #load :L i seq time\r\n", over 20 bytes.
        d = value(after, "troupe_listener_received_bytes_total", listener=lis) - \
            value(before, "troupe_listener_received_bytes_total", listener=lis)
        check(d >= LOAD_CLIENTS * LOAD_LINES * 20,
              "the load moved troupe_listener_received_bytes_total of the chat listener",
              f"by {d}, want at least {LOAD_CLIENTS * LOAD_LINES * 20}")
        hostile(s)
    finally:
        rc = s.stop()
    check(rc == 0, "the lone server exits 0 on SIGTERM", f"exit status {rc}")


def cluster(binary, load, promtool):
    fd, cookie = tempfile.mkstemp(prefix="troupe-cookie-")
    os.write(fd, b"metrics-prom-test-cookie-0123456789")
    os.close(fd)
    servers = []
    try:
        c1 = free_port()
        args = ["--cookie-file", cookie]
        servers.append(Server(binary, "--node", "n1", "--cluster", f"127.0.0.1:{c1}", *args,
                              metrics=True))
        servers.append(Server(binary, "--node", "n2", "--cluster", f"127.0.0.1:{free_port()}",
                              "--seeds", f"127.0.0.1:{c1}", *args, metrics=True))
        n1, n2 = servers
        deadline = time.monotonic() + WAIT_S
        while True:  # until the link is up on both sides
            texts = [scrape(s.metrics_port) for s in servers]
            fams = [parse(t) for t in texts]
            if all(value(f, "troupe_cluster_link_up", peer=p) == 1
                   for f, p in zip(fams, ["n2", "n1"])):
                break
            if time.monotonic() > deadline:
                raise Failure(f"the link n1-n2 did not come up: {texts[0]}")
            time.sleep(0.1)
        for (name, peer), text, f in zip([("n1", "n2"), ("n2", "n1")], texts, fams):
            promtool_check(promtool, text, f"node {name}'s /metrics")
            check_families(f, {**FAMILIES, **CLUSTER_FAMILIES}, name, f"node {name}")
            peers = {l.get("peer") for l, _ in f["troupe_cluster_link_up"]["samples"]}
            check(peers == {peer}, f"node {name}: cluster link series for peer {peer}",
                  f"peers {peers}")
            reasons = {l.get("reason") for l, _ in f["troupe_cluster_link_dropped_total"]
                       ["samples"]}
            check(reasons == {"down", "full", "unknown_tag"},
                  f"node {name}: link drops by reason", f"reasons {reasons}")
        before = fams[0]
        print("load:", run_load(load, [n1.port, n2.port], "#load"), flush=True)
        after = parse(scrape(n1.metrics_port))
        for fam in ("troupe_cluster_link_sent_bytes_total",
                    "troupe_cluster_link_received_bytes_total",
                    "troupe_cluster_link_sent_frames_total"):
            d = value(after, fam, peer="n2") - value(before, fam, peer="n2")
            # Half the load's lines go from one node to the other: over 20 bytes each.
            check(d >= LOAD_CLIENTS * LOAD_LINES * 20 // 2 if "bytes" in fam else d > 0,
                  f"the load across nodes moved n1's {fam}", f"by {d}")
    finally:
        rcs = [s.stop() for s in servers]
        os.unlink(cookie)
    check(all(rc == 0 for rc in rcs), "the nodes exit 0 on SIGTERM", f"exit statuses {rcs}")


# Each: a name, the bytes sent on a fresh connection, and a check of the answers.
def hostile(s):
    port = s.metrics_port
    host = b"Host: 127.0.0.1\r\n"

    def error_case(name, data, status, need=None):
        def run():
            r = Raw(port)
            try:
                r.send(data)
                a = r.response()
                if a is None:
                    return f"closed without an answer, want {status}"
                if a[0] != status:
                    return f"answered {a[0]}, want {status}: {a[2][:100]!r}"
                if need:
                    why = need(a)
                    if why:
                        return why
                if status not in (404, 405) and not r.closed():
                    return f"{status}: more came, or the connection stayed open: {r.buf[:100]!r}"
            finally:
                r.close()
            return None
        return name, run

    def pipelined():
        r = Raw(port)
        try:
            r.send(b"GET /metrics HTTP/1.1\r\n" + host + b"\r\n"
                   b"GET /api/console?cmd=stats HTTP/1.1\r\n" + host + b"\r\n")
            a, b = r.response(), r.response()
            if a is None or b is None:
                return f"closed after {0 if a is None else 1} answer(s)"
            if a[0] != 200 or not a[1].get("content-type", "").startswith("text/plain"):
                return f"first answer {a[0]} {a[1].get('content-type')}, want /metrics's 200"
            if b[0] != 200 or b[1].get("content-type") != "application/json":
                return f"second answer {b[0]} {b[1].get('content-type')}, want stats' 200"
            json.loads(b[2])
            r.send(b"GET /metrics HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
            c = r.response()
            if c is None or c[0] != 200 or not r.closed():
                return "a third request on the kept connection: no 200, or it was not closed"
        finally:
            r.close()
        return None

    def head():
        r = Raw(port)
        try:
            r.send(b"HEAD /metrics HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
            a = r.response(head_only=True)
            if a is None or a[0] != 200:
                return f"answered {a and a[0]}, want 200"
            if int(a[1].get("content-length", "0")) <= 0:
                return f"Content-Length {a[1].get('content-length')!r}, want that of the body"
            if not r.closed():
                return f"a body came after the head: {r.buf[:100]!r}"
        finally:
            r.close()
        return None

    def silent_eof():
        """A client that connects and half-closes without a byte (a browser's spare
        preconnect does): the server closes it too, with no answer. Before any data its
        input buffer is not allocated yet; the sanitizer build once stopped on that."""
        r = Raw(port)
        try:
            r.sock.shutdown(socket.SHUT_WR)
            if not r.closed():
                return f"answered or sent something: {r.buf[:100]!r}"
        finally:
            r.close()
        return None

    def stats_json(a):
        try:
            doc = json.loads(a[2])
        except ValueError as e:
            return f"not JSON ({e}): {a[2][:100]!r}"
        if a[1].get("content-type") != "application/json" or "actors" not in doc:
            return f"not the stats document: {a[1].get('content-type')} {doc}"
        return None

    allow = lambda a: None if "GET" in a[1].get("allow", "") else f"Allow: {a[1].get('allow')!r}"  # noqa: E731
    cases = [
        error_case("a malformed request line", b"HELLO THERE\r\n\r\n", 400),
        error_case("a head over 8 KiB", b"GET /metrics HTTP/1.1\r\n" + host + b"X-Pad: " +
                   b"a" * 9000 + b"\r\n\r\n", 431),
        error_case("a 3 KiB target", b"GET /" + b"t" * 3072 + b" HTTP/1.1\r\n" + host +
                   b"\r\n", 414),
        error_case("a POST", b"POST /metrics HTTP/1.1\r\n" + host + b"\r\n", 405, allow),
        error_case("a body (Content-Length: 5)", b"GET /metrics HTTP/1.1\r\n" + host +
                   b"Content-Length: 5\r\n\r\nhello", 413),
        error_case("HTTP/1.1 without Host", b"GET /metrics HTTP/1.1\r\n\r\n", 400),
        error_case("HTTP/2.0", b"GET /metrics HTTP/2.0\r\n" + host + b"\r\n", 505),
        error_case("binary garbage", bytes(range(256)) * 4, 400),
        error_case("binary garbage without a line end",
                   bytes(b for b in range(256) if b != 10) * 40, 431),
        error_case("another path", b"GET /etc/passwd HTTP/1.1\r\n" + host + b"\r\n", 404),
        ("a pipelined pair of GETs in one write", pipelined),
        ("HEAD /metrics", head),
        ("a connection closed without a byte sent", silent_eof),
        error_case("/api/console?cmd=kill%20x", b"GET /api/console?cmd=kill%20x HTTP/1.1\r\n" +
                   host + b"Connection: close\r\n\r\n", 403),
        error_case("/api/console?cmd=stats", b"GET /api/console?cmd=stats HTTP/1.1\r\n" +
                   host + b"Connection: close\r\n\r\n", 200, stats_json),
    ]
    for name, run in cases:
        try:
            why = run()
        except (Failure, OSError) as e:
            why = str(e)
        check(why is None, f"hostile HTTP: {name}", why or "")
        try:
            status, _, body = get(port, "/metrics")
            up = status == 200 and b"troupe_actors" in body
            why = f"GET /metrics answered {status}"
        except OSError as e:
            up, why = False, str(e)
        if s.proc.poll() is not None:
            up, why = False, f"the server exited with {s.proc.returncode}"
        check(up, f"after {name}: the server still answers GET /metrics", why)


def main():
    if len(sys.argv) != 4:
        print("usage: metrics_prom.py TROUPE_CHAT TROUPE_CHAT_LOAD PROMTOOL", file=sys.stderr)
        sys.exit(2)
    binary, load, promtool = sys.argv[1:]
    for case in (lone, cluster):
        try:
            case(binary, load, promtool)
        except (Failure, OSError, subprocess.SubprocessError) as e:
            fail(f"{case.__name__}: {e}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
