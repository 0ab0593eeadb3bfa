#!/usr/bin/env bash
# Install what is missing, build, and run the cluster demo (scripts/demo_cluster.py): three
# chat nodes on loopback, IRC users on different nodes in one channel, the console's view of
# the cluster, a node killed and its user's netsplit quit on the others, the node back.
# Exits non-zero if any step did not happen. `scripts/demo.sh hello` runs examples/hello.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTROUPE_BUILD_TESTS=OFF >/dev/null
jobs="$(nproc 2>/dev/null || echo 2)"
if [[ "${1:-}" == hello ]]; then
  cmake --build build -j"$jobs" --target troupe-hello
  exec ./build/examples/troupe-hello "${@:2}"
fi
cmake --build build -j"$jobs" --target troupe-chat troupe-console
exec python3 scripts/demo_cluster.py build
