#!/usr/bin/env bash
# Install what is missing, then build and run the whole test suite three times: the plain
# build, AddressSanitizer+UBSan, and ThreadSanitizer. Exits non-zero on the first failure.
# Usage: scripts/test.sh [plain|address|thread ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

# Layout first: .clang-format is the rule, and nothing unformatted gets in.
if command -v git >/dev/null && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  echo "=== clang-format ==="
  git ls-files -z '*.c' '*.h' | xargs -0 clang-format --dry-run --Werror
fi
# The layer order (docs/architecture.md), on the sources; on the objects after each build.
echo "=== layers ==="
scripts/layers.sh

jobs=$(nproc 2>/dev/null || echo 2)
builds=("$@")
[ ${#builds[@]} -eq 0 ] && builds=(plain address thread)

for b in "${builds[@]}"; do
  dir="build-test-$b"
  san=""
  [ "$b" != plain ] && san="$b"
  echo "=== $b build ==="
  # The sanitizer builds shrink the run queues so overflow and wrap-around paths run too.
  small=OFF
  [ "$b" != plain ] && small=ON
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTROUPE_SANITIZE="$san" \
    -DTROUPE_SMALL_QUEUES="$small" -DTROUPE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$dir" -j"$jobs"
  scripts/layers.sh "$dir"
  run=()
  # ThreadSanitizer cannot map its shadow memory under the high mmap randomisation of recent
  # kernels; running without address randomisation is its documented workaround.
  [ "$b" = thread ] && command -v setarch >/dev/null && run=(setarch "$(uname -m)" -R)
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    "${run[@]}" ctest --test-dir "$dir" --output-on-failure -j"$jobs"
done
# Checks beside the test builds, each a scripts/check-*.sh taking the plain build's folder:
# the library installed and linked from outside, the .deb, the API reference.
if [[ " ${builds[*]} " == *" plain "* ]]; then
  for check in scripts/check-*.sh; do
    [ -e "$check" ] || continue
    echo "=== $(basename "$check" .sh) ==="
    "$check" build-test-plain
  done
fi
echo "all test builds passed: ${builds[*]}"
