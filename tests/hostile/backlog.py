"""Finding (c) of issue 17, the listen backlog: 2,000 clients (fewer under a sanitizer)
connecting to troupe-chat at once, every connect started before any is waited for. All of
them are accepted and greeted in the end. The listening socket's backlog, as the kernel
reports it (ss: Send-Q of a listener), must be at least Redis's 511; troupe asks for the
kernel's somaxconn (the old 128 lost most of such a burst in the kernel's queue). Printed:
the backlog, how many were greeted within the first second, the time until all were, and
the host's ListenOverflows counter over the burst (host-wide, so not asserted)."""

import errno
import os
import re
import select
import socket
import subprocess
import time

import hostile as h


def listen_backlog(port):
    """The backlog of the listener on port, from ss (Send-Q of a LISTEN socket)."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"LISTEN\s+\d+\s+(\d+)\s", out)
    h.check(m, f"ss shows no listener on {port}: {out!r}")
    return int(m.group(1))


def overflows():
    with open("/proc/net/netstat") as f:
        lines = f.read().split("\n")
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            d = dict(zip(names.split()[1:], values.split()[1:]))
            return int(d.get("ListenOverflows", 0))
    return 0


def main():
    h.setup(__doc__)
    n = h.scaled(2000, 400)
    h.raise_nofile(n + 256)
    srv = h.Server(h.ARGS.chat, nofile=n + 512)
    backlog = listen_backlog(srv.port)
    with open("/proc/sys/net/core/somaxconn") as f:
        somaxconn = int(f.read())
    print(f"listen backlog {backlog} (somaxconn {somaxconn})")
    h.check(backlog >= min(511, somaxconn), f"the listen backlog is {backlog}, under 511")
    over0 = overflows()
    socks = []
    t0 = time.monotonic()
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        rc = s.connect_ex(("127.0.0.1", srv.port))
        h.check(rc in (0, errno.EINPROGRESS), f"connect: {os.strerror(rc)}")
        socks.append(s)
    poll = select.poll()
    by_fd = {}
    for s in socks:
        poll.register(s, select.POLLIN)
        by_fd[s.fileno()] = s
    greeted, first_second = set(), None
    deadline = t0 + h.wait_s(60)
    while len(greeted) < n and time.monotonic() < deadline:
        for fd, ev in poll.poll(200):
            s = by_fd[fd]
            try:
                d = s.recv(4096)
            except (BlockingIOError, ConnectionError):
                d = b""
            poll.unregister(fd)
            if b"NOTICE" in d:
                greeted.add(fd)
        if first_second is None and time.monotonic() - t0 >= 1:
            first_second = len(greeted)
    took = time.monotonic() - t0
    print(f"{len(greeted)} of {n} clients connecting at once greeted "
          f"({first_second if first_second is not None else len(greeted)} within 1 s, "
          f"all in {took:.2f} s); host ListenOverflows +{overflows() - over0}")
    h.check(len(greeted) == n, f"only {len(greeted)} of {n} clients were served")
    for s in socks:
        s.close()
    c = h.Irc(srv.port, "after")
    c.ping("after")
    c.close()
    srv.stop()


h.run(main)
