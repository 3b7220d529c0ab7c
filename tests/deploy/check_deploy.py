#!/usr/bin/env python3
"""check_deploy: the Kubernetes manifests, the container build and the entrypoint agree
with `ledger-node serve --help` and with each other (suite unit; deploy/README.md).

usage: check_deploy.py LEDGER_NODE_BINARY SOURCE_ROOT

Parses every manifest in deploy/k8s, runs deploy/entrypoint.sh in dry-run mode for pods
ledger-0 .. ledger-4 with the StatefulSet's environment, and checks names, ports, labels,
flags and environment variables. Prints one line per failed check and exits 1 if any.
"""
import os
import re
import subprocess
import sys

import yaml

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


def run(argv, env=None):
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def flags_of(help_text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text))


def subset(labels, selector):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def main():
    binary, root = sys.argv[1], sys.argv[2]
    k8s = os.path.join(root, "deploy", "k8s")

    # ---- the manifests -------------------------------------------------------------
    docs = {}
    files = sorted(f for f in os.listdir(k8s) if f.endswith(".yaml"))
    for f in files:
        with open(os.path.join(k8s, f)) as fh:
            for d in yaml.safe_load_all(fh):
                if d is None:
                    continue
                key = (d.get("kind"), d.get("metadata", {}).get("name"))
                check(key not in docs, f"{f}: {key} defined twice")
                docs[key] = (f, d)
    kust = [d for (k, _), (_, d) in docs.items() if k == "Kustomization"]
    check(len(kust) == 1, "deploy/k8s: exactly one kustomization.yaml")
    listed = set(kust[0]["resources"]) if kust else set()
    check(listed == set(files) - {"kustomization.yaml"},
          f"kustomization resources {sorted(listed)} != manifest files")

    sts = [d for (k, _), (_, d) in docs.items() if k == "StatefulSet"]
    svcs = {n: d for (k, n), (_, d) in docs.items() if k == "Service"}
    pdbs = [d for (k, _), (_, d) in docs.items() if k == "PodDisruptionBudget"]
    if not (check(len(sts) == 1, "one StatefulSet") and check(len(pdbs) == 1, "one PDB")):
        return
    s = sts[0]["spec"]
    pod = s["template"]["spec"]
    labels = s["template"]["metadata"]["labels"]
    check(subset(labels, s["selector"]["matchLabels"]), "StatefulSet selector vs pod labels")
    check(s["replicas"] == 3, "StatefulSet replicas is 3")
    check(s.get("podManagementPolicy") == "Parallel",
          "initial voters start together (podManagementPolicy Parallel)")

    headless = svcs.get(s["serviceName"])
    if check(headless is not None, f"serviceName {s['serviceName']} is a Service"):
        check(headless["spec"].get("clusterIP") == "None", "peer Service is headless")
        check(headless["spec"].get("publishNotReadyAddresses") is True,
              "peer Service publishes not-ready addresses (bootstrap needs DNS first)")
    client_svcs = [d for n, d in svcs.items() if n != s["serviceName"]]
    check(len(client_svcs) == 1, "one client Service besides the headless one")
    for d in svcs.values():
        check(subset(labels, d["spec"]["selector"]), f"Service {d['metadata']['name']} selects pods")

    pdb = pdbs[0]["spec"]
    check(pdb.get("maxUnavailable") == 1, "PDB allows one pod down")
    check(subset(labels, pdb["selector"]["matchLabels"]), "PDB selects the pods")

    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    check(any(subset(labels, t["labelSelector"]["matchLabels"]) for t in anti),
          "pod anti-affinity against its own pods")

    c = pod["containers"][0]
    ports = {p["name"]: p for p in c["ports"]}
    check(set(ports) == {"client", "raft", "gossip", "metrics"},
          f"container ports {sorted(ports)}")
    check(ports["gossip"]["protocol"] == "UDP", "gossip is UDP")
    for d in svcs.values():
        for sp in d["spec"]["ports"]:
            tp = sp["targetPort"]
            if check(tp in ports, f"Service {d['metadata']['name']} targets port {tp}"):
                check(sp["port"] == ports[tp]["containerPort"],
                      f"Service port {tp}: {sp['port']} != {ports[tp]['containerPort']}")
                check(sp.get("protocol", "TCP") == ports[tp].get("protocol", "TCP"),
                      f"Service port {tp} protocol")
    for d in client_svcs:
        check([p["targetPort"] for p in d["spec"]["ports"]] == ["client"],
              "the client Service exposes the client port only")

    env = {e["name"]: e.get("value") for e in c["env"]}
    check(env.get("LEDGER_METRICS", "").endswith(f":{ports['metrics']['containerPort']}"),
          "LEDGER_METRICS listens on the metrics container port")
    ann = s["template"]["metadata"].get("annotations", {})
    check(ann.get("prometheus.io/port") == str(ports["metrics"]["containerPort"]),
          "prometheus.io/port annotation == metrics port")
    check(env.get("LEDGER_VOTERS") == env.get("LEDGER_INITIAL_VOTERS"),
          "the target voter count (LEDGER_VOTERS) equals the bootstrap voters")
    for name in ("client", "raft", "gossip"):
        var = f"LEDGER_{name.upper()}_PORT"
        check(env.get(var) == str(ports[name]["containerPort"]), f"{var} == container port")

    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    claims = [t["metadata"]["name"] for t in s["volumeClaimTemplates"]]
    check(claims and claims[0] in mounts, "the volume claim is mounted")
    if claims and claims[0] in mounts:
        check(env.get("LEDGER_DATA", "").startswith(mounts[claims[0]] + "/"),
              "LEDGER_DATA lies on the volume claim")
    secrets = [v for v in pod["volumes"] if "secret" in v]
    check(len(secrets) == 1 and secrets[0]["name"] in mounts, "the key Secret is mounted")
    if secrets and secrets[0]["name"] in mounts:
        check(os.path.dirname(env.get("LEDGER_KEY_SECRET", "")) == mounts[secrets[0]["name"]],
              "LEDGER_KEY_SECRET is a file of the Secret's mount")

    # ---- the binary: flags and environment names -----------------------------------
    rc, serve_help = run([binary, "serve", "--help"])
    check(rc == 0, f"ledger-node serve --help exits 0 (got {rc})")
    serve_flags = flags_of(serve_help)
    serve_env = set(re.findall(r"\bLEDGER_[A-Z_]+\b", serve_help))
    for f in serve_flags:  # tuning flags: LEDGER_<NAME> with '-' as '_'
        serve_env.add("LEDGER_" + f[2:].upper().replace("-", "_"))
    with open(os.path.join(root, "deploy", "entrypoint.sh")) as fh:
        entry_src = fh.read()
    entry_env = set(re.findall(r"\bLEDGER_[A-Z_]+\b", entry_src))
    for name in env:
        if name.startswith("LEDGER_"):
            check(name in serve_env or name in entry_env,
                  f"env {name} is read by neither serve nor the entrypoint")

    for probe in ("readinessProbe", "livenessProbe"):
        cmd = c[probe]["exec"]["command"]
        check(cmd[0] == "ledger-node", f"{probe} runs ledger-node")
        rc, sub_help = run([binary, cmd[1], "--help"])
        check(rc == 0, f"{probe}: ledger-node {cmd[1]} --help exits 0")
        for a in cmd[2:]:
            if a.startswith("--"):
                check(a in flags_of(sub_help), f"{probe}: {cmd[1]} has no flag {a}")
        if "--nodes" in cmd:
            check(cmd[cmd.index("--nodes") + 1].endswith(":" + str(ports["client"]["containerPort"])),
                  f"{probe} asks the client port")

    # ---- the entrypoint, pod by pod -------------------------------------------------
    svc = s["serviceName"]
    initial = None
    for ordinal in range(5):
        penv = {k: v for k, v in env.items() if v is not None}
        penv.update(PATH=os.environ.get("PATH", "/usr/bin:/bin"),
                    HOSTNAME=f"{sts[0]['metadata']['name']}-{ordinal}",
                    LEDGER_ENTRYPOINT_DRY_RUN="1")
        rc, out = run(["sh", os.path.join(root, "deploy", "entrypoint.sh")], env=penv)
        if not check(rc == 0, f"entrypoint ledger-{ordinal} exits 0: {out.strip()}"):
            continue
        argv = out.split()
        check(argv[:2] == ["ledger-node", "serve"], f"entrypoint runs serve: {out}")
        opts = {}
        joins = []
        i = 2
        while i < len(argv):
            f, v = argv[i], argv[i + 1] if i + 1 < len(argv) else None
            check(f in serve_flags, f"entrypoint flag {f} not in serve --help")
            if f == "--join":
                joins.append(v)
            else:
                check(f not in opts, f"flag {f} twice")
                opts[f] = v
            i += 2
        name = f"{sts[0]['metadata']['name']}-{ordinal}.{svc}"
        check(opts.get("--id") == str(ordinal + 1), f"ledger-{ordinal}: --id {ordinal + 1}")
        check(opts.get("--raft") == f"{name}:{ports['raft']['containerPort']}",
              f"ledger-{ordinal}: --raft {opts.get('--raft')}")
        check(opts.get("--gossip") == f"{name}:{ports['gossip']['containerPort']}",
              f"ledger-{ordinal}: --gossip")
        check(opts.get("--client", "").endswith(f":{ports['client']['containerPort']}"),
              f"ledger-{ordinal}: --client port")
        check(opts.get("--advertise-client") == f"{name}:{ports['client']['containerPort']}",
              f"ledger-{ordinal}: --advertise-client")
        check("--key-file" in opts, f"ledger-{ordinal}: --key-file")
        voters = int(env["LEDGER_INITIAL_VOTERS"])
        want_joins = [f"{sts[0]['metadata']['name']}-{j}.{svc}:{ports['gossip']['containerPort']}"
                      for j in range(voters) if j != ordinal]
        check(joins == want_joins,
              f"ledger-{ordinal}: --join {joins} != the other initial pods' gossip {want_joins}")
        if ordinal < voters:
            ic = opts.get("--initial-cluster")
            want = ",".join(f"{j + 1}={sts[0]['metadata']['name']}-{j}.{svc}:"
                            f"{ports['raft']['containerPort']}"
                            for j in range(int(env["LEDGER_INITIAL_VOTERS"])))
            check(ic == want, f"ledger-{ordinal}: --initial-cluster {ic} != {want}")
            check(initial in (None, ic), "every initial voter has the same --initial-cluster")
            initial = ic
        else:
            check("--initial-cluster" not in opts, f"ledger-{ordinal}: no --initial-cluster")

    bad = dict(env, PATH=os.environ.get("PATH", ""), HOSTNAME="ledger",
               LEDGER_ENTRYPOINT_DRY_RUN="1")
    bad = {k: v for k, v in bad.items() if v is not None}
    rc, out = run(["sh", os.path.join(root, "deploy", "entrypoint.sh")], env=bad)
    check(rc == 2 and "ordinal" in out, f"entrypoint refuses a hostname without ordinal: {out}")

    # ---- the container build ----------------------------------------------------------
    with open(os.path.join(root, "deploy", "Dockerfile")) as fh:
        df = fh.read()
    check(len(re.findall(r"^FROM debian:12", df, re.M)) == 2, "Dockerfile: two Debian 12 stages")
    m = re.search(r"^COPY deploy/entrypoint.sh (\S+)", df, re.M)
    check(m is not None and f'ENTRYPOINT ["{m.group(1)}"]' in df,
          "Dockerfile: ENTRYPOINT is the copied entrypoint")
    exposed = set(re.findall(r"(\d+)/(tcp|udp)", " ".join(re.findall(r"^EXPOSE (.*)$", df, re.M))))
    want = {(str(p["containerPort"]), p["protocol"].lower()) for p in ports.values()}
    check(exposed == want, f"Dockerfile EXPOSE {sorted(exposed)} != container ports")
    m = re.search(r"^USER (\d+)", df, re.M)
    check(m is not None and int(m.group(1)) == pod["securityContext"]["runAsUser"],
          "Dockerfile USER == runAsUser")


if __name__ == "__main__":
    main()
    for f in failures:
        print("FAIL:", f)
    print(f"deploy: {len(failures)} failed checks")
    sys.exit(1 if failures else 0)
