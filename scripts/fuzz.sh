#!/usr/bin/env bash
# Run the libFuzzer targets of tests/fuzz (one per decoder of untrusted bytes) under
# ASan+UBSan, one after another, each for SECONDS (default 60) in one process.
# Usage: scripts/fuzz.sh [TARGET|all] [SECONDS]      (TARGET: codec_lines, resp, ...; `list`)
#
# The build folder (FUZZ_BUILD_DIR, default build-fuzz) is configured with clang, the
# sanitizers and TROUPE_BUILD_FUZZ=ON when it is not yet, and brought up to date. Each target
# starts from its seed corpus (tests/fuzz/corpus/TARGET, read only) and a scratch corpus
# outside the repository (FUZZ_WORK_DIR/TARGET, default /tmp/troupe-fuzz/TARGET), which
# keeps what it finds for the next run; its dictionary is tests/fuzz/dict/*.dict when there
# is one. Leaks are detected (-detect_leaks=1), an input that runs longer than FUZZ_TIMEOUT
# seconds (5) is a timeout, and the process may use FUZZ_RSS_MB (2048) of memory. FUZZ_RUNS,
# when set, ends a target after that many executions if SECONDS have not passed yet.
#
# Prints for each target its executions and executions per second. Exits non-zero if any
# target found a crash, a leak, a timeout or an out-of-memory; the input that did it is
# kept (its path is printed, under FUZZ_WORK_DIR/artifacts/TARGET/) and so is the target's
# whole output (FUZZ_WORK_DIR/TARGET.log).
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(codec_lines codec_frames codec_raw resp unpack msgpack_check irc chat_session console
  cluster_wire handshake http)
target="${1:-all}"
seconds="${2:-60}"
build="${FUZZ_BUILD_DIR:-build-fuzz}"
work="${FUZZ_WORK_DIR:-/tmp/troupe-fuzz}"
timeout="${FUZZ_TIMEOUT:-5}"
rss="${FUZZ_RSS_MB:-2048}"

if [ "$target" = list ]; then
  printf '%s\n' "${targets[@]}"
  exit 0
fi
if [ "$target" = all ]; then
  run=("${targets[@]}")
elif [[ " ${targets[*]} " == *" $target "* ]]; then
  run=("$target")
else
  echo "fuzz: no target '$target' (scripts/fuzz.sh list)" >&2
  exit 2
fi
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] ||
  { echo "fuzz: SECONDS must be a whole number above 0" >&2; exit 2; }
command -v clang >/dev/null || { echo "fuzz: clang is missing (scripts/deps.sh installs it)" >&2; exit 1; }

# Build. TROUPE_WERROR is off for the library only (clang warns where gcc does not); the fuzz
# targets keep -Werror (tests/fuzz/CMakeLists.txt).
if [ ! -f "$build/CMakeCache.txt" ]; then
  echo "fuzz: configuring $build" >&2
  CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTROUPE_SANITIZE=address \
    -DTROUPE_BUILD_FUZZ=ON -DTROUPE_BUILD_TESTS=OFF -DTROUPE_BUILD_EXAMPLES=OFF \
    -DTROUPE_BUILD_TOOLS=OFF -DTROUPE_BUILD_BENCH=OFF -DTROUPE_WERROR=OFF >/dev/null
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! cmake --build "$build" -j2 --target "${run[@]/#/fuzz_}" >"$log" 2>&1; then
  grep -E 'error|Error' "$log" >&2 || cat "$log" >&2
  echo "fuzz: building the targets in $build failed" >&2
  exit 1
fi

# The largest input each target is given: past the limits its decoder enforces where that
# is cheap (an IRC line over the 8 KiB the chat reads, a console line over 4 KiB).
max_len() {
  case "$1" in
  chat_session) echo 10000 ;;
  console) echo 6000 ;;
  *) echo 4096 ;;
  esac
}
dict_of() {
  case "$1" in
  resp) echo tests/fuzz/dict/resp.dict ;;
  irc | chat_session | codec_lines) echo tests/fuzz/dict/irc.dict ;;
  console) echo tests/fuzz/dict/console.dict ;;
  http) echo tests/fuzz/dict/http.dict ;;
  esac
}

failed=()
printf '%-14s %12s %10s  %s\n' target execs exec/s result
for t in "${run[@]}"; do
  scratch="$work/$t" artifacts="$work/artifacts/$t/" out="$work/$t.log"
  mkdir -p "$scratch" "$artifacts"
  args=(-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss" -detect_leaks=1
    -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$artifacts")
  [ -n "${FUZZ_RUNS:-}" ] && args+=(-runs="$FUZZ_RUNS")
  dict="$(dict_of "$t")"
  [ -n "$dict" ] && args+=(-dict="$dict")
  # New inputs go to the first corpus folder: the scratch one, never the repository's.
  rc=0
  ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}" \
    "$build/tests/fuzz/fuzz_$t" "${args[@]}" "$scratch" "tests/fuzz/corpus/$t" >"$out" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out" | tail -1)"
  result=ok
  if [ "$rc" -ne 0 ]; then
    what="$(grep -m1 -oE 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer): [a-z -]*[a-z]|runtime error|check failed' "$out" || true)"
    unit="$(sed -n 's/.*Test unit written to //p' "$out" | tail -1)"
    result="FAILED (exit $rc${what:+: $what})${unit:+, input kept: $unit}"
    failed+=("$t")
  fi
  printf '%-14s %12s %10s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$result"
  if [ "$rc" -ne 0 ]; then
    echo "--- $t: the end of $out" >&2
    grep -v -E '^(#[0-9]+|INFO:|MS:|\s*$)' "$out" | tail -40 >&2
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (reproduce: $build/tests/fuzz/fuzz_TARGET INPUT)" >&2
  exit 1
fi
