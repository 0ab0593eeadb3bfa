"""troupe-chat against ngIRCd, the reference IRC server (issue 11): the same conversations,
sent to both, must get the same replies, compared line by line after normalization. What
the normalization leaves out is what differs between IRC servers by nature: the server's
name, the registration burst (001-005, LUSERS, MOTD), the prose of numerics (their last
parameter, unless it is data: names, a topic, a message), ngIRCd's extra WHOIS lines
(378, 379), timestamps (329, 333, 317), the order of names in NAMES and WHO, ngIRCd's "~"
for users without ident, and how a client's quit reason is marked (troupe-chat writes
"Quit: reason", so nobody can fake a server's "Ping timeout"; ngIRCd quotes it).

Each step sends one line from one client, then PINGs every client and waits for the PONGs,
so both servers are compared on what they answer to each step, not on how they interleave
the answers of different clients.

Known, deliberate differences (not compared): a line over 512 bytes gets 417 from
troupe-chat, which keeps the client, where ngIRCd closes the connection; NAMES and WHO
without a channel list nothing on troupe-chat (they would have to ask every session);
"#" alone is not a channel name on troupe-chat.

    python3 tests/chat/compare_ngircd.py build/examples/chat/troupe-chat [ngircd]
"""

import sys

from irclib import Client, Failure, Ngircd, Server, normalized

# Conversations: client nicks, then steps (client index, line).
CONVERSATIONS = {
    "channel basics": (["alice"], [
        (0, "JOIN #c"), (0, "NAMES #c"), (0, "TOPIC #c"), (0, "TOPIC #c :hello there"),
        (0, "TOPIC #c"), (0, "MODE #c"), (0, "MODE #c b"), (0, "MODE #c +b"), (0, "MODE #c e"),
        (0, "MODE #c I"), (0, "WHO #c"), (0, "JOIN #c"), (0, "PART #c :bye"),
        (0, "PART #c"), (0, "JOIN #d,#e"), (0, "NAMES #d,#e"), (0, "PART #e,#d"),
    ]),
    "two users talk": (["alice", "bob"], [
        (0, "JOIN #c"), (1, "JOIN #c"), (0, "PRIVMSG #c :hi bob"), (1, "PRIVMSG #c :hi alice"),
        (1, "NOTICE #c :a notice"), (0, "PRIVMSG bob :private"), (1, "NOTICE alice :psst"),
        (0, "NAMES #c"), (0, "WHO #c"), (1, "NICK bobby"), (0, "NAMES #c"),
        (0, "PRIVMSG bobby :new nick"), (1, "PART #c :later"), (0, "NAMES #c"),
    ]),
    "away, whois, userhost, ison": (["alice", "bob"], [
        (0, "JOIN #c"), (1, "JOIN #c"), (1, "AWAY :out for lunch"), (0, "PRIVMSG bob :hello?"),
        (0, "NOTICE bob :no away reply to a notice"), (0, "WHOIS bob"),
        (0, "USERHOST alice bob nobody"), (0, "ISON bob nobody alice"), (0, "WHO #c"),
        (0, "WHO bob"), (1, "AWAY"), (0, "USERHOST bob"), (0, "WHOIS nobody"),
        (0, "WHOIS"),
    ]),
    "operators": (["alice", "bob", "carol"], [
        (0, "JOIN #ops"), (1, "JOIN #ops"), (1, "KICK #ops alice :no"),
        (1, "MODE #ops +o bob"), (1, "TOPIC #ops :by bob"), (1, "MODE #ops -t"),
        (0, "MODE #ops +o bob"), (0, "NAMES #ops"), (1, "TOPIC #ops :by bob now"),
        (0, "MODE #ops -o bob"), (0, "MODE #ops -t"), (1, "TOPIC #ops :anyone may"),
        (0, "MODE #ops +t"), (0, "MODE #ops"), (0, "KICK #ops carol"),
        (0, "KICK #ops nobody"), (0, "KICK #nochan bob"), (2, "KICK #ops bob"),
        (0, "KICK #ops bob :out you go"), (0, "NAMES #ops"), (1, "PRIVMSG #ops :let me in"),
        (1, "JOIN #ops"), (0, "MODE #ops +o-o bob bob"), (0, "MODE #ops +x"),
    ]),
    "errors": (["alice", "bob"], [
        (0, "PRIVMSG nobody :x"), (0, "PRIVMSG #nochan :x"), (0, "NAMES #nochan"),
        (0, "TOPIC #nochan"), (0, "PART #nochan"), (0, "MODE #nochan"), (1, "JOIN #b"),
        (0, "PART #b"), (0, "TOPIC #b :not in it"), (0, "PRIVMSG #b :not in it"), (0, "JOIN"),
        (0, "FROBNICATE"), (0, "PRIVMSG"), (0, "PRIVMSG bob"), (0, "KICK #b"), (0, "ISON"),
        (0, "USERHOST"), (0, "JOIN nochan"), (0, "NICK bob"), (0, "NICK 9lives"),
        (0, "USER again 0 * :Again"),
    ]),
    "user modes": (["alice", "bob"], [
        (0, "MODE alice"), (0, "MODE alice +i"), (0, "MODE alice +i"), (0, "MODE alice"),
        (0, "MODE alice -i"), (0, "MODE alice +w"), (0, "MODE alice +o"), (0, "MODE bob"),
        (0, "MODE bob +i"), (0, "MODE alice"),
    ]),
    "quit": (["alice", "bob"], [
        (0, "JOIN #q"), (1, "JOIN #q"), (1, "QUIT :gone now"), (0, "NAMES #q"),
    ]),
}


def converse(port, servers, nicks, steps, reference):
    """The conversation's transcripts, one per client. On the reference, a channel's first
    JOIN is followed by MODE +nt (and its echo dropped): troupe-chat creates channels +nt,
    ngIRCd 26 creates them without modes and has no setting for it."""
    clients = [Client(port, nick) for nick in nicks]
    for c, nick in zip(clients, nicks):
        c.register(nick, real=nick + " R")
    starts = [len(c.lines) for c in clients]
    created, dropped = set(), set()
    for n, (who, line) in enumerate(steps):
        clients[who].send(line)
        if reference and line.startswith("JOIN #"):
            for chan in line.split()[1].split(","):
                if chan.lower() not in created:
                    created.add(chan.lower())
                    clients[who].send(f"MODE {chan} +nt")
                    dropped.add(f"MODE {chan} +nt")
        if line.startswith("QUIT"):
            clients[who].wait_eof()
        for i, c in enumerate(clients):
            if not c.eof:
                c.barrier(f"step{n}")
    for c in clients:
        c.lines = [l for l in c.lines if not any(l.endswith(" " + d) for d in dropped)]
    out = [normalized(c.lines[s:], servers) for c, s in zip(clients, starts)]
    for c in clients:
        c.close()
    return out


def main():
    ours = Server(sys.argv[1])
    ref = Ngircd(sys.argv[2] if len(sys.argv) > 2 else "ngircd")
    failed = 0
    try:
        for name, (nicks, steps) in CONVERSATIONS.items():
            want = converse(ref.port, {Ngircd.NAME}, nicks, steps, True)
            got = converse(ours.port, {"troupe-chat"}, nicks, steps, False)
            for nick, w, g in zip(nicks, want, got):
                if w == g:
                    continue
                failed += 1
                print(f"FAIL: {name}: what {nick} got differs from ngIRCd's")
                for i in range(max(len(w), len(g))):
                    a = w[i] if i < len(w) else None
                    b = g[i] if i < len(g) else None
                    print(f"  {'  ' if a == b else '!='} ngircd {a}\n     troupe {b}")
            if not failed:
                counts = ", ".join(f"{n} ({len(g)} lines)" for n, g in zip(nicks, got))
                print(f"ok: {name}: the same replies as ngIRCd's, for {counts}")
    except Failure as e:
        print(f"FAIL: {e}")
        failed += 1
    finally:
        ref.stop()
        status = ours.stop()
    if status != 0:
        print(f"FAIL: troupe-chat exited with status {status}")
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
