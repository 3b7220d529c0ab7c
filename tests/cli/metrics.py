#!/usr/bin/env python3
"""metrics: `serve --metrics HOST:PORT` end to end (docs/metrics.md).

Goal: a node's /metrics page is valid Prometheus text and reports what happened: role,
indexes, journal seq, transactions committed and rejected by code, requests by op and code
with latency histograms; bad HTTP gets 400/404/405 and the node keeps serving.
Method: one single-voter node on 127.0.0.1 with free ports; one committed and one
rejected transfer through the CLI; scrape, parse every line, check values; then bad
requests; SIGTERM and exit 0. Every wait is bounded; the node is killed by PID at exit.

usage: metrics.py path/to/ledger-node
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="lgt-metrics-")
node = None


def fail(msg):
    print("not ok:", msg)
    if node is not None:
        node.kill()
        node.wait()
        with open(os.path.join(tmp, "node.log")) as f:
            print("".join(f.readlines()[-20:]))
    sys.exit(1)


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(port, raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(raw)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, head.decode(), body.decode()


def scrape(port):
    status, head, body = http(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    if status != 200:
        fail(f"GET /metrics answered {status}")
    if "text/plain; version=0.0.4" not in head:
        fail(f"content type: {head}")
    m = re.search(r"Content-Length: (\d+)", head)
    if not m or int(m.group(1)) != len(body.encode()):
        fail("Content-Length does not match the body")
    return parse(body)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*"'
                    r'(,[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*")*)\})? (-?[0-9.e+-]+|\+Inf|NaN)$')


def parse(body):
    """Every line valid, every series once, TYPE before samples, histograms cumulative."""
    series = {}
    types = {}
    for line in body.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            if name in types:
                fail(f"TYPE {name} twice")
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        if not m:
            fail(f"not a valid sample line: {line!r}")
        name, labels, value = m.group(1), m.group(3) or "", float(m.group(5))
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in types and base not in types:
            fail(f"sample before its TYPE: {line}")
        key = (name, labels)
        if key in series:
            fail(f"series twice: {line}")
        series[key] = value
    buckets = {}
    for (name, labels), v in series.items():
        if name.endswith("_bucket"):
            lab = dict(kv.split("=", 1) for kv in labels.split(","))
            le = lab.pop("le").strip('"')
            k = (name, tuple(sorted(lab.items())))
            buckets.setdefault(k, []).append((float("inf") if le == "+Inf" else float(le), v))
    for k, bs in buckets.items():
        bs.sort()
        counts = [v for _, v in bs]
        if counts != sorted(counts):
            fail(f"histogram {k} not cumulative: {bs}")
        count = series.get((k[0][:-len("_bucket")] + "_count", ",".join(f"{a}={b}" for a, b in k[1])))
        if count is None or count != counts[-1]:
            fail(f"histogram {k}: +Inf bucket {counts[-1]} != count {count}")
    return series


def cli(*args):
    env = dict(os.environ, LEDGER_NODES=f"127.0.0.1:{client}")
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=30)


try:
    raft, client, metrics = free_port(), free_port(), free_port()
    gossip = free_port(socket.SOCK_DGRAM)
    log = open(os.path.join(tmp, "node.log"), "w")
    node = subprocess.Popen([binary, "serve", "--id", "1", "--data", os.path.join(tmp, "n1"),
                             "--raft", f"127.0.0.1:{raft}", "--client", f"127.0.0.1:{client}",
                             "--gossip", f"127.0.0.1:{gossip}",
                             "--initial-cluster", f"1=127.0.0.1:{raft}",
                             "--metrics", f"127.0.0.1:{metrics}"],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 15
    while True:
        if node.poll() is not None:
            fail(f"node exited {node.returncode}")
        try:
            s = scrape(metrics)
            if s.get(("ledger_role", 'role="leader"')) == 1:
                break
        except (ConnectionRefusedError, OSError):
            pass
        if time.time() > deadline:
            fail("no leader with a metrics page in 15 s")
        time.sleep(0.1)

    r = cli("send", "--ledger", "l", "--from", "world", "--to", "users:a", "--amount", "5",
            "--asset", "USD", "--reference", "m-1")
    if r.returncode != 0:
        fail(f"send: {r.returncode} {r.stderr}")
    r = cli("send", "--ledger", "l", "--from", "users:b", "--to", "users:a", "--amount", "5",
            "--asset", "USD")
    if r.returncode != 3:
        fail(f"overdraft: expected exit 3, got {r.returncode} {r.stderr}")
    cli("tx", "--ledger", "l", "--reference", "nope")

    s = scrape(metrics)
    want = {
        ("ledger_role", 'role="leader"'): 1,
        ("ledger_role", 'role="follower"'): 0,
        ("ledger_leader_id", ""): 1,
        ("ledger_journal_seq", ""): 1,
        ("ledger_transactions_total", 'result="ok"'): 1,
        ("ledger_transactions_total", 'result="insufficient_funds"'): 1,
        ("ledger_requests_total", 'op="submit",code="ok"'): 1,
        ("ledger_requests_total", 'op="submit",code="insufficient_funds"'): 1,
        ("ledger_requests_total", 'op="get_tx",code="not_found"'): 1,
        ("ledger_request_duration_seconds_count", 'op="submit"'): 2,
        ("ledger_gossip_members", 'state="alive"'): 1,
        ("ledger_gossip_members", 'state="dead"'): 0,
        ("ledger_gossip_dropped_total", 'reason="auth"'): 0,
    }
    for k, v in want.items():
        if s.get(k) != v:
            fail(f"{k[0]}{{{k[1]}}} = {s.get(k)}, want {v}")
    if s[("ledger_commit_index", "")] < 2 or s[("ledger_applied_index", "")] < 2:
        fail("commit/applied index below 2")
    if s[("ledger_term", "")] < 1:
        fail("term below 1")

    for raw, code in [(b"GET /nope HTTP/1.1\r\n\r\n", 404),
                      (b"POST /metrics HTTP/1.1\r\n\r\n", 405),
                      (b"GARBAGE\r\n\r\n", 400),
                      (b"GET /metrics HTTP/2.0\r\n\r\n", 400),
                      (b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 400)]:
        status, _, _ = http(metrics, raw)
        if status != code:
            fail(f"{raw[:30]!r}: answered {status}, want {code}")
    status, head, body = http(metrics, b"HEAD /metrics HTTP/1.0\r\n\r\n")
    if status != 200 or body != "":
        fail("HEAD /metrics")
    # More idle connections than the bound: the page is still served once they go.
    idle = [socket.create_connection(("127.0.0.1", metrics)) for _ in range(24)]
    for c in idle:
        c.close()
    time.sleep(0.2)
    scrape(metrics)
    r = cli("status")
    if r.returncode != 0:
        fail("status after bad HTTP")

    node.send_signal(signal.SIGTERM)
    try:
        rc = node.wait(timeout=15)
    except subprocess.TimeoutExpired:
        fail("node did not stop in 15 s")
    node = None
    if rc != 0:
        fail(f"node exited {rc} after SIGTERM")
    print("ok: metrics")
finally:
    if node is not None:
        node.kill()
        node.wait()
    subprocess.run(["rm", "-rf", tmp])
