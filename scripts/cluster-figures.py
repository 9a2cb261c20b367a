#!/usr/bin/env python3
"""Measures the Cluster lab's figures (not part of CI; timing is the
machine's): time to ready (`grabstorm up --mode cluster`, wall clock, median
of N) on each backend, and N segfault failovers of a master under red-packet
load at node-timeout 2000 ms: median and max of fail_ms, promoted_ms,
write_outage_ms and the lost acknowledged writes, each run's lost writes
recounted from outside (HGET of every acknowledged grab on the master that
serves its key now, the master that answers instead of MOVED).

    scripts/cluster-figures.py [--runs 5] [--backends local,docker] [--bin target/release/grabstorm]

Every run uses its own temporary state dir and is removed with `down`."""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def grabstorm(bin_path, state, *args, check=True):
    p = subprocess.run(
        [bin_path, "--state-dir", state, *args], capture_output=True, text=True
    )
    if check and p.returncode != 0:
        sys.exit(f"grabstorm {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return p


def redis_cli(port, password, *args):
    cmd = ["redis-cli", "-p", str(port), "--no-auth-warning"]
    if password:
        cmd += ["-a", password]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=10)
    return p.stdout.strip()


def recount_lost(bin_path, out_dir, nodes, password):
    """Acknowledged grabs missing on the master serving their key now: every
    HGET sent to every master in one batch (redis-cli reading commands from
    stdin with --no-raw answers one line each: "(nil)", "(error) MOVED ...",
    a quoted value); the one answer per key that is not MOVED
    counts."""
    masters = [
        port
        for port in nodes.values()
        if redis_cli(port, password, "ROLE").splitlines()[:1] == ["master"]
    ]
    journal = subprocess.run(
        [bin_path, "journal", out_dir], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    grabs = [json.loads(l) for l in journal]
    grabs = [w for w in grabs if w.get("op") == "redpacket_grab"]
    script = "".join(f'HGET "{w["key"]}:grabs" {w["user"]}\n' for w in grabs)
    answers = []
    for port in masters:
        cmd = ["redis-cli", "-p", str(port), "--no-auth-warning", "--no-raw"]
        if password:
            cmd += ["-a", password]
        p = subprocess.run(cmd, input=script, capture_output=True, text=True, timeout=600)
        lines = p.stdout.split("\n")[: len(grabs)]
        if len(lines) != len(grabs):
            sys.exit(f"port {port}: {len(lines)} answers for {len(grabs)} HGETs")
        answers.append(lines)
    missing = 0
    for i, w in enumerate(grabs):
        served = [a[i] for a in answers if not a[i].startswith("(error) MOVED")]
        if len(served) != 1:
            sys.exit(f"{w['key']}: {len(served)} masters answered: {[a[i] for a in answers]}")
        if served[0] == "(nil)":
            missing += 1
        elif not served[0].startswith('"'):
            sys.exit(f"{w['key']}: unexpected answer {served[0]!r}")
    return missing


def stats(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return "unknown"
    return f"median {statistics.median(vals):.0f}, max {max(vals):.0f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--backends", default="local,docker")
    ap.add_argument("--bin", default="target/release/grabstorm")
    a = ap.parse_args()
    bin_path = os.path.realpath(a.bin)
    for backend in a.backends.split(","):
        ready = []
        rows = []
        for i in range(a.runs):
            state = tempfile.mkdtemp(prefix="grabstorm-cluster-")
            try:
                t0 = time.monotonic()
                up = grabstorm(
                    bin_path, state, "up", "--mode", "cluster", "--backend", backend,
                    "--node-timeout", "2s", "--json",
                )
                ready.append(time.monotonic() - t0)
                topo = json.loads(up.stdout)
                nodes = {
                    n["name"]: int(n["host_addr"].rsplit(":", 1)[1])
                    for n in topo["nodes"]
                }
                out = os.path.join(state, "out")
                grabstorm(
                    bin_path, state, "load", "--attach", "--out", out,
                    "--workload", "redpacket", "--grabbers", "300", "--duration", "16s",
                    "--seed", str(100 + i),
                    "--fault", "4s segfault master-1", "--fault", "11s restart redis-1",
                    check=False,
                )
                r = json.load(open(os.path.join(out, "report.json")))
                f = (r.get("failovers") or [{}])[0]
                recount = recount_lost(bin_path, out, nodes, topo.get("password"))
                rows.append(
                    {
                        "fail_ms": f.get("fail_ms"),
                        "promoted_ms": f.get("promoted_ms"),
                        "write_outage_ms": f.get("write_outage_ms"),
                        "lost": r["audit"].get("lost_acked_writes"),
                        "recount": recount,
                        "new_master": f.get("new_master"),
                        "rejoined": f.get("old_master_rejoined_as_replica"),
                    }
                )
                print(f"{backend} run {i + 1}: ready {ready[-1]:.2f}s, {rows[-1]}", flush=True)
            finally:
                grabstorm(bin_path, state, "down", check=False)
                shutil.rmtree(state, ignore_errors=True)
        print(
            f"{backend}: time to ready median {statistics.median(ready):.2f}s "
            f"(runs: {', '.join(f'{t:.2f}' for t in ready)})"
        )
        for k in ["fail_ms", "promoted_ms", "write_outage_ms", "lost"]:
            print(f"{backend}: {k}: {stats([r[k] for r in rows])}")
        agree = all(r["lost"] == r["recount"] for r in rows)
        print(
            f"{backend}: lost vs recount: "
            + ", ".join(f"{r['lost']}={r['recount']}" for r in rows)
            + (" (all equal)" if agree else " (MISMATCH)")
        )


if __name__ == "__main__":
    main()
