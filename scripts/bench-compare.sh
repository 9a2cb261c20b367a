#!/usr/bin/env bash
# Compares two grabstorm binaries with `grabstorm bench` (not part of CI):
# OLD and NEW run alternately, ROUNDS times each, so that a noisy neighbour
# hurts both alike. Each bench measures grabstorm against redis-benchmark on
# the same server in the same process, so the figure compared is that ratio
# (throughput and p99), plus the load path's ops/s per grabber count. Prints
# the median of each figure per binary and NEW / OLD.
#
#   scripts/bench-compare.sh OLD_BIN NEW_BIN [ROUNDS]     # ROUNDS default 3
#   SCALE=1000,10000 SCALE_SECONDS=4 scripts/bench-compare.sh old new 5
set -euo pipefail
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROUNDS=${3:-3}
SCALE=${SCALE:-1000,10000,100000}
SECONDS_EACH=${SCALE_SECONDS:-4}
LOGS=$(mktemp -d -t grabstorm-bench-compare-XXXXXX)
echo "bench-compare: $ROUNDS rounds each, logs in $LOGS"
for round in $(seq 1 "$ROUNDS"); do
    for side in old new; do
        bin=$OLD
        [[ $side == new ]] && bin=$NEW
        state=$(mktemp -d -t grabstorm-bench-state-XXXXXX)
        "$bin" --state-dir "$state" bench --scale "$SCALE" --scale-seconds "$SECONDS_EACH" \
            >"$LOGS/$side-$round.txt" 2>&1 || echo "  $side round $round: bench failed (see $LOGS/$side-$round.txt)"
        rm -rf "$state"
        echo "  round $round $side: $(grep -m1 '^ratio' "$LOGS/$side-$round.txt" || echo '?')"
    done
done
python3 - "$LOGS" "$ROUNDS" <<'EOF'
import re, statistics, sys
logs, rounds = sys.argv[1], int(sys.argv[2])

def figures(text):
    out = {}
    m = re.search(r"^ratio .*?throughput ([\d.]+)x, p99 ([\d.]+)x", text, re.M)
    if m:
        out["ratio throughput vs redis-benchmark"] = float(m.group(1))
        out["ratio p99 vs redis-benchmark"] = float(m.group(2))
    part = text.split("red-packet workload", 1)
    if len(part) == 2:
        for line in part[1].splitlines():
            w = line.split()
            if len(w) >= 5 and w[0].isdigit():
                out[f"load path ops/s, {int(w[0]):,} grabbers"] = float(w[1])
                out[f"load path p99 us, {int(w[0]):,} grabbers"] = float(w[2])
    return out

med = {}
for side in ("old", "new"):
    runs = [figures(open(f"{logs}/{side}-{r}.txt").read()) for r in range(1, rounds + 1)]
    keys = {k for r in runs for k in r}
    med[side] = {k: statistics.median([r[k] for r in runs if k in r]) for k in keys}
print(f"\n{'figure':<44} {'old':>10} {'new':>10} {'new/old':>8}")
for k in sorted(set(med["old"]) | set(med["new"])):
    o, n = med["old"].get(k), med["new"].get(k)
    ratio = f"{n / o:.2f}" if o and n else "?"
    fmt = lambda v: "?" if v is None else (f"{v:.2f}" if v < 100 else f"{v:,.0f}")
    print(f"{k:<44} {fmt(o):>10} {fmt(n):>10} {ratio:>8}")
EOF
