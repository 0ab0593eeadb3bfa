#!/usr/bin/env bash
# The cluster soak: three troupe-chat nodes in network namespaces (tests/cluster/netns.sh)
# with two IRC clients each chatting in one channel, while one node after another is
# restarted every EVERY seconds, killed (SIGKILL) and stopped (SIGTERM) in turn; its clients
# reconnect and join again. Checks as in tests/cluster/chaos.sh: no line duplicated or
# reordered for any pair (lines lost while a node was away are allowed), no reconnect storm,
# and at the end every link up and a round of lines that reaches every client.
#
#   tests/soak/cluster_soak.sh [SECONDS [EVERY]] [--build DIR] [--json FILE] [--logs DIR]
#
# SECONDS defaults to 600 and EVERY to 30 (the by-hand run of docs/chaos.md);
# scripts/check-soak.sh runs 45 s with a restart every 15 s. Needs root, ip and python3.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build"
seconds=600
every=30
args=()
pos=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift ;;
    --json | --logs) args+=("$1" "$2"); shift ;;
    [0-9]*) if ((pos == 0)); then seconds="$1"; else every="$1"; fi; pos=$((pos + 1)) ;;
    *) echo "usage: $0 [SECONDS [EVERY]] [--build DIR] [--json FILE] [--logs DIR]" >&2; exit 2 ;;
  esac
  shift
done
[[ "$build" = /* ]] || build="$root/$build"
bin="$build/examples/chat/troupe-chat"
[[ -x "$bin" ]] || { echo "cluster_soak: no $bin (build it first)" >&2; exit 1; }
[[ "$(id -u)" -eq 0 ]] || { echo "cluster_soak: needs root (network namespaces)" >&2; exit 1; }
for tool in ip python3; do
  command -v "$tool" >/dev/null || { echo "cluster_soak: needs $tool (scripts/deps.sh)" >&2; exit 1; }
done

# shellcheck source=../cluster/netns.sh
source "$root/tests/cluster/netns.sh"
trap netns_down EXIT
trap 'exit 130' INT TERM
netns_up 3
python3 "$root/tests/cluster/chaos.py" --prefix "$NETNS_PREFIX" --bin "$bin" \
  --churn "$seconds" --every "$every" "${args[@]}"
