"""Half-close with the real nc (issue 11): `printf ... | nc -N host port` writes, shuts down
its sending side and reads until the server closes. Every server built on net/ must answer
everything sent before the FIN and then close: troupe-echo, troupe-chat (IRC and plain
clients), its debug console, and troupe-pubsub. Before the fix the connection closed at the
FIN and nc got nothing.

    python3 tests/net/half_close_nc.py ECHO_BIN CHAT_BIN PUBSUB_BIN
"""

import re
import shutil
import subprocess
import sys
import tempfile

WAIT_S = 20


def start(argv, console=False):
    """Start a server on port 0; its port (and its console's, which it logs)."""
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, text=True)
    port = int(re.search(r":(\d+)\s*$", proc.stdout.readline()).group(1))
    cport = None
    if console:  # logged before the stdout line
        log.seek(0)
        cport = int(re.search(r"console on port (\d+)", log.read()).group(1))
    return proc, port, cport


def nc(port, data):
    """What `printf DATA | nc -N 127.0.0.1 PORT` prints (nc exits once the server closes)."""
    out = subprocess.run(["nc", "-N", "127.0.0.1", str(port)], input=data.encode(),
                         capture_output=True, timeout=WAIT_S)
    return out.stdout.decode("utf-8", "replace")


def stop(proc):
    proc.terminate()
    try:
        return proc.wait(timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def expect(what, out, wanted):
    """Every regex of wanted appears in out, in that order."""
    at = 0
    for w in wanted:
        m = re.compile(w, re.M).search(out, at)
        if not m:
            raise AssertionError(f"{what}: {w!r} missing after offset {at} in:\n{out}")
        at = m.end()
    print(f"ok: {what}")


def main():
    echo_bin, chat_bin, pubsub_bin = sys.argv[1:4]
    if not shutil.which("nc"):
        print("FAIL: nc is not installed (scripts/deps.sh installs netcat-openbsd)")
        return 1
    procs = []
    try:
        p, port, _ = start([echo_bin, "0"])
        procs.append(p)
        expect("echo: lines before the FIN, the last without its newline",
               nc(port, "one\ntwo\nthree"), [r"^one$", r"^two$", r"^three$"])

        p, port, cport = start([chat_bin, "--port", "0", "--console", "127.0.0.1:0"], True)
        procs.append(p)
        expect("chat: an IRC client that registers, joins, talks and half-closes",
               nc(port, "NICK halfy\r\nUSER h 0 * :Half\r\nJOIN #half\r\nTOPIC #half :t\r\n"
                        "NAMES #half\r\nPING :last\r\n"),
               [r" 001 halfy ", r":halfy!\S+ JOIN #half", r" 366 halfy #half ",
                r":halfy!\S+ TOPIC #half :t", r" 353 halfy = #half :@halfy", r" 366 ",
                r"PONG troupe-chat :last", r"^ERROR :Closing Link: .*Connection closed"])
        expect("chat: a plain client that half-closes",
               nc(port, "plainhalf\nhello there\n/names\n"),
               [r"\* welcome, plainhalf", r"\* in #lobby: plainhalf",
                r"\* in #lobby: plainhalf", r"\* bye \(Connection closed\)"])
        expect("console: commands that wait for an actor, then the FIN",
               nc(cport, "info chat.rooms\nstate chat.rooms\nstats"),
               [r"^name: chat.rooms$", r"^\.$", r"^state: ", r"^\.$", r"^workers: ", r"^\.$"])

        p, port, _ = start([pubsub_bin, "--port", "0"])
        procs.append(p)
        expect("pubsub: RESP and inline commands, then the FIN",
               nc(port, "*1\r\n$4\r\nPING\r\nECHO hi\r\nPUBSUB NUMPAT\r\n"),
               [r"^\+PONG\r$", r"^\$2\r$", r"^hi\r$", r"^:0\r$"])
        expect("pubsub: a subscriber that half-closes gets its confirmation",
               nc(port, "SUBSCRIBE news\r\n"),
               [r"^\*3\r$", r"^\$9\r$", r"^subscribe\r$", r"^\$4\r$", r"^news\r$", r"^:1\r$"])
    except (AssertionError, subprocess.TimeoutExpired, AttributeError) as e:
        print(f"FAIL: {e}")
        for p in procs:
            stop(p)
        return 1
    bad = [s for s in (stop(p) for p in procs) if s != 0]
    if bad:
        print(f"FAIL: a server exited with status {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
