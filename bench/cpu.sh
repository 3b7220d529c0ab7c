#!/usr/bin/env bash
# cpu: CPU time per transfer of every process of a local 3-node cluster under
# `ledger-node bench` (docs/benchmarks.md, "What moved the numbers"): starts `ledger-node
# dev --transfers 0`, reads utime+stime of each node from /proc before and after the bench,
# prints transfers/s, latency, and ns of CPU per transfer for each node and the client, then
# stops the cluster (SIGINT to dev, which stops its nodes).
#   usage: bench/cpu.sh [BUILD] -- [ledger-node bench flags]   (default build/)
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [ $# -gt 0 ] && [ "$1" != "--" ]; then build=$1; shift; fi
[ "${1:-}" = "--" ] && shift
bin=$build/cmd/ledger-node
. bench/dev.sh
dev_start "$bin"
pids=$(pgrep -f "serve --id [0-9] --data $dir/node")
snap() { for p in $pids; do awk '{print $14 + $15}' "/proc/$p/stat"; done; }
tick=$(getconf CLK_TCK)
before=($(snap))
/usr/bin/time -f "%U %S" -o "$dir/client" "$bin" bench --nodes "$nodes" "$@" >"$dir/out" 2>/dev/null
after=($(snap))
tr=$(grep -o "[0-9]* transfers ok" "$dir/out" | tail -1 | cut -d" " -f1)
head -3 "$dir/out"
i=0
for p in $pids; do
    echo "node pid $p: $(( (${after[$i]} - ${before[$i]}) * 1000000000 / tick / tr )) ns CPU per transfer"
    i=$((i + 1))
done
awk -v tr="$tr" '{printf "client: %d ns CPU per transfer\n", ($1 + $2) * 1e9 / tr}' "$dir/client"
