#!/usr/bin/env python3
"""bench: `ledger-node bench` end to end (docs/benchmarks.md).

Goal: the benchmark sends what it says and counts what the cluster answered: a closed
loop of N transfers commits exactly N (and the journal grows by exactly the funding plus
N), submit_batch requests carry B transfers each, an open loop offers its rate for its
duration, a new ledger is funded before its transfers, bad flags exit 2.
Method: `ledger-node dev --transfers 0` in the background (a 3-node cluster), benches
with --json against it, `status` before and after; SIGINT stops dev (and its nodes).

usage: bench.py path/to/ledger-node
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1]
tmp = tempfile.mkdtemp(prefix="lgt-bench-")
dev = subprocess.Popen([binary, "dev", "--dir", tmp, "--transfers", "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
out = []


def fail(msg):
    print("not ok:", msg)
    print("".join(out[-30:]))
    dev.kill()
    dev.wait()
    subprocess.run(["pkill", "-9", "-f", tmp])
    sys.exit(1)


nodes = None
deadline = time.time() + 60
while nodes is None:
    line = dev.stdout.readline()
    if not line:
        fail("dev exited before its cluster was up")
    out.append(line)
    m = re.search(r"LEDGER_NODES=(\S+)", line)
    if m:
        nodes = m.group(1)
    if time.time() > deadline:
        fail("dev did not come up in 60 s")
while "Ctrl-C stops every node" not in out[-1]:
    out.append(dev.stdout.readline())


def run(*args, code=0):
    r = subprocess.run([binary, "bench", "--nodes", nodes, *args], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != code:
        fail(f"bench {' '.join(args)} exited {r.returncode}, want {code}: {r.stderr}")
    return r


def seq():
    r = subprocess.run([binary, "status", "--nodes", nodes, "--json"], capture_output=True,
                       text=True, timeout=30)
    doc = json.loads(r.stdout)
    nodes_doc = doc["nodes"] if isinstance(doc, dict) and "nodes" in doc else doc
    seqs = {n["journal_seq"] for n in nodes_doc if "journal_seq" in n}
    return max(seqs)


try:
    before = seq()
    r = run("--transfers", "2000", "--concurrency", "8", "--accounts", "50", "--json")
    j = json.loads(r.stdout)
    if j["transfers_ok"] != 2000 or j["requests"] != 2000 or j["answers"] != {"LG_OK": 2000}:
        fail(f"closed loop of 2000: {j}")
    # Default connections: one per 256 requests in flight, so 1 at concurrency 8.
    if j["mode"] != "closed" or j["connections"] != 1 or not j["latency_ms"]["p50"] > 0:
        fail(f"closed loop report: {j}")
    if not re.search(r"2000 transfers", r.stderr):
        fail(f"no progress line: {r.stderr!r}")
    time.sleep(1)
    after = seq()
    if after - before != 2000 + 50:  # 50 funding transfers, then 2000
        fail(f"journal grew by {after - before}, want 2050")

    r = run("--transfers", "1000", "--batch", "50", "--concurrency", "4", "--accounts", "50",
            "--json")
    j = json.loads(r.stdout)
    if j["requests"] != 20 or j["transfers_ok"] != 1000:
        fail(f"batch 50: {j}")

    r = run("--mode", "open", "--rate", "400", "--duration", "2", "--accounts", "50",
            "--json")
    j = json.loads(r.stdout)
    if not 720 <= j["requests"] <= 880 or j["transfers_ok"] != j["requests"]:
        fail(f"open loop at 400/s for 2 s: {j}")

    # Another ledger: its accounts are funded first, then every transfer commits.
    r = run("--transfers", "5", "--concurrency", "1", "--accounts", "2", "--ledger",
            "fresh", "--json")
    j = json.loads(r.stdout)
    if j["answers"].get("LG_OK") != 5:
        fail(f"funded transfers: {j}")

    # The leader stops answering (SIGSTOP) while a bench runs and another node takes
    # over: the bench stops at the first not_leader, naming the new leader, instead of
    # resending to a node that only refuses (it once sent 330 000 refused requests/s).
    r = subprocess.run([binary, "status", "--nodes", nodes, "--json"], capture_output=True,
                       text=True, timeout=30)
    doc = json.loads(r.stdout)
    nodes_doc = doc["nodes"] if isinstance(doc, dict) and "nodes" in doc else doc
    leader = [n for n in nodes_doc if n.get("role") == "leader"]
    if len(leader) != 1:
        fail(f"no single leader in status: {nodes_doc}")
    address = leader[0].get("address") or leader[0].get("client")
    pids = {m.group(2): int(m.group(1)) for m in
            (re.search(r"pid (\d+)\s+client (\S+)", line) for line in out) if m}
    if address not in pids:
        fail(f"leader {address} not among dev's nodes {pids}")
    bench = subprocess.Popen([binary, "bench", "--nodes", nodes, "--duration", "20",
                              "--concurrency", "16", "--accounts", "50", "--json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    os.kill(pids[address], signal.SIGSTOP)
    try:
        time.sleep(4)  # past the election timeout (1-2 s): a follower takes over
    finally:
        os.kill(pids[address], signal.SIGCONT)
    try:
        stdout, stderr = bench.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        bench.kill()
        fail("bench kept running after its leader moved")
    if bench.returncode != 1 or "is no longer the leader (leader now: 127.0.0.1:" not in stderr:
        fail(f"bench after a leader change: exit {bench.returncode}, {stderr[-400:]!r}")
    j = json.loads(stdout)
    refused = j["requests"] - j["transfers_ok"]
    if refused > 16 + 16:  # at most what was in flight when leadership moved, and one more
        fail(f"bench sent {refused} requests that were refused: {j}")

    for bad in (["--mode", "open"], ["--batch", "0"], ["--batch", "1001"],
                ["--concurrency", "2", "--connections", "4"], ["--bogus", "1"]):
        run(*bad, code=2)

    dev.send_signal(signal.SIGINT)
    try:
        rc = dev.wait(timeout=30)
    except subprocess.TimeoutExpired:
        fail("dev did not stop in 30 s")
    if rc != 0:
        fail(f"dev exited {rc}")
    print("ok: bench")
finally:
    if dev.poll() is None:
        dev.kill()
        dev.wait()
    subprocess.run(["rm", "-rf", tmp])
