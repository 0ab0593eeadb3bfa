#!/usr/bin/env bash
# Every fuzz target of tests/fuzz, for a bounded time each (CHECK_FUZZ_SECONDS, default 15)
# under ASan+UBSan, from its seed corpus: fails on a crash, a leak, a timeout or an
# out-of-memory (scripts/fuzz.sh does the work and prints each target's executions).
# Usage: scripts/check-fuzz.sh [BUILD_DIR]
# scripts/test.sh passes the plain build's folder, which this does not need: the targets are
# built with clang in a folder of their own, build-test-fuzz. The whole check (the build
# included) takes about three minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."

# A fresh scratch corpus: the check starts from the seeds every time. Kept when it fails
# (the input that failed is in it), removed when it passes.
work="$(mktemp -d /tmp/troupe-check-fuzz.XXXXXX)"
if FUZZ_BUILD_DIR=build-test-fuzz FUZZ_WORK_DIR="$work" scripts/fuzz.sh all \
  "${CHECK_FUZZ_SECONDS:-15}"; then
  rm -rf "$work"
  echo "check-fuzz: every target ran clean"
else
  echo "check-fuzz: a target failed; its input and output are kept in $work" >&2
  exit 1
fi
