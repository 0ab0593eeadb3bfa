#!/usr/bin/env python3
"""troupe-chat with a real IRC client: irssi, driven in tmux, talks with a raw-socket observer.

    irssi_test.py TROUPE_CHAT_BINARY

Guards that troupe-chat works with irssi (Debian's /usr/bin/irssi) as a user would use it:
registration (CAP LS, NICK, USER), /join, channel messages both ways, /topic by the channel's
operator, a private message opening a query, /part, and /quit with its reason, after which
the server must still serve others and exit 0 on SIGTERM.

How: troupe-chat runs on a free port (--port 0; the port is read from its one stdout line).
irssi runs in a detached tmux session on a private socket, with a private home directory and
a minimal config (nothing of ~/.irssi or ~/.tmux.conf is read). It is driven with
`tmux send-keys` and what it shows is read with `tmux capture-pane -p`. The second user,
"observer", is a plain socket speaking raw IRC. Every step waits (polling, at most WAIT_S) for
a concrete line the observer receives or text irssi shows. irssi's raw log (/rawlog open) is
kept too: the server must not answer anything irssi sends with 421 Unknown command. On a
failure the reason, irssi's screen, the observer's lines and the raw log are printed, and the
exit status is 1. Needs no terminal: tmux gives irssi one (TERM=screen inside it).
"""
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

WAIT_S = 20.0
POLL_S = 0.05
NICK = "irssiuser"
CHAN = "#irssitest"
IRSSI_CONFIG = """\
settings = {
  core = {
    nick = "%(nick)s";
    user_name = "%(nick)s";
    real_name = "irssi test user";
    settings_autosave = "no";
  };
  "irc/core" = { cmd_queue_speed = "0"; cmds_max_at_once = "100"; };
  "fe-common/core" = { autolog = "no"; };
};
""" % {"nick": NICK}


class Failure(Exception):
    pass


def wait_until(what, check):
    """Poll check() until it returns something true, which is returned; Failure after WAIT_S."""
    end = time.monotonic() + WAIT_S
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise Failure("timed out after %.0f s waiting for %s" % (WAIT_S, what))
        time.sleep(POLL_S)


def step(text):
    print("ok: " + text, flush=True)


# ---- troupe-chat ----

def start_server(binary):
    proc = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], WAIT_S)
    line = proc.stdout.readline().strip() if ready else None
    m = re.fullmatch(r"troupe-chat listening on 127\.0\.0\.1:(\d+)", line or "")
    if not m:
        proc.kill()
        proc.wait()
        if line is None:
            raise Failure("troupe-chat printed nothing in %.0f s" % WAIT_S)
        raise Failure("troupe-chat's first line is %r, not its listening address" % line)
    return proc, int(m.group(1))


def stop_server(proc):
    """SIGTERM and wait; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return "still running %.0f s after SIGTERM" % WAIT_S
    return proc.returncode


# ---- the observer: raw IRC on a socket ----

class Observer:
    def __init__(self, port, nick):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT_S)
        self.sock.setblocking(False)
        self.buf = b""
        self.lines = []  # every line received
        self.seen = 0  # lines before this one are matched already
        self.send("NICK " + nick)
        self.send("USER %s 0 * :raw socket observer" % nick)

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def pump(self):
        """Take what has arrived; answer PINGs."""
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            if not data:
                raise Failure("troupe-chat closed the observer's connection")
            self.buf += data
            while b"\r\n" in self.buf:
                raw, self.buf = self.buf.split(b"\r\n", 1)
                line = raw.decode(errors="replace")
                self.lines.append(line)
                if line.startswith("PING "):
                    self.send("PONG " + line[5:])

    def expect(self, pattern, what):
        """Wait for a line (after those matched before) that fully matches pattern."""
        rx = re.compile(pattern)

        def found():
            self.pump()
            for i in range(self.seen, len(self.lines)):
                if rx.fullmatch(self.lines[i]):
                    self.seen = i + 1
                    return self.lines[i]
            return None

        return wait_until("the observer to receive %s (/%s/)" % (what, pattern), found)

    def close(self):
        self.sock.close()


# ---- irssi in tmux ----

class Irssi:
    def __init__(self, home, nick):
        self.home = home
        self.sock = os.path.join(home, "tmux.sock")
        with open(os.path.join(home, "config"), "w") as f:
            f.write(IRSSI_CONFIG)
        # tmux gives irssi its terminal; it needs none of its own, nor TERM, nor a tty.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
        self.tmux("new-session", "-d", "-s", "irssi", "-x", "200", "-y", "50",
                  "env", "TERM=screen", "LANG=C.UTF-8", "irssi", "--home=" + home, "-n", nick)

    def tmux(self, *args, check=True):
        r = subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null"] + list(args),
                           env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=WAIT_S)
        if check and r.returncode != 0:
            raise Failure("tmux %s failed: %s" % (" ".join(args), r.stderr.strip()))
        return r

    def alive(self):
        return self.tmux("has-session", "-t", "irssi", check=False).returncode == 0

    def type(self, line):
        self.tmux("send-keys", "-t", "irssi", "-l", "--", line)
        self.tmux("send-keys", "-t", "irssi", "Enter")

    def screen(self):
        r = self.tmux("capture-pane", "-p", "-t", "irssi", check=False)
        return r.stdout if r.returncode == 0 else "(no screen: %s)" % r.stderr.strip()

    def expect(self, pattern, what):
        """Wait for the screen to show a line that matches pattern (searched in each line)."""
        rx = re.compile(pattern, re.M)
        return wait_until("irssi to show %s (/%s/)" % (what, pattern),
                          lambda: rx.search(self.screen()))

    def rawlog(self):
        try:
            with open(os.path.join(self.home, "raw.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def kill(self):
        self.tmux("kill-server", check=False)


# ---- the steps ----

def register(irssi, obs, port):
    obs.expect(r":troupe-chat 001 observer :.*", "its 001 welcome")
    irssi.expect(r"^\[\(status\)\]", "its prompt")
    irssi.type("/connect 127.0.0.1 %d" % port)
    irssi.expect(r"Welcome to the troupe chat, %s!" % NICK, "the 001 welcome")
    irssi.type("/rawlog open " + os.path.join(irssi.home, "raw.log"))
    obs.send("ISON " + NICK)
    obs.expect(r":troupe-chat 303 observer :%s" % NICK, "ISON saying irssi is on")
    step("irssi connected and registered as %s; the observer too" % NICK)


def join(irssi, obs):
    irssi.type("/join " + CHAN)
    irssi.expect(r"%s \[\S+\] has joined %s" % (NICK, CHAN), "its own JOIN")
    # irssi then asks MODE #chan, WHO #chan and MODE #chan b; it says "synced" once all
    # the answers (324, 315, 368) have come.
    irssi.expect(r"Join to %s was synced in \S+ secs" % CHAN, "the channel synced")
    obs.send("JOIN " + CHAN)
    obs.expect(r":troupe-chat 353 observer = %s :.*@%s\b.*" % (CHAN, NICK),
               "NAMES with irssi as the operator")
    irssi.expect(r"observer \[\S+\] has joined %s" % CHAN, "the observer's JOIN")
    step("irssi joined %s as its operator and synced it; the observer saw irssi in NAMES" % CHAN)


def say(irssi, obs):
    irssi.type("hello from irssi")
    obs.expect(r":%s!\S+ PRIVMSG %s :hello from irssi" % (NICK, CHAN), "irssi's message")
    step("a line typed in irssi reached the observer as a PRIVMSG to %s" % CHAN)


def hear(irssi, obs):
    obs.send("PRIVMSG %s :hello irssi" % CHAN)
    irssi.expect(r"observer> hello irssi$", "the observer's channel message")
    step("the observer's channel message is shown by irssi")


def topic(irssi, obs):
    irssi.type("/topic new topic from irssi")
    obs.expect(r":%s!\S+ TOPIC %s :new topic from irssi" % (NICK, CHAN), "the TOPIC")
    irssi.expect(r"%s changed the topic of %s to: new topic from irssi" % (NICK, CHAN),
                 "the topic change")
    step("irssi, the operator, set the topic; the observer got the TOPIC")


def private(irssi, obs):
    obs.send("PRIVMSG %s :private hello" % NICK)
    # /query goes to the query window the message opens (or opens it, and the message
    # lands there), so there is no race with the message's arrival.
    irssi.type("/query observer")
    irssi.expect(r"^\[observer\]", "the query window's prompt")
    irssi.expect(r"observer> private hello$", "the private message in the query window")
    step("the observer's private message is shown in irssi's query window")


def part(irssi, obs):
    irssi.type("/part %s" % CHAN)
    line = obs.expect(r":%s!\S+ PART %s( .*)?" % (NICK, CHAN), "irssi's PART")
    step("irssi /part: the observer got %r" % line)


def rejoin(irssi, obs):
    # A QUIT only reaches those who share a channel with the quitter: join again.
    irssi.type("/join " + CHAN)
    obs.expect(r":%s!\S+ JOIN %s" % (NICK, CHAN), "irssi's JOIN")
    step("irssi joined %s again; the observer got the JOIN" % CHAN)


def quit(irssi, obs, server):
    irssi.type("/quit leaving now")
    obs.expect(r":%s!\S+ QUIT :Quit: leaving now" % NICK, "irssi's QUIT with its reason")
    wait_until("irssi to exit after /quit", lambda: not irssi.alive())
    if server.poll() is not None:
        raise Failure("troupe-chat exited (status %s) after irssi quit" % server.returncode)
    obs.send("PING :still-there")
    obs.expect(r":troupe-chat PONG troupe-chat :still-there", "the PONG")
    step("irssi /quit: the observer got the QUIT; irssi exited; troupe-chat still answers PING")


def no_unknown_commands(irssi):
    raw = irssi.rawlog()
    if ">> " not in raw:
        raise Failure("irssi's raw log is empty")
    unknown = [l for l in raw.splitlines() if re.match(r">> :troupe-chat 421 ", l)]
    if unknown:
        raise Failure("troupe-chat did not know commands irssi sent:\n  " + "\n  ".join(unknown))
    step("troupe-chat knew every command irssi sent (no 421 in irssi's raw log)")


def report(reason, irssi, obs):
    print("FAIL: %s" % reason)
    if irssi:
        shown = [l for l in irssi.screen().splitlines() if l.strip()]
        print("---- irssi's screen (blank lines left out) ----\n" + "\n".join(shown))
        print("---- irssi's raw log (last 60 lines) ----")
        print("\n".join(irssi.rawlog().splitlines()[-60:]))
    if obs:
        print("---- what the observer received ----\n" + "\n".join(obs.lines))


def run(binary, home):
    server = irssi = obs = None
    try:
        server, port = start_server(binary)
        step("troupe-chat listening on port %d" % port)
        obs = Observer(port, "observer")
        irssi = Irssi(home, NICK)
        register(irssi, obs, port)
        join(irssi, obs)
        say(irssi, obs)
        hear(irssi, obs)
        topic(irssi, obs)
        private(irssi, obs)
        part(irssi, obs)
        rejoin(irssi, obs)
        quit(irssi, obs, server)
        no_unknown_commands(irssi)
    except (Failure, OSError, subprocess.SubprocessError) as e:
        report(e, irssi, obs)
        return False
    finally:
        if irssi:
            irssi.kill()
        if obs:
            obs.close()
        status = stop_server(server) if server else None
    if status != 0:
        print("FAIL: troupe-chat's exit status after SIGTERM is %s, not 0" % status)
        return False
    step("troupe-chat exited with status 0 on SIGTERM")
    return True


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: irssi_test.py TROUPE_CHAT_BINARY")
    for tool in ("irssi", "tmux"):
        if not shutil.which(tool):
            print("FAIL: %s is not installed" % tool)
            return 1
    home = tempfile.mkdtemp(prefix="irssi_test.")
    try:
        ok = run(sys.argv[1], home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("PASS" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
