#!/usr/bin/env bash
# demo_verify: the command line end to end. Goal: `ledger-node demo` runs the ledger,
# survives its own restart with the same chain head, and `ledger-node verify` accepts the
# result and rejects any damaged byte without modifying the data. Method: run the demo in
# a temporary directory, check what it prints, verify, then flip one bit in the middle of
# the journal and expect exit 1 naming the bad seq, with the file left byte-identical; the
# same for a bit of the Merkle tree file beside the journal.
set -u
bin=${1:?usage: demo_verify.sh path/to/ledger-node}
dir=$(mktemp -d "${TMPDIR:-/tmp}/lgt-cli-XXXXXX")
trap 'chmod -R u+w "$dir" 2>/dev/null; rm -rf "$dir"' EXIT
fail() { echo "not ok: $*"; exit 1; }

out=$("$bin" demo --dir "$dir/d" --transfers 3000) || fail "demo exited $?"
echo "$out"
grep -q "double entry holds" <<<"$out" || fail "demo did not report a zero sum"
grep -q "duplicate=true" <<<"$out" || fail "idempotent retry not reported"
grep -q "insufficient_funds" <<<"$out" || fail "overdraft not rejected"
grep -q "conflict" <<<"$out" || fail "conflicting retry not rejected"
before=$(grep '^before' <<<"$out" | sed 's/.*chain head //')
after=$(grep '^restarted' <<<"$out" | sed 's/.*chain head //')
[ -n "$before" ] && [ "$before" = "$after" ] || fail "chain head changed across restart"

v=$("$bin" verify --data "$dir/d") || fail "verify of a good journal exited $?"
grep -q "journal ok" <<<"$v" || fail "verify did not say ok: $v"
grep -q "$before" <<<"$v" || fail "verify's chain head differs from the demo's"
grep -q "merkle tree ok" <<<"$v" || fail "verify did not check the merkle tree: $v"

# A flipped bit in the tree file beside the journal: exit 1 naming seq and offset; the file
# is left as it was. Then without the file: history is intact, exit 0.
tree="$dir/d/journal/.merkle"
cp "$tree" "$dir/tree.bak"
python3 - "$tree" <<'PY' || fail "cannot damage the tree file"
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(64 + 32 * 10 + 5); b = f.read(1); f.seek(64 + 32 * 10 + 5); f.write(bytes([b[0] ^ 1]))
PY
tsum=$(sha256sum "$tree" | cut -d' ' -f1)
v=$("$bin" verify --data "$dir/d" 2>&1); rc=$?
[ $rc -eq 1 ] || fail "verify of a damaged tree exited $rc, want 1: $v"
grep -q "MERKLE TREE CORRUPT at seq .* offset 384" <<<"$v" || fail "bad tree hash not named: $v"
[ "$(sha256sum "$tree" | cut -d' ' -f1)" = "$tsum" ] || fail "verify modified the tree file"
rm "$tree"
v=$("$bin" verify --data "$dir/d" 2>&1) || fail "verify without a tree file exited $?: $v"
cp "$dir/tree.bak" "$tree"
# A partial trailing hash (a write a crash cut): a note, not damage, and said so.
printf 'xxxxx' >>"$tree"
v=$("$bin" verify --data "$dir/d" 2>&1) || fail "verify of a tree with a partial hash exited $?: $v"
grep -q "note: the tree file ends in 5 bytes of a partial hash" <<<"$v" || fail "partial hash not noted: $v"
cp "$dir/tree.bak" "$tree"

"$bin" verify 2>/dev/null; [ $? -eq 2 ] || fail "verify without --data must exit 2"
"$bin" no-such-command 2>/dev/null; [ $? -eq 2 ] || fail "unknown command must exit 2"
"$bin" verify --data "$dir/missing" 2>/dev/null; [ $? -eq 4 ] || fail "missing dir must exit 4"

seg=$(ls "$dir"/d/journal/seg-*.log | head -1)
size=$(stat -c %s "$seg")
python3 - "$seg" $((size / 2)) <<'PY' || fail "cannot damage the segment"
import os, sys
path, off = sys.argv[1], int(sys.argv[2])
mode = os.stat(path).st_mode
os.chmod(path, mode | 0o200)
with open(path, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x10]))
os.chmod(path, mode)
PY
sum_before=$(sha256sum "$seg" | cut -d' ' -f1)
v=$("$bin" verify --data "$dir/d" 2>&1); rc=$?
echo "$v"
[ $rc -eq 1 ] || fail "verify of a damaged journal exited $rc, want 1"
grep -q "CORRUPT at seq" <<<"$v" || fail "verify did not name the bad seq"
[ "$(sha256sum "$seg" | cut -d' ' -f1)" = "$sum_before" ] || fail "verify modified the journal"
echo "ok: demo and verify"
