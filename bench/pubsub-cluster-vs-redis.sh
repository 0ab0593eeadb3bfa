#!/usr/bin/env bash
# Distributed pub/sub: a 3-node troupe-pubsub cluster against a 3-master Redis Cluster, both
# on loopback on this machine, the same load from the same tool (tools/pubsub-load.c), run
# alternately ROUNDS times (default 3); medians and their ratio printed.
#
#   bench/pubsub-cluster-vs-redis.sh [ROUNDS]
#
# Load: 60 subscribers on 10 channels spread over the three nodes (subscriber i on node
# i % 3), 2 publishers on the first node each pipelining 100,000 PUBLISHes of 64 bytes;
# every subscriber must get every message of its channel, in order. Figure: messages
# delivered per second. troupe-pubsub nodes run 2 workers each; redis-server is one thread
# each; the cluster of either kind and the load tool share the machine's cores.
# Redis Cluster broadcasts every PUBLISH to every node over its cluster bus; troupe sends a
# message once to each node that has subscribers of the channel.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-3}"
command -v redis-server >/dev/null || { echo "bench: redis-server is not installed" >&2; exit 1; }

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DTROUPE_BUILD_TESTS=OFF >&2
cmake --build build-release -j2 --target troupe-pubsub troupe-pubsub-load >&2
load="build-release/tools/troupe-pubsub-load"
dir="$(mktemp -d /tmp/troupe-bench-cluster.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/cookie"
chmod 400 "$dir/cookie"

wait_port() { # port
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "bench: nothing listens on $1" >&2
  return 1
}

tports=(16401 16402 16403)
cports=(16411 16412 16413)
rports=(16421 16422 16423)
load_args=(--subs 60 --channels 10 --pubs 2 --msgs 100000 --bytes 64)

run_troupe() {
  local started=()
  for i in 0 1 2; do
    local seeds=()
    [[ $i -gt 0 ]] && seeds=(--seeds "127.0.0.1:${cports[0]}")
    build-release/examples/pubsub/troupe-pubsub --port "${tports[$i]}" --workers 2 \
      --node "t$i" --cluster "127.0.0.1:${cports[$i]}" --cookie-file "$dir/cookie" \
      "${seeds[@]}" >/dev/null 2>>"$dir/troupe.log" &
    started+=($!)
  done
  pids+=("${started[@]}")
  for p in "${tports[@]}"; do wait_port "$p"; done
  sleep 1 # the mesh and the groups settle before the subscribers come
  "$load" --port "${tports[0]}" --sub-ports "$(IFS=,; echo "${tports[*]}")" "${load_args[@]}"
  kill "${started[@]}"
  wait "${started[@]}" 2>/dev/null || true
}

run_redis() {
  local started=()
  for i in 0 1 2; do
    mkdir -p "$dir/r$i"
    (cd "$dir/r$i" && exec redis-server --port "${rports[$i]}" --cluster-enabled yes \
      --cluster-config-file nodes.conf --save '' --appendonly no --bind 127.0.0.1 \
      >/dev/null 2>&1) &
    started+=($!)
  done
  pids+=("${started[@]}")
  for p in "${rports[@]}"; do wait_port "$p"; done
  redis-cli --cluster create "127.0.0.1:${rports[0]}" "127.0.0.1:${rports[1]}" \
    "127.0.0.1:${rports[2]}" --cluster-replicas 0 --cluster-yes >/dev/null
  for _ in $(seq 100); do
    redis-cli -p "${rports[0]}" cluster info | grep -q 'cluster_state:ok' && break
    sleep 0.1
  done
  "$load" --port "${rports[0]}" --sub-ports "$(IFS=,; echo "${rports[*]}")" "${load_args[@]}"
  kill "${started[@]}"
  wait "${started[@]}" 2>/dev/null || true
  rm -rf "$dir"/r?
}

rate() { sed -n 's/.*delivered_per_s=\([0-9]*\).*ok=1.*/\1/p'; }
t=() r=()
for round in $(seq "$rounds"); do
  line="$(run_troupe)"
  echo "troupe round $round: $line" >&2
  t+=("$(echo "$line" | rate)")
  line="$(run_redis)"
  echo "redis  round $round: $line" >&2
  r+=("$(echo "$line" | rate)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
tm="$(median "${t[@]}")"
rm_="$(median "${r[@]}")"
printf '%-10s %-18s %14s %14s %8s\n' load figure troupe redis ratio
printf '%-10s %-18s %14s %14s %8s\n' cluster delivered_per_s "$tm" "$rm_" \
  "$(awk -v a="$tm" -v b="$rm_" 'BEGIN {printf "%.2fx", (b > 0 ? a / b : 0)}')"
