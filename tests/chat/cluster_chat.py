#!/usr/bin/env python3
"""troupe-chat as a cluster: three nodes (n2 and n3 seeded by n1), a user on each. They see
each other as on one server: JOIN, NAMES, PRIVMSG to the channel and to a nick, TOPIC, NICK,
PART; each sender's lines in order at every receiver; a nick taken on one node is taken on
all (433). Then n3 is killed: its user leaves the channel on the others with
"QUIT :*.net *.split", and a channel whose room was on n3 lives on: its members on n1 and
n2 are shown leaving it with the netsplit reason, join it again on a live node, and talk
there. Last, two nodes that were apart and each gave "dave" away meet: the
one on the node with the smaller name is renamed, and told with a NICK message.

usage: cluster_chat.py PATH/TO/troupe-chat
"""
import os, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from irclib import Client, Failure, Server, chat_home, free_port  # noqa: E402

NODES = ["n1", "n2", "n3"]
LINES = 200


def home(key):
    """The node a new channel's room goes to."""
    return chat_home(key, NODES)


def main():
    binary = sys.argv[1]
    fd, cookie = tempfile.mkstemp(prefix="troupe-cookie-")
    os.write(fd, b"cluster-chat-test-cookie-0123456789")
    os.close(fd)
    servers = []
    try:
        c1 = free_port()
        args = ["--cookie-file", cookie]
        servers.append(Server(binary, "--node", "n1", "--cluster", f"127.0.0.1:{c1}", *args))
        for n in NODES[1:]:
            servers.append(Server(binary, "--node", n, "--cluster", f"127.0.0.1:{free_port()}",
                                  "--seeds", f"127.0.0.1:{c1}", *args))
        users = ["alice", "bob", "carol"]
        clients = []
        for i, u in enumerate(users):
            c = Client(servers[i].port, u)
            c.register(u)
            clients.append(c)
        alice, bob, carol = clients

        # Until every node knows every nick: a nick of another node is refused (433).
        for i, s in enumerate(servers):
            probe = Client(s.port, f"probe{i}")
            probe.register(f"probe{i}")
            for j, u in enumerate(users):
                if j == i:
                    continue
                deadline = time.monotonic() + 10
                while True:
                    start = len(probe.lines)
                    probe.send(f"NICK {u}")
                    k = probe.wait_for(r" (433|NICK) ", start)
                    if " 433 " in probe.lines[k]:
                        break
                    probe.send(f"NICK probe{i}")  # it got the nick: not known yet
                    probe.wait_for(r" NICK ", k + 1)
                    if time.monotonic() > deadline:
                        raise Failure(f"node {NODES[i]} never learned of {u}")
                    time.sleep(0.1)
            probe.send("QUIT :probe done")
            probe.close()
        print("ok: nicks are unique across the three nodes")

        # A channel whose room is not on n3 (n3 dies below; its room would go with it).
        chan = next(f"#talk{k}" for k in range(100) if home(f"#talk{k}") != "n3")
        for c in clients:
            start = len(c.lines)
            c.send(f"JOIN {chan}")
            c.wait_for(rf" 366 \S+ {chan} ", start)
        for c in clients:
            c.barrier("joined")
        for c in clients:  # everyone sees everyone
            start = len(c.lines)
            c.send(f"NAMES {chan}")
            i = c.wait_for(rf" 353 .*{chan} :", start)
            names = set(n.lstrip("@") for n in c.lines[i].split(":", 2)[2].split())
            if names != set(users):
                raise Failure(f"{c.label}: NAMES {names}, want {set(users)}")
        print(f"ok: {chan} (room on {home(chan)}) lists all three from every node")
        # And one whose room is on n3, to outlive it.
        lost = next(f"#lost{k}" for k in range(100) if home(f"#lost{k}") == "n3")
        for c in clients:
            start = len(c.lines)
            c.send(f"JOIN {lost}")
            c.wait_for(rf" 366 \S+ {lost} ", start)
        for c in clients:  # LIST asks every node: both channels, wherever their rooms are
            start = len(c.lines)
            c.send("LIST")
            end = c.wait_for(r" 323 ", start)
            listed = {l.split()[3]: l.split()[4] for l in c.lines[start:end] if " 322 " in l}
            if listed != {chan: "3", lost: "3"}:
                raise Failure(f"{c.label}: LIST shows {listed}, want {chan} and {lost} with 3 each")
        print(f"ok: LIST on every node shows {chan} (on {home(chan)}) and {lost} (on n3)")

        # Each sender's lines, in order, at every other member.
        for k in range(LINES):
            for c in clients:
                c.send(f"PRIVMSG {chan} :{c.label} {k}")
        for c in clients:
            got = {u: 0 for u in users if u != c.label}
            for u in got:
                for k in range(LINES):
                    c.wait_for(rf"^:{u}!\S+ PRIVMSG {chan} :{u} {k}$")
        for c in clients:
            seen = {}
            for line in c.lines:
                if f" PRIVMSG {chan} :" in line:
                    who, num = line.split(" :", 1)[1].split()
                    if int(num) != seen.get(who, 0):
                        raise Failure(f"{c.label}: {who}'s line {num} out of order")
                    seen[who] = int(num) + 1
        print(f"ok: {3 * LINES} lines, each sender's in order at every member")

        # A private message and a topic across nodes; a nick change seen everywhere.
        start = len(carol.lines)
        alice.send("PRIVMSG carol :psst")
        carol.wait_for(r"^:alice!\S+ PRIVMSG carol :psst$", start)
        start = len(carol.lines)
        alice.send(f"TOPIC {chan} :from n1")  # alice joined first: the channel's operator
        carol.wait_for(rf" TOPIC {chan} :from n1$", start)
        start = len(alice.lines)
        bob.send("NICK bobby")
        alice.wait_for(r"^:bob!\S+ NICK :?bobby$", start)
        print("ok: private message, topic and nick change across nodes")

        # n3 dies: carol leaves the channel on the others as a netsplit.
        servers[2].proc.kill()
        servers[2].proc.wait()
        for c in (alice, bob):
            c.wait_for(rf"^:carol!\S+ QUIT :\*\.net \*\.split$")
        print("ok: n3 killed, carol quits with *.net *.split on n1 and n2")
        for c, nick in ((alice, "alice"), (bob, "bobby")):
            i = c.wait_for(rf"^:{nick}!\S+ PART {lost} :\*\.net \*\.split$")
            c.wait_for(rf"^:{nick}!\S+ JOIN :?{lost}$", i + 1)
            c.wait_for(rf" 366 \S+ {lost} ", i + 1)
        start = len(bob.lines)
        bob.send(f"NAMES {lost}")
        i = bob.wait_for(rf" 353 .*{lost} :", start)
        names = set(n.lstrip("@") for n in bob.lines[i].split(":", 2)[2].split())
        if names != {"alice", "bobby"}:
            raise Failure(f"{lost} after n3 died: NAMES {names}, want alice and bobby")
        start = len(bob.lines)
        alice.send(f"PRIVMSG {lost} :still here")
        bob.wait_for(rf"^:alice!\S+ PRIVMSG {lost} :still here$", start)
        print(f"ok: {lost} (room on n3) lives on: alice and bobby joined it again and talk")
        for c in (alice, bob):
            c.send("QUIT :bye")

        # Two nodes apart, each giving "dave" away, then brought together by a third that
        # knows both: the user on the node with the smaller name is renamed, told by NICK.
        cp1, cp2 = free_port(), free_port()
        p1 = Server(binary, "--node", "p1", "--cluster", f"127.0.0.1:{cp1}", *args)
        servers.append(p1)
        p2 = Server(binary, "--node", "p2", "--cluster", f"127.0.0.1:{cp2}", *args)
        servers.append(p2)
        d1, d2 = Client(p1.port, "dave@p1"), Client(p2.port, "dave@p2")
        d1.register("dave")
        d2.register("dave")
        servers.append(Server(binary, "--node", "p3", "--cluster", f"127.0.0.1:{free_port()}",
                              "--seeds", f"127.0.0.1:{cp1},127.0.0.1:{cp2}", *args))
        i = d1.wait_for(r"^:dave!\S+ NICK :?dave-1$")
        print(f"ok: after the partition healed, p1's dave was renamed: {d1.lines[i]}")
        d2.barrier("kept")
        if any(" NICK " in l for l in d2.lines):
            raise Failure("p2's dave was renamed too")
        start = len(d2.lines)
        d2.send("ISON dave dave-1")
        i = d2.wait_for(r" 303 ", start)
        if set(d2.lines[i].split(":", 2)[-1].split()) != {"dave", "dave-1"}:
            raise Failure(f"p2 sees {d2.lines[i]!r}, want both dave and dave-1")

        # A node stopped in order (SIGTERM): its rooms go with it, their channels live on.
        moved = next(f"#moved{k}" for k in range(100) if chat_home(f"#moved{k}", ["p1", "p2", "p3"]) == "p3")
        for c in (d1, d2):
            start = len(c.lines)
            c.send(f"JOIN {moved}")
            c.wait_for(rf" 366 \S+ {moved} ", start)
        starts = [len(d1.lines), len(d2.lines)]
        if servers[-1].stop() != 0:
            raise Failure("p3 did not stop in order")
        for c, nick, start in ((d1, "dave-1", starts[0]), (d2, "dave", starts[1])):
            i = c.wait_for(rf"^:{nick}!\S+ PART {moved} :\*\.net \*\.split$", start)
            c.wait_for(rf" 366 \S+ {moved} ", i + 1)
        start = len(d2.lines)
        d1.send(f"PRIVMSG {moved} :after p3")
        d2.wait_for(rf"^:dave-1!\S+ PRIVMSG {moved} :after p3$", start)
        print(f"ok: p3 stopped in order; {moved}, whose room was there, lives on for p1 and p2")
    finally:
        rcs = [s.stop() for s in servers]
        os.unlink(cookie)
    if any(rc != 0 for k, rc in enumerate(rcs) if k != 2):  # n3 was killed
        raise Failure(f"nodes exited with {rcs}")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("FAIL:", e)
        sys.exit(1)
