#!/usr/bin/env bash
# journal.sh: the journal benchmark next to the disk's own limits, in one go.
#   bench/journal.sh [BUILD_DIR] [DIR] [RECORDS]
# Runs fio (sequential 1 MiB writes + end fsync; 4 KiB writes with fdatasync each) and
# bench-journal (no sync; sync every 1000) in DIR (default: a fresh dir under $TMPDIR or
# /tmp, removed afterwards) and prints a table. Needs fio. Figures go to docs/benchmarks.md.
set -eu
build=${1:-build}
base=${2:-${TMPDIR:-/tmp}}
records=${3:-2000000}
bin="$build/bench/bench-journal"
[ -x "$bin" ] || { echo "no $bin: build first (ninja -C $build)" >&2; exit 2; }
command -v fio >/dev/null || { echo "fio not installed" >&2; exit 2; }
dir=$(mktemp -d "$base/journal-bench-XXXXXX")
trap 'rm -rf "$dir"' EXIT

echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cpus"
echo "filesystem: $(df -T "$dir" | awk 'NR==2 {print $1, $2}')"

# Same pattern as the journal's sync-every-1000 run: 264 KiB appended, then fdatasync.
pattern_bw=$(fio --name=pat --rw=write --bs=264k --fdatasync=1 --size=512M --directory="$dir" \
    --minimal | awk -F';' '{print $48}')
rm -f "$dir"/pat*
# fio prints bandwidth in KiB/s in its terse output (field 48 = write bw, 49 = write iops).
seq_bw=$(fio --name=seq --rw=write --bs=1M --size=1G --directory="$dir" --direct=0 \
    --end_fsync=1 --minimal | awk -F';' '{print $48}')
rm -f "$dir"/seq*
sync_out=$(fio --name=dsync --rw=write --bs=4k --fdatasync=1 --size=64M --directory="$dir" \
    --minimal)
rm -f "$dir"/dsync*
dsync_bw=$(awk -F';' '{print $48}' <<<"$sync_out")
dsync_iops=$(awk -F';' '{print $49}' <<<"$sync_out")

out=$("$bin" --dir "$dir" --records "$records" --body-bytes 200)
echo "$out"
nosync=$(grep '^no sync' <<<"$out")
sync1k=$(grep '^sync every' <<<"$out")
field() { sed -n "s/^[^|]* $1=\([0-9.]*\).*/\1/p" <<<"$2" | head -1; }
final() { sed -n "s/.*with final sync: [0-9.]*s appends\/s=\([0-9]*\) MB\/s=\([0-9.]*\).*/\1 \2/p" <<<"$1"; }

printf '\n%-44s %14s %10s\n' "run" "appends/s" "MB/s"
printf '%-44s %14s %10.1f\n' "fio seq write 1M, end fsync" "-" "$(bc -l <<<"$seq_bw*1024/1000000")"
printf '%-44s %14s %10.1f\n' "fio 4k write + fdatasync each (IOPS=$dsync_iops)" "-" \
    "$(bc -l <<<"$dsync_bw*1024/1000000")"
printf '%-44s %14s %10.1f\n' "fio 264k write + fdatasync each" "-" \
    "$(bc -l <<<"$pattern_bw*1024/1000000")"
printf '%-44s %14s %10s\n' "journal 200 B, no sync (loop)" "$(field 'appends\/s' "$nosync")" \
    "$(field 'MB\/s' "$nosync")"
read -r a m <<<"$(final "$nosync")"
printf '%-44s %14s %10s\n' "journal 200 B, no sync (+ final sync)" "$a" "$m"
read -r a m <<<"$(final "$sync1k")"
printf '%-44s %14s %10s\n' "journal 200 B, sync every 1000" "$a" "$m"
echo "sync-every-1000 / fio sequential: $(bc -l <<<"scale=0; 100*$m*1000000/($seq_bw*1024)")%"
echo "sync-every-1000 / fio 264k+fdatasync: $(bc -l <<<"scale=0; 100*$m*1000000/($pattern_bw*1024)")%"
