#!/usr/bin/env bash
# The cluster under network faults, short: tests/cluster/chaos.sh --short on BUILD_DIR's
# troupe-chat (delay, 5% and 20% loss, a partition, an asymmetric drop, a majorities ring;
# about a minute and a half). Needs root, iproute2 and iptables (scripts/deps.sh).
# Usage: scripts/check-chaos.sh BUILD_DIR   (scripts/test.sh passes build-test-plain)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
cd "$(dirname "$0")/.."
exec tests/cluster/chaos.sh --short --build "$1"
