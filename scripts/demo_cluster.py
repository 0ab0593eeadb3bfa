#!/usr/bin/env python3
"""The cluster demo (scripts/demo.sh runs it): three troupe-chat nodes on loopback, each with
a debug console; IRC users on different nodes talk in one channel; the console of n1 shows
the cluster's links; one node is killed with SIGKILL and the others' users see its user
leave with the netsplit quit (the detection time is measured); the node is started again and
its user comes back. Every step is checked: the exit status is 0 only if all of them
happened. Everything started is stopped.

usage: demo_cluster.py BUILD_DIR
"""
import os, re, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "chat"))
from irclib import Client, Failure, chat_home, free_port  # noqa: E402

NODES = ["n1", "n2", "n3"]
CHAN = "#demo"


def say(text):
    print(text, flush=True)


def home(key):
    """The node a new channel's room goes to."""
    return chat_home(key, NODES)


class Node:
    def __init__(self, chat, name, cport, seeds, cookie, logdir):
        args = [chat, "--port", "0", "--node", name, "--cluster", f"127.0.0.1:{cport}",
                "--cookie-file", cookie, "--console", "127.0.0.1:0"]
        if seeds:
            args += ["--seeds", seeds]
        self.name = name
        self.err = open(os.path.join(logdir, f"{name}.log"), "a")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.console = None
        while True:  # stderr names the console's port before stdout names the chat's
            line = self.proc.stderr.readline()
            if not line:
                raise Failure(f"{name} did not start")
            self.err.write(line)
            m = re.search(r"console on port (\d+)", line)
            if m:
                self.console = int(m.group(1))
                break
        line = self.proc.stdout.readline()
        m = re.search(r":(\d+)\s*$", line)
        if not m:
            raise Failure(f"{name} did not start: {line!r}")
        self.port = int(m.group(1))
        # The rest of its log goes to the file.
        self.pump = subprocess.Popen(["cat"], stdin=self.proc.stderr, stdout=self.err)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.pump.wait()
        self.err.close()
        return rc


def main():
    build = sys.argv[1]
    chat = os.path.join(build, "examples", "chat", "troupe-chat")
    console = os.path.join(build, "tools", "troupe-console")
    logdir = tempfile.mkdtemp(prefix="troupe-demo-")
    cookie = os.path.join(logdir, "cookie")
    with open(cookie, "wb") as f:
        f.write(os.urandom(32).hex().encode())
    os.chmod(cookie, 0o400)
    cports = {n: free_port() for n in NODES}
    seed = f"127.0.0.1:{cports['n1']}"
    nodes = {}
    clients = []
    ok = False
    try:
        say(f"== three chat nodes on loopback (logs in {logdir})")
        for n in NODES:
            nodes[n] = Node(chat, n, cports[n], None if n == "n1" else seed, cookie, logdir)
            say(f"   {n}: IRC on port {nodes[n].port}, console on {nodes[n].console}, "
                f"cluster on {cports[n]}")
        # The victim: a node that is not the channel's home (its room would go with it).
        victim = "n3" if home(CHAN) != "n3" else "n2"
        users = {"n1": "alice", "n2": "bob", "n3": "carol"}
        conn = {}
        for n in NODES:
            c = Client(nodes[n].port, users[n])
            c.register(users[n])
            conn[users[n]] = c
            clients.append(c)

        # Until every node knows every user (the mesh is up and the nick groups synced).
        deadline = time.monotonic() + 15
        for n in NODES:
            for other in users.values():
                if other == users[n]:
                    continue
                c = conn[users[n]]
                while True:
                    start = len(c.lines)
                    c.send(f"ISON {other}")
                    i = c.wait_for(r" 303 ", start)
                    if other in c.lines[i].split(":", 2)[-1].split():
                        break
                    if time.monotonic() > deadline:
                        raise Failure(f"{n} never saw {other}")
                    time.sleep(0.1)
        say("== the mesh is up: every node sees every user (ISON)")

        for u, c in conn.items():
            start = len(c.lines)
            c.send(f"JOIN {CHAN}")
            c.wait_for(rf" 366 \S+ {CHAN} ", start)
        for c in clients:
            c.barrier("joined")
        say(f"== alice (n1), bob (n2) and carol (n3) joined {CHAN} (its room is on {home(CHAN)})")
        script = [("alice", "hi all, I am on n1"), ("bob", "hello from n2"),
                  ("carol", "and n3 here"), ("alice", "one channel, three servers")]
        for who, text in script:
            conn[who].send(f"PRIVMSG {CHAN} :{text}")
            for other, c in conn.items():
                if other != who:
                    c.wait_for(rf"^:{who}!\S+ PRIVMSG {CHAN} :{re.escape(text)}$")
        say("== the conversation, as bob's client on n2 received it:")
        for line in conn["bob"].lines:
            if f" PRIVMSG {CHAN} " in line or f" JOIN " in line:
                say("   " + line)

        out = subprocess.run([console, f"127.0.0.1:{nodes['n1'].console}", "-c", "nodes"],
                             capture_output=True, text=True, timeout=20)
        say("== troupe-console 127.0.0.1:%d -c nodes (n1's view of the cluster):" %
            nodes["n1"].console)
        for line in out.stdout.splitlines():
            say("   " + line)
        if out.returncode != 0 or "up" not in out.stdout:
            raise Failure("the console did not show the links")

        vuser = users[victim]
        watchers = [c for u, c in conn.items() if u != vuser]
        marks = [len(c.lines) for c in watchers]
        say(f"== kill -9 {victim} (where {vuser} is connected)")
        t0 = time.monotonic()
        nodes[victim].proc.kill()
        nodes[victim].proc.wait()
        for c, mark in zip(watchers, marks):
            i = c.wait_for(rf"^:{vuser}!\S+ QUIT :\*\.net \*\.split$", mark)
            say(f"   {c.label} saw after {1000 * (time.monotonic() - t0):.0f} ms: {c.lines[i]}")
        nodes[victim].stop()
        clients.remove(conn[vuser])

        say(f"== {victim} starts again; {vuser} reconnects and joins {CHAN}")
        nodes[victim] = Node(chat, victim, cports[victim], seed if victim != "n1" else None,
                             cookie, logdir)
        marks = [len(c.lines) for c in watchers]
        deadline = time.monotonic() + 15
        while True:  # until the new node is in the mesh: its user's nick is seen
            c = Client(nodes[victim].port, vuser)
            c.register(vuser)
            start = len(c.lines)
            c.send(f"ISON {' '.join(u for u in users.values() if u != vuser)}")
            i = c.wait_for(r" 303 ", start)
            if len(c.lines[i].split(":", 2)[-1].split()) == 2:
                break
            c.send("QUIT :retry")
            c.close()
            if time.monotonic() > deadline:
                raise Failure(f"{victim} did not rejoin the cluster")
            time.sleep(0.2)
        conn[vuser] = c
        clients.append(c)
        c.send(f"JOIN {CHAN}")
        for w, mark in zip(watchers, marks):
            i = w.wait_for(rf"^:{vuser}!\S+ JOIN :?{CHAN}$", mark)
            say(f"   {w.label} saw: {w.lines[i]}")
        ok = True
        say("== every step happened")
    except Failure as e:
        say(f"demo FAILED: {e}")
    finally:
        for c in clients:
            try:
                c.send("QUIT :demo over")
            except OSError:
                pass
        rcs = {n: node.stop() for n, node in nodes.items()}
        say(f"== stopped: {', '.join(f'{n} exit {rc}' for n, rc in rcs.items())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
