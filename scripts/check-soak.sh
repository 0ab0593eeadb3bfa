#!/usr/bin/env bash
# The cluster soak, short: tests/soak/cluster_soak.sh for 45 s on BUILD_DIR's troupe-chat,
# a node restarted every 15 s (n2 killed, n3 stopped, n1 killed) while clients chat. The
# queues' soak (tests/soak/soak_queues.c) is a ctest of every build instead.
# Usage: scripts/check-soak.sh BUILD_DIR   (scripts/test.sh passes build-test-plain)
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
cd "$(dirname "$0")/.."
exec tests/soak/cluster_soak.sh 45 15 --build "$1"
