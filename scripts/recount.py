#!/usr/bin/env python3
"""Recounts a finished run's acknowledged writes against live Redis, without
grabstorm's audit code (not part of CI): for a run kept with `run --keep`
or `load --attach`, reads the journal as JSON lines (`grabstorm journal`),
the nodes and the password (`grabstorm status --json`), finds the master by
each node's own `INFO replication`, and asks it with plain commands:

  red-packet grab    HEXISTS <packet>:grabs <user>
  seckill sale       HEXISTS <item>:orders <user>
  lock resource      GET <resource>: an acknowledged write of a value above
                     the one Redis holds (or of a key that is gone) is lost

Prints the recount per kind next to report.json's figures.

  scripts/recount.py OUT_DIR --state STATE_DIR [--bin target/release/grabstorm]
"""
import argparse
import json
import socket
import subprocess
import sys


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, addr, password):
        host, port = addr.rsplit(":", 1)
        self.s = socket.create_connection((host, int(port)), timeout=10)
        self.f = self.s.makefile("rb")
        if password:
            self.call("AUTH", password)

    def read(self):
        line = self.f.readline().rstrip(b"\r\n")
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"unexpected reply {line!r}")

    def call(self, *args):
        self.s.sendall(resp(*args))
        return self.read()

    def pipeline(self, commands, batch=5000):
        replies = []
        for i in range(0, len(commands), batch):
            chunk = commands[i : i + batch]
            self.s.sendall(b"".join(resp(*c) for c in chunk))
            replies.extend(self.read() for _ in chunk)
        return replies


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--state", required=True)
    p.add_argument("--bin", default="target/release/grabstorm")
    a = p.parse_args()

    status = json.loads(
        subprocess.run([a.bin, "--state-dir", a.state, "status", "--json"], check=True, capture_output=True).stdout
    )
    password = status.get("password")
    masters = []
    for n in status["nodes"]:
        if not n["name"].startswith("redis-"):
            continue
        try:
            info = Conn(n["host_addr"], password).call("INFO", "replication")
        except (OSError, RuntimeError) as e:
            print(f"{n['name']}: no answer ({e})")
            continue
        role = dict(l.split(":", 1) for l in info.splitlines() if ":" in l).get("role")
        print(f"{n['name']} ({n['host_addr']}): role {role}")
        if role == "master":
            masters.append(n)
    if len(masters) != 1:
        print(f"recount: {len(masters)} nodes say master; recounting on each")
    journal = subprocess.run([a.bin, "journal", a.out], check=True, capture_output=True, text=True).stdout
    lines = [json.loads(l) for l in journal.splitlines() if l.strip()]
    report = json.load(open(f"{a.out}/report.json"))
    print(f"journal: {len(lines):,} acknowledged writes; report.json audit.journal_records {report['audit'].get('journal_records')}")

    grabs = [l for l in lines if l["op"] == "redpacket_grab"]
    sales = [l for l in lines if l["op"] == "seckill_sale"]
    writes = [l for l in lines if isinstance(l["op"], dict) and "resource_write" in l["op"]]
    for m in masters:
        c = Conn(m["host_addr"], password)
        g = c.pipeline([("HEXISTS", f"{l['key']}:grabs", l["user"]) for l in grabs])
        s = c.pipeline([("HEXISTS", l["key"], l["user"]) for l in sales])
        keys = sorted({l["key"] for l in writes})
        held = dict(zip(keys, c.pipeline([("GET", k) for k in keys])))
        lost_w = [l for l in writes if held[l["key"]] is None or int(l["value"]) > int(held[l["key"]])]
        lost_g = sum(1 for r in g if r == 0)
        lost_s = sum(1 for r in s if r == 0)
        print(f"\nrecount on {m['name']}:")
        print(f"  red-packet grabs missing (HEXISTS): {lost_g:,} of {len(grabs):,}")
        print(f"  seckill sales missing (HEXISTS):    {lost_s:,} of {len(sales):,}")
        print(f"  lock resource writes above the value held (GET): {len(lost_w):,} of {len(writes):,}")
        print(f"  total: {lost_g + lost_s + len(lost_w):,}")
    audit = report["audit"]
    print("\nreport.json:")
    print(f"  audit.checked {audit.get('checked')}, audited on {audit.get('checked_node')}")
    print(f"  audit.lost_acked_writes {audit.get('lost_acked_writes')}")
    by = {}
    for l in report.get("losses", []):
        by[l["cause"]] = by.get(l["cause"], 0) + l["lost_acked_writes"]
    print(f"  losses by cause: {by}")
    for f in report.get("failovers", []):
        print(
            f"  fault {f.get('fault_index')} {f.get('fault')} at {f.get('at_ms')} ms: failed over {f.get('failed_over')}, "
            f"{f.get('old_master')} -> {f.get('new_master')}, lost {f.get('lost_acked_writes')}"
        )
    for t in report.get("topology_findings", []):
        print(f"  topology: {t}")
    print(f"  verdict: {report.get('verdict')}")


if __name__ == "__main__":
    sys.exit(main())
