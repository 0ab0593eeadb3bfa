#!/usr/bin/env bash
# The API reference builds without a single Doxygen warning: every public function, type,
# enum value and macro of include/troupe/*.h has a comment, and the comments parse.
# Usage: scripts/check-docs.sh BUILD_DIR
# BUILD_DIR is the plain build that scripts/test.sh made (build-test-plain); the reference
# needs nothing from it, so it is configured beside it, in BUILD_DIR-docs (with
# -DTROUPE_BUILD_DOCS=ON, no tests, no benchmarks), and only the `docs` target is built.
# Quiet when it passes (one line: where the HTML is); prints Doxygen's warnings and exits
# non-zero when it does not.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
cd "$(dirname "$0")/.."
command -v doxygen >/dev/null || { echo "check-docs: doxygen is missing (scripts/deps.sh installs it)" >&2; exit 1; }

dir="$1-docs"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! cmake -S . -B "$dir" -DTROUPE_BUILD_DOCS=ON -DTROUPE_BUILD_TESTS=OFF \
  -DTROUPE_BUILD_BENCH=OFF >"$log" 2>&1; then
  cat "$log" >&2
  echo "check-docs: configuring $dir failed" >&2
  exit 1
fi
# Doxygen runs every time: the check is of the headers as they are now.
rm -f "$dir/docs/docs.stamp"
if ! cmake --build "$dir" --target docs >"$log" 2>&1; then
  grep -E 'warning|error' "$log" >&2 || cat "$log" >&2
  echo "check-docs: the docs target failed (above): a public name without a comment, a" \
    "comment Doxygen cannot read, or docs/doxygen-filter.py failing" >&2
  exit 1
fi
echo "check-docs: no warnings; HTML in $dir/docs/html/index.html"
