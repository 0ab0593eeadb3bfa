# Network namespaces for the cluster's fault tests (sourced by tests/cluster/chaos.sh and
# tests/soak/cluster_soak.sh): N node namespaces, each with a veth whose other end is on a
# bridge in a namespace of its own, so nothing is added to the machine's own namespace and
# two runs at once do not meet. Node i is 10.77.0.i/24 on its eth0; loopback is up in each
# (a node's IRC clients connect there, out of the way of the faults).
#
#   netns_up N        make them; sets NETNS_PREFIX (namespaces PREFIXbr, PREFIXn1..PREFIXnN)
#   netns_down        end every process left in them and delete them (for a trap)

NETNS_PREFIX="trc$$"

netns_up() {
  local n=$1 i ns br="${NETNS_PREFIX}br"
  ip netns add "$br"
  ip -n "$br" link set lo up
  ip -n "$br" link add br0 type bridge
  ip -n "$br" link set br0 up
  for ((i = 1; i <= n; i++)); do
    ns="${NETNS_PREFIX}n$i"
    ip netns add "$ns"
    ip -n "$br" link add "v$i" type veth peer name eth0 netns "$ns"
    ip -n "$br" link set "v$i" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "10.77.0.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
}

netns_down() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    [[ "$ns" == "$NETNS_PREFIX"* ]] || continue
    # Only what runs inside the namespaces this run made: its nodes, if any are left.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
  done
}
