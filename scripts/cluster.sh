#!/usr/bin/env bash
# A local cluster to try by hand: N nodes of troupe-chat or troupe-pubsub on loopback, each
# with a debug console, seeded by the first, with one cookie; ports printed, logs and pids in
# one folder ($TROUPE_CLUSTER_DIR, default /tmp/troupe-cluster).
#
#   scripts/cluster.sh start N [chat|pubsub]   build what is missing, start N nodes
#   scripts/cluster.sh status                  which nodes run, and their ports
#   scripts/cluster.sh stop                    stop them (SIGTERM, then SIGKILL after 10 s)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${TROUPE_CLUSTER_DIR:-/tmp/troupe-cluster}"

usage() {
  echo "usage: scripts/cluster.sh start N [chat|pubsub] | status | stop" >&2
  exit 2
}

status() {
  [[ -d "$dir" ]] || { echo "no cluster in $dir"; return 0; }
  local f
  for f in "$dir"/*.pid; do
    [[ -e "$f" ]] || { echo "no cluster in $dir"; return 0; }
    local n pid state
    n="$(basename "$f" .pid)"
    pid="$(cat "$f")"
    state=stopped
    kill -0 "$pid" 2>/dev/null && state="running (pid $pid)"
    echo "$n: $state, $(cat "$dir/$n.ports")"
  done
}

stop() {
  local f
  for f in "$dir"/*.pid; do
    [[ -e "$f" ]] || continue
    kill -TERM "$(cat "$f")" 2>/dev/null || true
  done
  for _ in $(seq 100); do
    local alive=0
    for f in "$dir"/*.pid; do
      [[ -e "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null && alive=1
    done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for f in "$dir"/*.pid; do
    [[ -e "$f" ]] || continue
    kill -KILL "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  echo "stopped (logs kept in $dir)"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start() {
  local n="$1" kind="${2:-chat}"
  [[ "$n" =~ ^[1-9][0-9]?$ ]] || usage
  [[ "$kind" == chat || "$kind" == pubsub ]] || usage
  if compgen -G "$dir/*.pid" >/dev/null; then
    echo "a cluster runs in $dir already (scripts/cluster.sh stop first)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  local bin="$root/build/examples/$kind/troupe-$kind"
  if [[ ! -x "$bin" ]]; then
    cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$root/build" -j"$(nproc 2>/dev/null || echo 2)" --target "troupe-$kind" \
      troupe-console >&2
  fi
  [[ -f "$dir/cookie" ]] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/cookie"; chmod 400 "$dir/cookie"; }
  local seed="" i
  for i in $(seq 1 "$n"); do
    local name="n$i" cport port console
    cport="$(free_port)"
    port="$(free_port)"
    console="$(free_port)"
    local args=(--port "$port" --node "$name" --cluster "127.0.0.1:$cport" --cookie-file "$dir/cookie"
      --console "127.0.0.1:$console")
    [[ -n "$seed" ]] && args+=(--seeds "$seed")
    "$bin" "${args[@]}" >>"$dir/$name.log" 2>&1 &
    echo $! >"$dir/$name.pid"
    echo "$kind port $port, console port $console, cluster port $cport" >"$dir/$name.ports"
    [[ -z "$seed" ]] && seed="127.0.0.1:$cport"
  done
  sleep 0.5
  status
  echo "console: $root/build/tools/troupe-console 127.0.0.1:PORT (try: nodes, actors @n2)"
}

case "${1:-}" in
  start) [[ $# -ge 2 ]] || usage; start "$2" "${3:-chat}" ;;
  status) status ;;
  stop) stop ;;
  *) usage ;;
esac
