#!/usr/bin/env bash
# run: the README's run command. Installs what is missing, builds, and runs the main job:
# a local 3-node cluster (`ledger-node serve` x3 on 127.0.0.1) taking 20 000 replicated
# transfers from 4 pipelined connections, then every node's chain head and a few
# command-line client calls (status, send, tx, balance) against it; then
# `ledger-node demo` (the state machine in one process: workload, restart, verify) and
# short runs of the journal and state machine benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh >/dev/null

dir=$(mktemp -d /tmp/ledger-run-XXXXXX)   # the demo's data stays here for you to inspect
trap 'rm -rf "$dir/bench-journal" "$dir/bench-fsm"' EXIT
echo "== a local 3-node cluster: 20000 replicated transfers (bench/cluster.sh) =="
LG_CLUSTER_DEMO=1 bench/cluster.sh build 20000 4 64
echo
echo "== the ledger state machine in one process (ledger-node demo) =="
build/cmd/ledger-node demo --dir "$dir/demo"
echo
build/cmd/ledger-node verify --data "$dir/demo"
echo
mkdir -p "$dir/bench-journal" "$dir/bench-fsm"
echo "== journal benchmark (bench/journal.sh has the full run with fio) =="
build/bench/bench-journal --dir "$dir/bench-journal" --records 200000
echo
echo "== state machine benchmark =="
build/bench/bench-fsm --dir "$dir/bench-fsm" --tx 300000 --tx5 50000
