#!/usr/bin/env bash
# Install what is missing, build, and run the demo program.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTROUPE_BUILD_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target troupe-hello
exec ./build/examples/troupe-hello "$@"
