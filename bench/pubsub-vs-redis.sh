#!/usr/bin/env bash
# troupe-pubsub against redis-server on this machine: the same loads from the same load tool
# (tools/pubsub-load.c), run alternately, ROUNDS times each (default 3), and the medians and
# their ratio printed. Both servers run on loopback ports of their own, started here and
# stopped at the end. Release build (into build-release/).
#
#   bench/pubsub-vs-redis.sh [ROUNDS]
#
# Loads:
#   pipelined  50 subscribers on 10 channels, 4 publishers each pipelining 100,000 PUBLISHes
#              of 64 bytes (figure: messages delivered per second)
#   fanout     1 channel, 1,000 subscribers, 1 publisher pipelining 20,000 PUBLISHes
#   latency    1 publisher, 1 subscriber, one PUBLISH at a time (p50 and p99 in microseconds)
#   idle       memory per idle subscribed connection: 10,000 of them, each on a channel of its
#              own; (RSS while held - RSS before) / 10,000
# troupe-pubsub runs with 2 workers (the bench spec's thread count); redis-server is one
# thread. The load tool shares the machine with the server it measures.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-3}"
command -v redis-server >/dev/null || { echo "bench: redis-server is not installed" >&2; exit 1; }

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DTROUPE_BUILD_TESTS=OFF >&2
cmake --build build-release -j2 --target troupe-pubsub troupe-pubsub-load >&2
load="build-release/tools/troupe-pubsub-load"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tport=16391
rport=16392
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

start_servers() {
  build-release/examples/pubsub/troupe-pubsub --port "$tport" --workers 2 >/dev/null 2>&1 &
  tpid=$!
  redis-server --port "$rport" --save '' --appendonly no --bind 127.0.0.1 \
    --maxclients 20000 >/dev/null 2>&1 &
  rpid=$!
  pids=("$tpid" "$rpid")
  for port in "$tport" "$rport"; do
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.05
    done
  done
}

stop_servers() {
  cleanup
  pids=()
}

field() { # field NAME LINE
  sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"
}

median() {
  sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

declare -A results
run_load() { # run_load NAME FIELD ARGS...: one round of NAME against each server, alternating
  local name="$1" what="$2"
  shift 2
  for server in troupe redis; do
    local port=$tport
    [[ $server == redis ]] && port=$rport
    local line
    line=$("$load" --port "$port" "$@")
    echo "  $server $name: $line" >&2
    [[ "$(field ok "$line")" == 1 ]] || { echo "bench: $server failed the $name load" >&2; exit 1; }
    for f in $what; do
      results["$name|$server|$f"]+="$(field "$f" "$line") "
    done
  done
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

idle_round() { # memory per idle subscribed connection, each server
  local n=10000
  for server in troupe redis; do
    local port=$tport pid=$tpid
    [[ $server == redis ]] && port=$rport pid=$rpid
    local before during
    # After the loads, idle long enough that the memory they freed has gone back to the
    # system (troupe's I/O thread trims an idle node's heap, io/trim.c): otherwise a trim
    # during the hold would be counted against the connections.
    sleep 3
    before=$(rss_kb "$pid")
    coproc IDLE { "$load" --port "$port" --idle "$n" --hold-ms 3000; }
    local ready
    read -r ready <&"${IDLE[0]}"
    [[ "$ready" == *ok=1* ]] || { echo "bench: $server: $ready" >&2; exit 1; }
    sleep 0.5
    during=$(rss_kb "$pid")
    wait "$IDLE_PID" || true
    local per=$(((during - before) * 1024 / n))
    echo "  $server idle: rss_before_kb=$before rss_held_kb=$during bytes_per_conn=$per" >&2
    results["idle|$server|bytes_per_conn"]+="$per "
    sleep 0.5
  done
}

for r in $(seq "$rounds"); do
  echo "round $r" >&2
  start_servers
  run_load pipelined delivered_per_s --subs 50 --channels 10 --pubs 4 --msgs 100000 --bytes 64 \
    --window 100000
  run_load fanout delivered_per_s --subs 1000 --channels 1 --pubs 1 --msgs 20000 --bytes 64 \
    --window 20000
  run_load latency "p50_us p99_us" --latency --msgs 20000 --bytes 64
  idle_round
  stop_servers
done

echo "# medians of $rounds rounds, alternating; $(nproc) cores, $(uname -m), $(date -I)"
echo "# load      figure              troupe-pubsub   redis-server   troupe/redis"
report() { # report NAME FIELD BIGGER_IS_BETTER
  local t r
  t=$(tr ' ' '\n' <<<"${results[$1|troupe|$2]}" | grep . | median)
  r=$(tr ' ' '\n' <<<"${results[$1|redis|$2]}" | grep . | median)
  local ratio
  if [[ $3 == yes ]]; then ratio=$(awk -v a="$t" -v b="$r" 'BEGIN {printf "%.2f", a / b}')
  else ratio=$(awk -v a="$t" -v b="$r" 'BEGIN {printf "%.2f", b / a}'); fi
  printf "%-10s %-19s %14s %14s %13sx\n" "$1" "$2" "$t" "$r" "$ratio"
}
report pipelined delivered_per_s yes
report fanout delivered_per_s yes
report latency p50_us no
report latency p99_us no
report idle bytes_per_conn no
echo "# ratio: troupe's advantage (above 1: troupe ahead; for latency and memory, redis / troupe)"
