#!/usr/bin/env bash
# compare: ledger-node against its peers, side by side from one run (docs/benchmarks.md).
# Builds (release flags of build/), starts a local 3-node ledger cluster (`ledger-node dev
# --transfers 0`), then runs, one after the other on the same machine:
#   batched:     ledger-node bench --batch 100      vs PostgreSQL 15, 100 transfers per SQL tx
#   one per req: ledger-node bench, concurrency 64  vs etcd 3.4 (3 members), PostgreSQL 15
#   latency:     concurrency 1 for all three
# and prints one Markdown table (rows: system, workload, command; transfers/s; latency per
# request p50/p99/p999). fsync is on everywhere (ledger: Raft log fsync on a majority of 3
# voters; etcd: 3 members; PostgreSQL: one server, synchronous_commit on).
#   usage: bench/compare.sh [SECONDS]      (default 10 per row)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
scripts/build.sh >/dev/null
ninja -C build bench/etcd-load >/dev/null
bin=build/cmd/ledger-node
. bench/dev.sh
dev_start "$bin"

rows=()
row() { # row SYSTEM WORKLOAD COMMAND JSON
    rows+=("$(python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, sys
system, workload, cmd, doc = sys.argv[1:]
j = json.loads(doc)
rate = j.get("transfers_per_s") or j.get("puts_per_s")
l = j["latency_ms"]
print(f"| {system} | {workload} | {rate:,.0f} | {l['p50']:.2f} | {l['p99']:.2f} | "
      f"{l['p999']:.2f} | `{cmd}` |")
PY
)")
    echo "${rows[-1]}" >&2
}
lb() { "$bin" bench --nodes "$nodes" --duration "$secs" --json "$@" 2>/dev/null; }

c="ledger-node bench --batch 100 --concurrency 16 --duration $secs"
row "ledger-node (3 voters)" "batched, 100 per request, 16 in flight" "$c" \
    "$(lb --batch 100 --concurrency 16)"
c="bench/peers/postgres.sh batch 16 $secs"
row "PostgreSQL 15 (1 server)" "batched, 100 per SQL transaction, 16 clients" "$c" \
    "$(bench/peers/postgres.sh batch 16 "$secs" 10000 --json)"
c="ledger-node bench --concurrency 64 --duration $secs"
row "ledger-node (3 voters)" "1 per request, 64 in flight" "$c" "$(lb --concurrency 64)"
c="bench/peers/etcd.sh build 64 $secs"
row "etcd 3.4 (3 members)" "1 put per transfer, 64 clients" "$c" \
    "$(bench/peers/etcd.sh build 64 "$secs" --json)"
c="bench/peers/postgres.sh single 64 $secs"
row "PostgreSQL 15 (1 server)" "1 per SQL transaction, 64 clients" "$c" \
    "$(bench/peers/postgres.sh single 64 "$secs" 10000 --json)"
c="ledger-node bench --concurrency 1 --duration $secs"
row "ledger-node (3 voters)" "1 per request, 1 in flight" "$c" "$(lb --concurrency 1)"
c="bench/peers/etcd.sh build 1 $secs"
row "etcd 3.4 (3 members)" "1 put, 1 client" "$c" "$(bench/peers/etcd.sh build 1 "$secs" --json)"
c="bench/peers/postgres.sh single 1 $secs"
row "PostgreSQL 15 (1 server)" "1 per SQL transaction, 1 client" "$c" \
    "$(bench/peers/postgres.sh single 1 "$secs" 10000 --json)"

echo
echo "$(date -u +%Y-%m-%d), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(free -g | awk '/Mem:/{print $2}') GiB; every process on this machine"
echo
echo "| system | workload | transfers/s | p50 ms | p99 ms | p999 ms | command |"
echo "|---|---|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
