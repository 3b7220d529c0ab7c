#!/usr/bin/env bash
# tidy: style rules as a test (STYLE §9). Fails listing every violation.
#  - lines of C at most 100 columns;
#  - no unsafe string calls (strcpy, strcat, sprintf, gets, strtok);
#  - fsm/ stays pure: no libuv or libraft headers, no clocks, no randomness (DESIGN §1.7).
set -u
root=${1:-.}
cd "$root" || exit 2
fail=0
sources=$(git ls-files -- '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
for f in $sources; do
    [ -f "$f" ] || continue
    long=$(awk 'length($0) > 100 { printf "%s:%d: line longer than 100 columns\n", FILENAME, NR }' "$f")
    if [ -n "$long" ]; then echo "$long"; fail=1; fi
    bad=$(grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|strtok)\s*\(' "$f" | grep -v 'tidy: allow')
    if [ -n "$bad" ]; then echo "$bad" | sed "s|^|$f:|;s|$| (unsafe string call)|"; fail=1; fi
done
for f in $(echo "$sources" | tr ' ' '\n' | grep '^fsm/'); do
    [ -f "$f" ] || continue
    impure=$(grep -nE '#include\s*[<"](uv\.h|raft\.h|raft/|time\.h|sys/time\.h)|\b(rand|random|srand|clock_gettime|gettimeofday|time|getrandom|arc4random)\s*\(' "$f")
    if [ -n "$impure" ]; then echo "$impure" | sed "s|^|$f:|;s|$| (fsm/ must be deterministic and I/O-free)|"; fail=1; fi
done
[ $fail -eq 0 ] && echo "tidy: ok"
exit $fail
