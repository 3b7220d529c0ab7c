#!/usr/bin/env bash
# postgres: the peer benchmark on PostgreSQL 15 (docs/benchmarks.md). Installs
# postgresql-15 from Debian if missing, creates a throw-away cluster in a temporary
# directory (initdb; fsync on, synchronous_commit on, full_page_writes on: the defaults),
# starts it on a free port, loads the double-entry schema users would write (accounts with
# a non-negative balance CHECK, a transfers table with a unique reference), runs pgbench
# with one of two scripts, and stops and removes the cluster.
#   single: one transfer per SQL transaction (debit, credit, insert the transfer).
#   batch:  100 transfers per SQL transaction (one statement: 100 random transfers, their
#           accounts locked in id order, the balances updated by their net change, the
#           transfers inserted).
# Deadlocks between concurrent transfers are retried (pgbench --max-tries 10) and counted.
#   usage: bench/peers/postgres.sh single|batch [CLIENTS] [SECONDS] [ACCOUNTS] [--json]
set -euo pipefail
mode=${1:?usage: postgres.sh single|batch [CLIENTS] [SECONDS] [ACCOUNTS] [--json]}
clients=${2:-64}
secs=${3:-10}
accounts=${4:-10000}
json=${5:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/scripts/setup.sh" postgresql-15
bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/ledger-pg-XXXXXX)
chmod 755 "$dir"
as_pg=()
if [ "$(id -u)" -eq 0 ]; then   # PostgreSQL refuses to run as root
    chown postgres: "$dir"
    as_pg=(runuser -u postgres --)
fi
cleanup() {
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U bench >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w \
    -o "-p $port -k $dir -c listen_addresses='' -c max_connections=300 -c shared_buffers=1GB" \
    start >/dev/null
psql() { "${as_pg[@]}" "$bin/psql" -h "$dir" -p "$port" -U bench -d postgres -qAt "$@"; }
psql <<SQL >/dev/null
SHOW fsync; SHOW synchronous_commit;
CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
CREATE TABLE transfers (id bigserial PRIMARY KEY, src int NOT NULL REFERENCES accounts,
  dst int NOT NULL REFERENCES accounts, amount bigint NOT NULL CHECK (amount > 0),
  reference text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO accounts SELECT g, 1000000000000 FROM generate_series(0, $accounts - 1) g;
VACUUM ANALYZE;
SQL
if [ "$mode" = single ]; then
    cat >"$dir/script.sql" <<SQL
\set a random(0, $accounts - 1)
\set b random(0, $accounts - 2)
\set amt random(1, 100)
BEGIN;
UPDATE accounts SET balance = balance + CASE WHEN id = :a::int THEN -(:amt::bigint)
  ELSE :amt::bigint END
  WHERE id IN (:a::int, CASE WHEN :b::int >= :a::int THEN :b::int + 1 ELSE :b::int END);
INSERT INTO transfers (src, dst, amount, reference)
  VALUES (:a::int, CASE WHEN :b::int >= :a::int THEN :b::int + 1 ELSE :b::int END,
          :amt::bigint, :client_id::text || '-' || md5(random()::text));
COMMIT;
SQL
    per=1
else
    cat >"$dir/script.sql" <<SQL
BEGIN;
WITH t AS (
  SELECT a, (a + 1 + (random() * ($accounts - 2))::int) % $accounts AS b,
         1 + (random() * 99)::int AS amt
  FROM (SELECT (random() * ($accounts - 1))::int AS a FROM generate_series(1, 100)) r),
d AS (
  SELECT id, sum(delta) AS delta FROM (
    SELECT a AS id, -amt AS delta FROM t UNION ALL SELECT b, amt FROM t) x GROUP BY id),
l AS (  -- lock the rows in id order first: concurrent batches do not deadlock
  SELECT accounts.id FROM accounts WHERE accounts.id IN (SELECT id FROM d)
  ORDER BY accounts.id FOR UPDATE),
u AS (
  UPDATE accounts SET balance = accounts.balance + d.delta FROM d
  WHERE accounts.id = d.id AND (SELECT count(*) FROM l) >= 0
  RETURNING accounts.id)
INSERT INTO transfers (src, dst, amount, reference)
  SELECT a, b, amt, md5(random()::text) FROM t;
COMMIT;
SQL
    per=100
fi
chmod 644 "$dir/script.sql"
cd "$dir"
if ! out=$("${as_pg[@]}" "$bin/pgbench" -h "$dir" -p "$port" -U bench -n -c "$clients" -j 2 \
    -T "$secs" -M prepared --max-tries 10 -l --log-prefix "$dir/log" -f "$dir/script.sql" \
    postgres 2>&1); then
    echo "postgres.sh: pgbench failed:" >&2
    grep -m 5 -i error <<<"$out" >&2
    exit 1
fi
committed=$(psql -c "SELECT count(*) FROM transfers")
negative=$(psql -c "SELECT count(*) FROM accounts WHERE balance < 0")
sum=$(psql -c "SELECT sum(balance) FROM accounts")
python3 - "$dir" "$mode" "$clients" "$per" "$committed" "$secs" "$json" "$sum" "$accounts" <<'PY'
import glob, json, re, sys
d, mode, clients, per, committed, secs, js, total, accounts = sys.argv[1:]
lat = []
for f in glob.glob(d + "/log*"):
    for line in open(f):
        p = line.split()
        if len(p) >= 3 and p[2].isdigit():
            lat.append(int(p[2]))
lat.sort()
q = lambda x: lat[min(len(lat) - 1, int(x * len(lat)))] / 1000.0 if lat else 0.0
res = {"system": "postgresql-15", "mode": mode, "clients": int(clients),
       "transfers_per_tx": int(per), "seconds": float(secs),
       "transfers": int(committed), "transfers_per_s": int(committed) / float(secs),
       "sql_transactions": len(lat),
       "latency_ms": {"p50": q(0.5), "p99": q(0.99), "p999": q(0.999),
                      "max": lat[-1] / 1000.0 if lat else 0.0},
       "money_conserved": int(total) == int(accounts) * 1000000000000}
if js:
    print(json.dumps(res))
else:
    print(f"postgresql 15 {mode} ({per} transfers per SQL transaction), {clients} clients, "
          f"{secs} s: {res['transfers']} transfers ({res['transfers_per_s']:.0f}/s), "
          f"per SQL transaction p50 {q(0.5):.3f} ms p99 {q(0.99):.3f} ms "
          f"p999 {q(0.999):.3f} ms; money conserved: {res['money_conserved']}")
PY
[ -n "$json" ] || grep -E "number of failed|number of transactions retried|deadlock" <<<"$out" || true
