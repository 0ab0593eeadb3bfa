"""Thousands of idle connections against troupe-chat (issue 17): 3,000 clients (fewer under a
sanitizer) connect and say nothing. Once the server holds them all, two users still chat
(their message arrives) and a new user registers; the server's RSS before and after, and
per idle connection, is printed and bounded (< 32 KB a connection, plain build). When the
idle clients hang up, the server lets go of every one (its descriptors return to what they
were) and still serves; as many again then cost no more memory than the first ones held
(< 16 MB more: what they left is reused). It exits 0 on SIGTERM."""

import time

import hostile as h


def wait_fds(srv, want, at_least):
    """Wait until the server has >= want (at_least) or <= want open descriptors."""
    deadline = time.monotonic() + h.wait_s(60)
    while time.monotonic() < deadline:
        n = srv.fds()
        if (n >= want) if at_least else (n <= want):
            return n
        time.sleep(0.1)
    return srv.fds()


def main():
    h.setup(__doc__)
    n = h.scaled(3000, 300)
    h.raise_nofile(n + 256)
    srv = h.Server(h.ARGS.chat, nofile=n + 512)
    a, b, chan = h.chat_pair(srv.port, "idle")
    time.sleep(0.2)
    base_fds, before = srv.fds(), srv.rss_kb()
    t0 = time.monotonic()
    idle = [h.connect(srv.port) for _ in range(n)]
    got = wait_fds(srv, base_fds + n, True)
    print(f"{n} idle connections open in {time.monotonic() - t0:.2f} s; the server holds "
          f"{got} descriptors ({base_fds} before)")
    h.check(got >= base_fds + n, f"the server holds {got - base_fds} of {n} idle connections")
    time.sleep(0.3)
    during = srv.rss_kb()
    per = (during - before) / n
    print(f"RSS per idle connection: {per:.1f} KB")
    h.check_rss(srv, f"with {n} idle connections", before, during, n * 32 / 1024)
    h.chat_message(a, b, chan, "among the idle")
    c = h.Irc(srv.port, "latecomer")
    c.ping("late")
    c.close()
    for s in idle:
        s.close()
    left = wait_fds(srv, base_fds + 2, False)
    print(f"after the idle clients left: {left} descriptors, RSS {h.mb(srv.rss_kb())}")
    h.check(left <= base_fds + 2, f"{left - base_fds} descriptors still open after they left")
    h.chat_message(a, b, chan, "after the idle")
    # As many again: what the first ones left behind is reused, not added to.
    idle = [h.connect(srv.port) for _ in range(n)]
    got = wait_fds(srv, base_fds + n, True)
    h.check(got >= base_fds + n, f"the server holds {got - base_fds} of {n} idle connections")
    time.sleep(0.3)
    h.check_rss(srv, f"with {n} idle connections again", during, srv.rss_kb(), 16)
    h.chat_message(a, b, chan, "among the idle again")
    for s in idle:
        s.close()
    h.check(wait_fds(srv, base_fds + 2, False) <= base_fds + 2, "descriptors left open")
    a.close()
    b.close()
    srv.stop()


h.run(main)
