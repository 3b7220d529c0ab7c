# dev.sh: sourced by the benchmark scripts. dev_start BIN starts a local 3-node cluster
# (`BIN dev --transfers 0`) in a fresh /tmp directory and sets dir (its data), dev (the
# dev process) and nodes (the client addresses, comma-separated); on exit the cluster is
# stopped (SIGINT to dev, which stops its nodes) and the directory removed.
dev_start() {
    dir=$(mktemp -d /tmp/ledger-bench-XXXXXX)
    "$1" dev --dir "$dir" --transfers 0 >"$dir/dev.out" 2>&1 &
    dev=$!
    trap 'kill -INT $dev 2>/dev/null; wait $dev 2>/dev/null; rm -rf "$dir"' EXIT
    for _ in $(seq 1 300); do grep -q "Ctrl-C stops" "$dir/dev.out" && break; sleep 0.1; done
    nodes=$(sed -n 's/.*LEDGER_NODES=//p' "$dir/dev.out")
    [ -n "$nodes" ] || { cat "$dir/dev.out"; exit 1; }
}
