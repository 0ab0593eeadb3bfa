#!/usr/bin/env bash
# The library, its tools and examples build warning-free (-Werror is on by default) in the
# build types a user picks, not only in the RelWithDebInfo of the test builds: gcc's
# -Wformat-truncation and friends see different things at -O0 and -O3.
# Usage: scripts/check-build-types.sh [plain-build-dir]   (the argument is unused)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
for type in Debug Release; do
  dir="build-check-$type"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" -DTROUPE_BUILD_TESTS=OFF >/dev/null
  if ! cmake --build "$dir" -j"$jobs" >"$dir/build.log" 2>&1; then
    grep -E "error|warning" "$dir/build.log" | head -20 >&2
    echo "build-types: the $type build fails (full log: $dir/build.log)" >&2
    exit 1
  fi
  echo "build-types: $type builds clean"
done
