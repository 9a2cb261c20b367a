#!/usr/bin/env bash
# Wall time of `grabstorm up` until the topology is ready (default spec:
# 1 master, 2 replicas, 3 sentinels), median of 5, for the local backend and
# for Docker (image cached: one warm-up run builds it first if needed).
# Each run is removed with `grabstorm down` (not timed). Uses its own
# temporary state dir, so it never touches your running topology.
#
#   scripts/bench-up.sh                 # builds the release binary first
#   GRABSTORM_BIN=target/debug/grabstorm scripts/bench-up.sh
#   RUNS=9 scripts/bench-up.sh
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
if [[ -z "${GRABSTORM_BIN:-}" ]]; then
    cargo build --release --quiet
    GRABSTORM_BIN=target/release/grabstorm
fi
STATE=$(mktemp -d -t grabstorm-bench-XXXXXX)
trap '"$GRABSTORM_BIN" --state-dir "$STATE" down >/dev/null 2>&1 || true; rm -rf "$STATE"' EXIT

now_ms() { date +%s%3N; }

# Prints the wall time (ms) of one `up` on backend $1, then removes the run.
one_up() {
    local start end
    start=$(now_ms)
    if ! "$GRABSTORM_BIN" --state-dir "$STATE" up --backend "$1" --json >"$STATE/up.out" 2>"$STATE/up.err" \
        || ! grep -q '"ready_ms"' "$STATE/up.out"; then
        echo "grabstorm up --backend $1 did not start a topology:" >&2
        cat "$STATE/up.out" "$STATE/up.err" >&2
        exit 1
    fi
    end=$(now_ms)
    if ! "$GRABSTORM_BIN" --state-dir "$STATE" down >/dev/null 2>"$STATE/down.err"; then
        echo "grabstorm down failed:" >&2
        cat "$STATE/down.err" >&2
        exit 1
    fi
    echo $((end - start))
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

bench() {
    local backend=$1 times=()
    for _ in $(seq "$RUNS"); do
        times+=("$(one_up "$backend")")
    done
    local med
    med=$(printf '%s\n' "${times[@]}" | median)
    printf '%-7s median %5d ms  (runs: %s ms)\n' "$backend" "$med" "${times[*]}"
}

echo "grabstorm up, wall time to ready, median of $RUNS ($GRABSTORM_BIN)"
bench local
if "$GRABSTORM_BIN" --state-dir "$STATE" up --backend docker >/dev/null 2>"$STATE/docker.err"; then
    "$GRABSTORM_BIN" --state-dir "$STATE" down >/dev/null 2>&1   # warm-up: image built or found
    bench docker
else
    echo "docker  skipped: $(tail -n 1 "$STATE/docker.err")"
fi
