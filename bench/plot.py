#!/usr/bin/env python3
"""Bar charts of BENCHMARKS.md's figures: one SVG per workload group in bench/plots/, troupe
against each peer, each bar labelled with its value and each chart with troupe's ratio to
the best peer. Python's standard library only: the SVG is written by hand.

The figures come from bench/figures.csv, which holds them as BENCHMARKS.md prints them
(its tables mix markdown, aligned columns and raw output lines, which are not worth parsing);
the check below keeps the two in agreement.

  python3 bench/plot.py           write bench/plots/*.svg (after checking the figures)
  python3 bench/plot.py --check   fail unless the figures are BENCHMARKS.md's and the SVGs
                                  in bench/plots are what this script writes from them
"""
import csv
import os
import sys
import textwrap
from xml.sax.saxutils import escape

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FIGURES = os.path.join(ROOT, "bench", "figures.csv")
BENCHMARKS = os.path.join(ROOT, "BENCHMARKS.md")
PLOTS = os.path.join(ROOT, "bench", "plots")

CORE = ("bench/run against tokio 1.24 and Go 1.19, 2 workers each, alternating, medians of 5, "
        "2026-12-02, evening")
# Each group (an SVG), in figures.csv's names: its title and where its figures come from.
GROUPS = {
    "pingpong": ("pingpong: two actors, a message each way per round trip", CORE),
    "ring": ("ring: a token hops around a ring of 503 actors", CORE),
    "skynet": ("skynet: a tree of 1,111,111 short-lived actors", CORE),
    "spawnmem": ("spawnmem: memory per idle actor, a million of them", CORE),
    "fanin": ("fanin: 4 senders, one receiver", CORE),
    "mesh": ("mesh: 1,000 actors sending to random others", CORE),
    "pubsub": ("troupe-pubsub against redis-server 7.0.15",
               "bench/pubsub-vs-redis.sh 5: one load tool, alternating, medians of 5, 2026-12-01"),
    "pubsub-cluster": ("troupe-pubsub cluster against Redis Cluster 7.0",
                       "bench/pubsub-cluster-vs-redis.sh 3: 3 troupe nodes against 3 Redis "
                       "masters, 60 subscribers, medians of 3, 2026-12-02"),
    "dist": ("Cross-node messaging against Erlang 25 distribution",
             "bench/run dist_pingpong dist_oneway against two erl -sname nodes "
             "(compare-dist.py --rounds 3), two nodes on loopback, medians of 3, 2026-12-02"),
}
# How each implementation is named on its bar.
NAMES = {
    "troupe": "troupe",
    "tokio": "tokio",
    "go": "Go",
    "redis": "Redis",
    "erlang": "Erlang",
}

# Layout, in pixels.
WIDTH = 560
LABEL_W = 86      # bar names, left of the bars
VALUE_W = 96      # value labels, right of the longest bar
BAR_H = 18
BAR_GAP = 6
PANEL_HEAD = 40   # a panel's title and ratio lines
PANEL_GAP = 14
TROUPE_COLOUR = "#2b6cb0"
PEER_COLOUR = "#a0aec0"


def number(text):
    return float(text.replace(",", ""))


def read_figures():
    """{group: {panel: {"unit", "better", "bars": [(impl, text, value)]}}}, in file order."""
    with open(FIGURES, encoding="utf-8") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    groups = {}
    for r in rows:
        if r["group"] not in GROUPS:
            raise SystemExit(f"figures.csv: unknown group {r['group']!r} (add it to GROUPS)")
        if r["better"] not in ("higher", "lower"):
            raise SystemExit(f"figures.csv: better must be higher or lower, not {r['better']!r}")
        panel = groups.setdefault(r["group"], {}).setdefault(
            r["panel"], {"unit": r["unit"], "better": r["better"], "bars": []})
        panel["bars"].append((r["impl"], r["text"], number(r["text"])))
    for g, panels in groups.items():
        for p, panel in panels.items():
            impls = [b[0] for b in panel["bars"]]
            if impls[0] != "troupe" or len(impls) < 2:
                raise SystemExit(f"figures.csv: {g}/{p}: troupe first, then at least one peer")
    return groups


def check_figures(groups):
    """Each panel's values, as printed, on one line of BENCHMARKS.md, in the CSV's order."""
    with open(BENCHMARKS, encoding="utf-8") as f:
        lines = f.read().splitlines()
    bad = []
    for g, panels in groups.items():
        for p, panel in panels.items():
            texts = [b[1] for b in panel["bars"]]

            def holds(line):
                at = 0
                for t in texts:
                    at = line.find(t, at)
                    if at < 0:
                        return False
                    at += len(t)
                return True

            if not any(holds(line) for line in lines):
                bad.append(f"{g}/{p}: no line of BENCHMARKS.md holds {' ... '.join(texts)}")
    return bad


def label(v, printed):
    """A value as a bar's label: 11.97M, 21.7k, 3,446; below 1,000 as BENCHMARKS.md prints
    it (146.5, 0.1056, 56.0)."""
    if v < 1000:
        return printed
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e5:
        return f"{v / 1e3:.0f}k"
    if v >= 1e4:
        return f"{v / 1e3:.1f}k"
    return f"{v:,.0f}"


def ratio_line(panel):
    """troupe's advantage over the best peer, as BENCHMARKS.md states ratios: troupe / peer
    where higher is better, peer / troupe where lower is; above 1, troupe is ahead."""
    troupe = panel["bars"][0][2]
    peers = panel["bars"][1:]
    if panel["better"] == "higher":
        best = max(peers, key=lambda b: b[2])
        r = troupe / best[2]
    else:
        best = min(peers, key=lambda b: b[2])
        r = best[2] / troupe
    return best[0], r


def text(x, y, s, size=12, anchor="start", weight="normal", fill="#1a202c"):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}">{escape(s)}</text>')


def svg(group, panels):
    title, source = GROUPS[group]
    names = NAMES
    out = []
    y = 24
    out.append(text(12, y, title, size=15, weight="bold"))
    for line in textwrap.wrap(source, 96):
        y += 15
        out.append(text(12, y, line, size=10, fill="#4a5568"))
    y += 12
    bar_w = WIDTH - 12 - LABEL_W - VALUE_W
    for p, panel in panels.items():
        y += PANEL_GAP
        better = "higher is better" if panel["better"] == "higher" else "lower is better"
        head = f"{p} ({panel['unit']}, {better})" if p != group else \
            f"{panel['unit']}, {better}"
        out.append(text(12, y + 14, head, size=12, weight="bold"))
        best, r = ratio_line(panel)
        out.append(text(12, y + 30, f"troupe's advantage over the best peer "
                        f"({names.get(best, best)}): {r:.2f}x", size=12,
                        fill=TROUPE_COLOUR if r >= 1 else "#c05621"))
        y += PANEL_HEAD
        top = max(b[2] for b in panel["bars"])
        for impl, printed, v in panel["bars"]:
            w = max(1.0, bar_w * v / top)
            colour = TROUPE_COLOUR if impl == "troupe" else PEER_COLOUR
            out.append(text(12 + LABEL_W - 8, y + BAR_H - 5, names.get(impl, impl), anchor="end"))
            out.append(f'<rect x="{12 + LABEL_W}" y="{y:.1f}" width="{w:.1f}" height="{BAR_H}" '
                       f'fill="{colour}"><title>{escape(names.get(impl, impl))}: '
                       f'{escape(label(v, printed))} {escape(panel["unit"])}</title></rect>')
            out.append(text(12 + LABEL_W + w + 6, y + BAR_H - 5, label(v, printed)))
            y += BAR_H + BAR_GAP
    height = int(y + 12)
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        *out,
        "</svg>",
        "",
    ])


def main():
    check = sys.argv[1:] == ["--check"]
    if sys.argv[1:] and not check:
        raise SystemExit("usage: bench/plot.py [--check]")
    groups = read_figures()
    problems = check_figures(groups)
    for g, panels in groups.items():
        path = os.path.join(PLOTS, g + ".svg")
        name = os.path.relpath(path, ROOT)
        want = svg(g, panels)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != want:
                        problems.append(f"{name}: not what bench/plot.py writes; run it")
            except FileNotFoundError:
                problems.append(f"{name}: missing; run bench/plot.py")
        elif not problems:
            os.makedirs(PLOTS, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(want)
    for p in problems:
        print(f"plot: {p}", file=sys.stderr)
    if problems:
        sys.exit(1)
    if not check:
        print(f"plot: wrote {len(groups)} charts into {os.path.relpath(PLOTS, ROOT)}/")


if __name__ == "__main__":
    main()
