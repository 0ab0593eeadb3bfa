#!/usr/bin/env python3
"""A userspace netem: delay with jitter and (correlated) loss for the packets that iptables
hands to an NFQUEUE, in one or more network namespaces.

tests/cluster/chaos.sh shapes the links between its nodes with this, because the kernels
troupe's CI runs on may be built without sch_netem ("Specified qdisc kind is unknown"),
while iptables' NFQUEUE target and nfnetlink_queue are part of every netfilter build. The
model is netem's: each packet is held for a delay drawn from a normal distribution
(`delay 50ms 10ms distribution normal`), so jitter may reorder packets as netem does, and is
lost with probability P. A correlation C (`loss 20% 75%`) makes losses come in bursts with
the same average: a two-state chain in which a packet after a lost one is lost with
probability P + C(1 - P), and after one that passed with P(1 - C). (netem's own correlated
random numbers lose far fewer than P: 0.1% for 20% 75% here.)

usage: netem.py QUEUE NETNS...      (as root; the namespaces' names under /run/netns)
Then lines on standard input, one per change:
    NETNS|all DELAY_MS JITTER_MS LOSS_PCT CORR_PCT     e.g. "all 50 10 0 0", "ns1 0 0 5 0"
    stats                                              prints one JSON line of counters
The iptables rule sends the packets here, for example
    iptables -A OUTPUT -d 10.77.0.0/24 -j NFQUEUE --queue-num 7 --queue-bypass
(with --queue-bypass packets pass untouched while nothing is bound). Prints "ready" once
every queue is bound; exits at the end of its input."""

import ctypes
import heapq
import json
import os
import random
import select
import socket
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
NETLINK_NETFILTER = 12
SOL_NETLINK = 270
NETLINK_NO_ENOBUFS = 5
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NF_DROP, NF_ACCEPT = 0, 1

libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {path}: {os.strerror(e)}")
    finally:
        os.close(fd)


def attr(kind, data):
    a = struct.pack("=HH", 4 + len(data), kind) + data
    return a + b"\0" * (-len(a) % 4)


def message(msg, queue, attrs, flags=NLM_F_REQUEST, seq=0):
    body = struct.pack("=BB", socket.AF_UNSPEC, 0) + struct.pack(">H", queue) + attrs
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg, flags, seq,
                       0) + body


def split(data):
    """(type, payload) of each netlink message in one datagram."""
    off = 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, off)
        if length < 16:
            break
        yield kind, data[off + 16:off + length]
        off += (length + 3) & ~3


def attrs_of(payload):
    out, off = {}, 4  # past the nfgenmsg
    while off + 4 <= len(payload):
        length, kind = struct.unpack_from("=HH", payload, off)
        if length < 4:
            break
        out[kind & 0x3FFF] = payload[off + 4:off + length]
        off += (length + 3) & ~3
    return out


class Queue:
    """One namespace's queue: its netlink socket, its shaping, its counters."""

    def __init__(self, ns, num):
        self.ns, self.num = ns, num
        self.delay = self.jitter = self.loss = self.corr = 0.0
        self.last_lost = False
        self.packets = self.dropped = 0
        self.delay_sum = 0.0
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
        self.sock.setsockopt(SOL_NETLINK, NETLINK_NO_ENOBUFS, 1)
        self.sock.bind((0, 0))
        self.request(attr(NFQA_CFG_CMD, struct.pack(">BxH", NFQNL_CFG_CMD_BIND, socket.AF_INET)))
        self.request(attr(NFQA_CFG_PARAMS, struct.pack(">IB", 0, NFQNL_COPY_META)) +
                     attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack(">I", 65536)))

    def request(self, attrs):
        self.sock.send(message(NFQNL_MSG_CONFIG, self.num, attrs, NLM_F_REQUEST | NLM_F_ACK, 1))
        while True:
            for kind, payload in split(self.sock.recv(65536)):
                if kind == NLMSG_ERROR:
                    err = struct.unpack_from("=i", payload)[0]
                    if err:
                        raise OSError(-err, f"nfqueue {self.num} in {self.ns}: "
                                            f"{os.strerror(-err)}")
                    return

    def verdict(self, pid, v):
        self.sock.send(message(NFQNL_MSG_VERDICT, self.num,
                               attr(NFQA_VERDICT_HDR, struct.pack(">II", v, pid))))

    def lost(self):
        if self.loss <= 0:
            return False
        p = self.loss + self.corr * (1 - self.loss) if self.last_lost else \
            self.loss * (1 - self.corr)
        self.last_lost = random.random() < p
        return self.last_lost

    def hold_s(self):
        if self.delay <= 0 and self.jitter <= 0:
            return 0.0
        return max(0.0, random.gauss(self.delay, self.jitter))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    num = int(sys.argv[1])
    home = "/proc/self/ns/net"
    own = os.open(home, os.O_RDONLY)
    queues = []
    for ns in sys.argv[2:]:
        setns(f"/run/netns/{ns}")
        queues.append(Queue(ns, num))
    if libc.setns(own, CLONE_NEWNET) != 0:
        sys.exit("netem: cannot return to the first namespace")
    os.close(own)
    by_fd = {q.sock.fileno(): q for q in queues}
    by_name = {q.ns: q for q in queues}
    due = []  # (time, n, queue, packet id)
    n = 0
    print("ready", flush=True)
    stdin = sys.stdin.fileno()
    buf = b""
    while True:
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, q, pid = heapq.heappop(due)
            q.verdict(pid, NF_ACCEPT)
        wait = max(0.0, due[0][0] - now) if due else None
        ready, _, _ = select.select([stdin, *by_fd], [], [], wait)
        for fd in ready:
            if fd == stdin:
                data = os.read(stdin, 4096)
                if not data:  # the end of the input: let everything held go, and stop
                    for _, _, q, pid in due:
                        q.verdict(pid, NF_ACCEPT)
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    words = line.decode().split()
                    if words == ["stats"]:
                        print(json.dumps({q.ns: {"packets": q.packets, "dropped": q.dropped,
                                                 "mean_delay_ms": round(
                                                     1000 * q.delay_sum / max(1, q.packets
                                                                              - q.dropped), 2)}
                                          for q in queues}), flush=True)
                    elif len(words) == 5:
                        d, j, loss, corr = (float(w) for w in words[1:])
                        for q in queues if words[0] == "all" else [by_name[words[0]]]:
                            q.delay, q.jitter = d / 1000, j / 1000
                            q.loss, q.corr, q.last_lost = loss / 100, corr / 100, False
                    elif words:
                        print(f"netem: bad command {line!r}", file=sys.stderr, flush=True)
                continue
            q = by_fd[fd]
            for kind, payload in split(q.sock.recv(1 << 20)):
                if kind != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    continue
                hdr = attrs_of(payload).get(NFQA_PACKET_HDR)
                if not hdr:
                    continue
                pid = struct.unpack_from(">I", hdr)[0]
                q.packets += 1
                if q.lost():
                    q.dropped += 1
                    q.verdict(pid, NF_DROP)
                    continue
                hold = q.hold_s()
                q.delay_sum += hold
                if hold <= 0:
                    q.verdict(pid, NF_ACCEPT)
                else:
                    n += 1
                    heapq.heappush(due, (time.monotonic() + hold, n, q, pid))


if __name__ == "__main__":
    main()
