#!/usr/bin/env bash
# etcd: the peer benchmark on etcd 3.4 (docs/benchmarks.md). Installs etcd-server and
# etcd-client from Debian if missing, starts 3 members on 127.0.0.1 (free ports, data in
# a temporary directory, fsync on as etcd always does), finds the leader, runs
# build/bench/etcd-load (one put per transfer, closed loop) against it, stops the members
# by PID and removes the data.
#   usage: bench/peers/etcd.sh [BUILD_DIR] [CONCURRENCY] [SECONDS] [--json]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
conc=${2:-64}
secs=${3:-10}
json=${4:-}
"$root/scripts/setup.sh" etcd-server etcd-client
[ -x "$root/$build/bench/etcd-load" ] || ninja -C "$root/$build" bench/etcd-load >/dev/null

dir=$(mktemp -d /tmp/ledger-etcd-XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
declare -a cport pport
initial=""
for i in 1 2 3; do
    cport[$i]=$(free_port)
    pport[$i]=$(free_port)
    initial+="${initial:+,}m$i=http://127.0.0.1:${pport[$i]}"
done
for i in 1 2 3; do
    etcd --name "m$i" --data-dir "$dir/m$i" \
        --listen-client-urls "http://127.0.0.1:${cport[$i]}" \
        --advertise-client-urls "http://127.0.0.1:${cport[$i]}" \
        --listen-peer-urls "http://127.0.0.1:${pport[$i]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${pport[$i]}" \
        --initial-cluster "$initial" --initial-cluster-state new \
        --log-level error >"$dir/m$i.log" 2>&1 &
    pids+=($!)
done
endpoints="127.0.0.1:${cport[1]},127.0.0.1:${cport[2]},127.0.0.1:${cport[3]}"
leader=""
for _ in $(seq 1 100); do
    leader=$(ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint status -w json 2>/dev/null |
        python3 -c 'import json,sys
for e in json.load(sys.stdin):
    h = e["Status"]["header"]
    if h["member_id"] == e["Status"]["leader"]:
        print(e["Endpoint"])' 2>/dev/null || true)
    [ -n "$leader" ] && break
    sleep 0.2
done
[ -n "$leader" ] || { echo "etcd.sh: no leader in 20 s" >&2; tail "$dir"/m*.log >&2; exit 1; }
[ -n "$json" ] || echo "etcd 3.4 (3 members on 127.0.0.1, leader $leader), $conc clients, ${secs} s"
"$root/$build/bench/etcd-load" --endpoint "$leader" --concurrency "$conc" --duration "$secs" $json
