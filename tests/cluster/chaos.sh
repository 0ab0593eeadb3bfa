#!/usr/bin/env bash
# The cluster under network faults: troupe-chat nodes in network namespaces (veth pairs on a
# bridge), IRC clients chatting in one channel on every node with a sequence checker, and
# delay, loss, a partition, an asymmetric drop and (on 5 nodes) a majorities ring injected
# between them. Pass: no false node-down under delay and 5% loss, a partition detected
# within 3 s and healed within 5 s, no duplicate or reordered line for any pair, no
# reconnect storm. tests/cluster/chaos.py says how each figure is taken; docs/chaos.md has
# the results.
#
#   tests/cluster/chaos.sh [--short|--full] [--build DIR] [--only S1,S2] [--json FILE] [--logs DIR]
#
# --short (the default, what CI runs): each scenario for a few seconds, under 3 minutes in
# all. --full: 5 minutes per scenario (30 s cuts then 30 s healed, five times, for the
# partition, the asymmetric drop and the ring). --build: the build folder whose
# examples/chat/troupe-chat runs (default build). Needs root, ip (iproute2), iptables and
# python3. Everything it makes (namespaces, the nodes in them) goes on exit, failed or not.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="$root/build"
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --short | --full) args+=("$1") ;;
    --build) build="$2"; shift ;;
    --only | --json | --logs | --churn | --every | --cut | --cycles) args+=("$1" "$2"); shift ;;
    *) echo "usage: $0 [--short|--full] [--build DIR] [--only S1,S2] [--json FILE] [--logs DIR]" >&2
       exit 2 ;;
  esac
  shift
done
[[ "$build" = /* ]] || build="$root/$build"
bin="$build/examples/chat/troupe-chat"
[[ -x "$bin" ]] || { echo "chaos: no $bin (build it first)" >&2; exit 1; }
[[ "$(id -u)" -eq 0 ]] || { echo "chaos: needs root (network namespaces, iptables)" >&2; exit 1; }
for tool in ip iptables python3; do
  command -v "$tool" >/dev/null || { echo "chaos: needs $tool (scripts/deps.sh)" >&2; exit 1; }
done
[[ " ${args[*]} " == *" --full "* || " ${args[*]} " == *" --short "* ]] || args+=(--short)

# shellcheck source=netns.sh
source "$here/netns.sh"
trap netns_down EXIT
trap 'exit 130' INT TERM
netns_up 5
python3 "$here/chaos.py" --prefix "$NETNS_PREFIX" --bin "$bin" "${args[@]}"
