#!/usr/bin/env bash
# run: the README's run command. Installs what is missing, builds, and runs the main job:
# `ledger-node demo` (the ledger state machine on a short workload, restart, verify),
# then the journal and state machine benchmarks with small sizes.
# (When the Raft cluster lands this becomes `ledger-node dev`: a local 3-node cluster.)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh >/dev/null

dir=$(mktemp -d /tmp/ledger-run-XXXXXX)   # the demo's data stays here for you to inspect
trap 'rm -rf "$dir/bench-journal" "$dir/bench-fsm"' EXIT
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
