#!/usr/bin/env bash
# dev: `ledger-node dev` end to end (docs/cli.md). Goal: it starts a local cluster, runs the
# demo (funding, transfers, a rejected overdraft, an idempotent and a conflicting retry),
# shows identical chain heads, and stops every node it started: after the demo with
# --exit-after-demo, on Ctrl-C (SIGINT) with every node exiting 0, and by itself (non-zero,
# the others stopped) when one of its nodes dies. Every wait is bounded; every pid the
# command printed is checked gone (and SIGKILLed by the trap if not).
set -u
bin=${1:?usage: dev.sh path/to/ledger-node}
dir=$(mktemp -d "${TMPDIR:-/tmp}/lgt-dev-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "not ok: $*"; [ -f "$dir/out" ] && tail -30 "$dir/out"; exit 1; }

node_pids() { sed -n 's/^  node [0-9]*  pid \([0-9]*\) .*/\1/p' "$1"; }
wait_for() { # wait_for FILE PATTERN SECONDS
    for _ in $(seq 1 $(($3 * 10))); do grep -q "$2" "$1" && return 0; sleep 0.1; done
    return 1
}
all_gone() { for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }

# 1. --exit-after-demo: the whole demo, then every node stopped.
"$bin" dev --dir "$dir/a" --transfers 400 --exit-after-demo >"$dir/out" 2>&1 ||
    fail "dev --exit-after-demo exited $?"
mapfile -t ps < <(node_pids "$dir/out")
pids+=("${ps[@]}")
[ ${#ps[@]} -eq 3 ] || fail "expected 3 node pids, got ${#ps[@]}"
grep -q "transfers 400/400" "$dir/out" || fail "no final progress line"
grep -q "insufficient_funds" "$dir/out" || fail "overdraft not rejected"
grep -q "applied once" "$dir/out" || fail "idempotent retry not shown"
grep -q "conflict" "$dir/out" || fail "conflicting retry not rejected"
grep -q "sum over every account: 0.00" "$dir/out" || fail "balances do not sum to zero"
grep -q "identical chain heads" "$dir/out" || fail "chain heads not identical"
[ "$(grep -c 'chain head [0-9a-f]\{64\}' "$dir/out")" -eq 3 ] || fail "not 3 chain heads"
[ "$(grep -o 'chain head [0-9a-f]*' "$dir/out" | sort -u | wc -l)" -eq 1 ] ||
    fail "chain heads differ"
all_gone "${ps[@]}" || fail "a node outlived dev --exit-after-demo"
for i in 1 2 3; do
    grep -q "event=exit code=0" "$dir/a/node-$i.log" || fail "node $i did not exit 0"
    # A cluster key for every node: gossip authenticated, membership managed.
    grep -q "event=membership_disabled" "$dir/a/node-$i.log" &&
        fail "node $i runs without a cluster key (membership disabled)"
done
[ "$(stat -c %a "$dir/a/gossip.key")" = 600 ] || fail "gossip.key is not mode 0600"
grep -qx '[0-9a-f]\{64\}' "$dir/a/gossip.key" || fail "gossip.key is not 64 hex characters"

# 2. Ctrl-C: stays up until SIGINT, then every node exits 0.
"$bin" dev --nodes 3 --dir "$dir/b" --transfers 100 >"$dir/out" 2>&1 &
dev=$!
pids+=("$dev")
wait_for "$dir/out" "Ctrl-C stops every node" 60 || fail "dev did not come up"
mapfile -t ps < <(node_pids "$dir/out")
pids+=("${ps[@]}")
sleep 0.5
kill -0 "$dev" 2>/dev/null || fail "dev did not stay in the foreground"
grep -q "LEDGER_NODES=127.0.0.1:" "$dir/out" || fail "no how-to-talk-to-it lines"
m=$(sed -n 's/^  node 1  .* metrics \(127.0.0.1:[0-9]*\).*/\1/p' "$dir/out")
python3 -c "import urllib.request,sys; b=urllib.request.urlopen('http://$m/metrics',timeout=5).read()
sys.exit(0 if b'ledger_applied_index' in b else 1)" || fail "node 1 serves no /metrics at $m"
# Gossip formed: node 1 sees all 3 members alive (bounded wait).
python3 - "$m" <<'PY' || fail "gossip did not form: node 1 does not see 3 members alive"
import re, sys, time, urllib.request
for _ in range(100):
    b = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=5).read().decode()
    m = re.search(r'^ledger_gossip_members\{state="alive"\} (\S+)$', b, re.M)
    if m and float(m.group(1)) == 3:
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
kill -INT "$dev"
for _ in $(seq 1 200); do kill -0 "$dev" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dev" 2>/dev/null && fail "dev still running 20 s after SIGINT"
wait "$dev"; rc=$?
[ "$rc" -eq 0 ] || fail "dev exited $rc after SIGINT"
all_gone "${ps[@]}" || fail "a node outlived dev after SIGINT"
for i in 1 2 3; do
    grep -q "event=exit code=0" "$dir/b/node-$i.log" || fail "node $i did not stop cleanly"
done

# 3. A node dies: dev says so, stops the others, exits non-zero.
"$bin" dev --dir "$dir/c" --transfers 0 >"$dir/out" 2>&1 &
dev=$!
pids+=("$dev")
wait_for "$dir/out" "Ctrl-C stops every node" 60 || fail "dev did not come up (3)"
mapfile -t ps < <(node_pids "$dir/out")
pids+=("${ps[@]}")
kill -9 "${ps[1]}"
for _ in $(seq 1 200); do kill -0 "$dev" 2>/dev/null || break; sleep 0.1; done
kill -0 "$dev" 2>/dev/null && fail "dev kept running after a node died"
wait "$dev"; rc=$?
[ "$rc" -ne 0 ] || fail "dev exited 0 after a node died"
grep -q "node 2 killed by signal 9" "$dir/out" || fail "the dead node was not reported"
all_gone "${ps[@]}" || fail "nodes left running after one died"

# 4. Usage errors.
"$bin" dev --nodes 4 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--nodes 4 must exit 2"
"$bin" dev --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown flag must exit 2"
"$bin" dev --help | grep -q "exit-after-demo" || fail "--help"
echo "ok: dev"
