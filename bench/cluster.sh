#!/usr/bin/env bash
# cluster.sh: start a local 3-node cluster, run `ledger-node bench` against it (TX transfers,
# CONNECTIONS connections x PIPELINE in flight each), check the replicas, stop it.
#   bench/cluster.sh [BUILD_DIR] [TX] [CONNECTIONS] [PIPELINE] [-- extra serve flags]
# Data in a fresh directory under $TMPDIR or /tmp (removed afterwards); ports from 27100.
# Every node started here is stopped by its PID on exit. Figures go to docs/benchmarks.md.
set -eu
build=${1:-build}
tx=${2:-100000}
conns=${3:-4}
pipeline=${4:-64}
shift $(( $# < 4 ? $# : 4 ))
[ "${1:-}" = "--" ] && shift
bin="$build/cmd/ledger-node"
[ -x "$bin" ] || { echo "build first (ninja -C $build)" >&2; exit 2; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/cluster-bench-XXXXXX")
base=${LG_BENCH_PORT:-27100}
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT
ic="1=127.0.0.1:$((base + 1)),2=127.0.0.1:$((base + 2)),3=127.0.0.1:$((base + 3))"
nodes=""
for i in 1 2 3; do
    "$bin" serve --id $i --data "$dir/n$i" --raft 127.0.0.1:$((base + i)) \
        --client 127.0.0.1:$((base + 10 + i)) --gossip 127.0.0.1:$((base + 20 + i)) \
        --initial-cluster "$ic" --join 127.0.0.1:$((base + 21)) --join 127.0.0.1:$((base + 22)) \
        --join 127.0.0.1:$((base + 23)) "$@" 2>"$dir/log$i" &
    pids+=($!)
    nodes="$nodes${nodes:+,}127.0.0.1:$((base + 10 + i))"
done
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cpus;" \
    "data: $(df -T "$dir" | awk 'NR==2 {print $2}')"
echo "serve flags: ${*:-(defaults)}"
for _ in $(seq 100); do
    grep -q 'event=leader_elected' "$dir"/log* 2>/dev/null && break
    sleep 0.1
done
"$bin" bench --nodes "$nodes" --transfers "$tx" --connections "$conns" \
    --concurrency $((conns * pipeline)) --accounts 1000
# Every replica applied the same index and holds the same chain head (bounded wait).
"$bin" status --nodes "$nodes" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
nodes = d.get("nodes", d) if isinstance(d, dict) else d
for n in nodes:
    print("node %s %-9s applied_index=%s journal_seq=%s chain_head=%s" % (
        n.get("node_id"), n.get("role"), n.get("applied_index"), n.get("journal_seq"),
        n.get("chain_head")))
' || true
same=0
for _ in $(seq 50); do
    if "$bin" status --nodes "$nodes" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
nodes = d.get("nodes", d) if isinstance(d, dict) else d
sys.exit(0 if len({(n.get("applied_index"), n.get("chain_head")) for n in nodes}) == 1
         and len(nodes) == 3 else 1)'; then
        same=1
        break
    fi
    sleep 0.1
done
[ "$same" = 1 ] && echo "replicas identical (same applied index and chain head)" ||
    { echo "replicas DIFFER or did not answer" >&2; exit 1; }
grep -h 'event=snapshot_taken' "$dir"/log* | wc -l | sed 's/^/snapshots taken (all nodes): /'
if [ "${LG_CLUSTER_DEMO:-0}" = 1 ]; then
    # The command-line client against the same cluster (scripts/run.sh sets this).
    export LEDGER_NODES="$nodes"
    echo
    echo "\$ ledger-node status"
    "$bin" status
    echo "\$ ledger-node send --ledger bench --from users:1:main --to users:2:main --amount 250 --asset USD/2 --reference demo-1"
    "$bin" send --ledger bench --from users:1:main --to users:2:main --amount 250 \
        --asset USD/2 --reference demo-1
    echo "\$ ledger-node tx --ledger bench --reference demo-1"
    "$bin" tx --ledger bench --reference demo-1
    echo "\$ ledger-node balance --ledger bench users:1:main"
    "$bin" balance --ledger bench users:1:main
fi
