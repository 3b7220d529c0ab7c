#!/usr/bin/env bash
# run: the README's run command. Installs what is missing, builds, and runs the main job,
# `ledger-node dev`: a local 3-node cluster on 127.0.0.1 (free ports, data in a new
# /tmp/ledger-run-XXXXXX), a short demo workload with a progress line, balances and every
# node's chain head; then it stays up until Ctrl-C (stdin a terminal), or stops right
# after the demo (stdin not a terminal: scripts, CI). Then `ledger-node verify` checks
# every node's journal offline. Extra arguments go to `ledger-node dev` (e.g. --nodes 5).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/build.sh >/dev/null

dir=$(mktemp -d /tmp/ledger-run-XXXXXX)
args=(--dir "$dir")
if [ ! -t 0 ]; then
    args+=(--exit-after-demo)
fi
trap ':' INT  # Ctrl-C stops `ledger-node dev` (which stops its nodes); we go on to verify
status=0
build/cmd/ledger-node dev "${args[@]}" "$@" || status=$?
trap - INT
[ "$status" -eq 0 ] || exit "$status"
echo
echo "== every node's journal, checked offline (ledger-node verify) =="
for d in "$dir"/node-*/; do
    echo "${d%/}:"
    build/cmd/ledger-node verify --data "$d" | tail -2 | sed "s/^/  /"
done
echo "data kept in $dir"
