"""Guards the order of a chat client's commands (issue 11): the same commands written all at
once (one write, as clients do on connect and scripts do always) must give exactly the
replies, in the same order, as when they are sent one at a time with a wait for each one's
answer; and what another member of the channels sees must be the same too.

The script touches every command that asks a room, the rooms manager or another session:
JOIN with TOPIC, NAMES, PING, PRIVMSG, PART, MODE, WHO, NICK, WHOIS, a private message, and
ends with QUIT (or, in the half-close variant, with the client's FIN). Round 0 of each
script runs one command at a time and is the reference; the other rounds pipeline, and
each must match it. A race between a command and the one after it would show within a
few dozen rounds; before the fix most rounds differed.

    python3 tests/chat/pipelined.py build/examples/chat/troupe-chat
"""

import sys

from irclib import Client, Failure, Server, normalized

ROUNDS = 40

# (command, who shows its end, regex of its last reply): what the one-at-a-time run waits
# for before it sends the next command. "a" is the client, "b" the other member.
SCRIPT = [
    ("JOIN {x}", "a", r" 366 "),
    ("TOPIC {x} :topic one", "a", r" TOPIC "),
    ("TOPIC {x}", "a", r" 33[12] "),
    ("NAMES {x}", "a", r" 366 "),
    ("PING :p1", "a", r"PONG .*p1"),
    ("JOIN {c}", "a", r" 366 "),
    ("PRIVMSG {c} :hello there", "b", r"PRIVMSG {c} :hello there"),
    ("PART {c} :bye", "a", r" PART "),
    ("MODE {x}", "a", r" 329 "),
    ("WHO {x}", "a", r" 315 "),
    ("JOIN {c},{y}", "a", r" 366 \S+ {y} "),
    ("NICK {a}n", "a", r" NICK "),
    ("PRIVMSG {c} :after the nick", "b", r"PRIVMSG {c} :after the nick"),
    ("WHOIS {b}", "a", r" 318 "),
    ("PRIVMSG {b} :psst", "b", r"PRIVMSG {b} :psst"),
    ("KICK {x} nobody_here", "a", r" 401 "),
    ("NAMES {c}", "a", r" 366 "),
]
QUIT = ("QUIT :done", None, None)


def run(server, r, pipelined, half_close, plain=False):
    """One round: the two transcripts, normalized (per-round names replaced)."""
    a_nick, b_nick = f"a{r}", f"b{r}"
    names = {a_nick + "n": "An", a_nick: "A", b_nick: "B"}
    for c in "xcy":
        names[f"#{c}{r}"] = f"#{c}"
    b = Client(server.port, "b")
    b.register(b_nick)
    b.send(f"JOIN #c{r}", f"JOIN #y{r}")
    b.wait_for(rf" 366 .*#y{r} ")
    a = Client(server.port, "a")
    a.register(a_nick)
    a_start, b_start = len(a.lines), len(b.lines)
    steps = SCRIPT + ([] if half_close else [QUIT])

    def fill(text):
        return text.format(a=a_nick, b=b_nick, x=f"#x{r}", c=f"#c{r}", y=f"#y{r}")

    if pipelined:
        a.send(*(fill(cmd) for cmd, _, _ in steps))
    else:
        for cmd, who, end in steps:
            client = a if who == "a" else b
            mark = len(client.lines)
            a.send(fill(cmd))
            if end:
                client.wait_for(fill(end), mark)
    if half_close:
        a.shut()
    a.wait_eof()
    b.wait_for(rf":{a_nick}n?!\S+ QUIT ", b_start)
    b.send("QUIT")
    b.wait_eof()
    a.close()
    b.close()
    servers = {"troupe-chat"}
    return normalized(a.lines[a_start:], servers, names), \
        normalized(b.lines[b_start:], servers, names)


def compare(server, half_close):
    what = "half-close" if half_close else "QUIT"
    ref_a, ref_b = run(server, 0, False, half_close)
    if not ref_a or ref_a[-1] != ("ERROR",):
        raise Failure(f"{what}: the reference run did not end with ERROR: {ref_a[-3:]}")
    for r in range(1, ROUNDS):
        got_a, got_b = run(server, r, True, half_close)
        for who, ref, got in (("client", ref_a, got_a), ("other member", ref_b, got_b)):
            if got != ref:
                first = next(i for i in range(max(len(ref), len(got)))
                             if i >= len(ref) or i >= len(got) or ref[i] != got[i])
                raise Failure(f"{what}: round {r}: the {who}'s replies differ from one at a time "
                              f"at line {first}:\n  one at a time: {ref[first:first + 4]}\n"
                              f"  pipelined:     {got[first:first + 4]}")
    print(f"ok: {what}: {ROUNDS - 1} pipelined rounds give the {len(ref_a)} replies and the "
          f"{len(ref_b)} lines the other member sees of the one-at-a-time run")


def plain_client(server):
    """The plain dialect pipelined too: a nick, lines, /names and /quit in one write."""
    b = Client(server.port, "b")
    b.register("plainwatch")
    b.send("JOIN #lobby")
    b.wait_for(r" 366 ")
    a = Client(server.port, "plain")
    a.send_raw(b"plainpal\nfirst line\nsecond line\n/names\n/quit see you\n")
    a.wait_eof()
    text = [l for l in a.lines if not l.startswith(":troupe-chat NOTICE")]
    want = ["* welcome, plainpal.", "* in #lobby: plainwatch, plainpal",
            "* in #lobby: plainwatch, plainpal", "* bye (see you)"]
    got = [next((l for l in text if l.startswith(w)), None) for w in want]
    if None in got or [text.index(g) for g in got] != sorted(text.index(g) for g in got):
        raise Failure(f"plain: expected {want} in order, got {text}")
    b.wait_for(r"PRIVMSG #lobby :second line")
    b.wait_for(r"plainpal!\S+ QUIT :see you")
    print("ok: a plain client's pipelined lines are answered in order")


def main():
    server = Server(sys.argv[1])
    try:
        compare(server, half_close=False)
        compare(server, half_close=True)
        plain_client(server)
    except Failure as e:
        print(f"FAIL: {e}")
        server.stop()
        return 1
    status = server.stop()
    if status != 0:
        print(f"FAIL: troupe-chat exited with status {status}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
