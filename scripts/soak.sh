#!/usr/bin/env bash
# Soak (not part of CI): 100,000 grabbers for 10 minutes on the local
# backend. Prints grabstorm's RSS every 10 s, then the throughput of each
# minute (last minute against the first), the journal's bytes per write
# and the verdict. Aim: RSS flat, last minute >= 0.9x the first, verdict OK.
# Uses its own temporary state dir, so it never touches your topology;
# the run dir is kept (its path is printed) unless KEEP=0.
#
#   scripts/soak.sh                                    # builds the release binary first
#   GRABBERS=5000 DURATION=60 scripts/soak.sh          # a short one
#   GRABSTORM_BIN=target/debug/grabstorm WORKLOAD=redpacket scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."

GRABBERS=${GRABBERS:-100000}
DURATION=${DURATION:-600}          # seconds of load
WORKLOAD=${WORKLOAD:-mixed}
CONNECTIONS=${CONNECTIONS:-16}
EVERY=${EVERY:-10}                 # seconds between two RSS lines
KEEP=${KEEP:-1}
if [[ -z "${GRABSTORM_BIN:-}" ]]; then
    cargo build --release --quiet
    GRABSTORM_BIN=target/release/grabstorm
fi
STATE=$(mktemp -d -t grabstorm-soak-XXXXXX)
OUT="$STATE/run"
LOAD_PID=
cleanup() {
    # Stop our load if it still runs, then remove our topology (this state dir only).
    if [[ -n "$LOAD_PID" ]] && kill -0 "$LOAD_PID" 2>/dev/null; then
        kill -INT "$LOAD_PID" 2>/dev/null || true
        for _ in $(seq 1 300); do kill -0 "$LOAD_PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$LOAD_PID" 2>/dev/null || true
    fi
    "$GRABSTORM_BIN" --state-dir "$STATE" down >/dev/null 2>&1 || true
    if [[ "$KEEP" == 0 ]]; then rm -rf "$STATE"; fi
}
trap cleanup EXIT

echo "soak: $GRABBERS grabbers, $WORKLOAD, ${DURATION}s, local backend, state $STATE"
"$GRABSTORM_BIN" --state-dir "$STATE" load --backend local --workload "$WORKLOAD" \
    --grabbers "$GRABBERS" --connections "$CONNECTIONS" --duration "${DURATION}s" \
    --hard-cap "$((DURATION + 600))s" --out "$OUT" --json >"$STATE/report.out" 2>"$STATE/load.err" &
LOAD_PID=$!

start=$(date +%s)
printf '%8s  %10s\n' "elapsed" "RSS MiB"
while kill -0 "$LOAD_PID" 2>/dev/null; do
    sleep "$EVERY" &
    wait $! || true
    kill -0 "$LOAD_PID" 2>/dev/null || break
    rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$LOAD_PID/status" 2>/dev/null || echo "")
    if [[ -n "$rss_kb" ]]; then
        printf '%7ss  %10.1f\n' "$(($(date +%s) - start))" "$(echo "$rss_kb / 1024" | bc -l)"
    fi
done
status=0
wait "$LOAD_PID" || status=$?
LOAD_PID=

if ! jq -e .verdict "$STATE/report.out" >/dev/null 2>&1; then
    echo "soak: no report (exit $status); the load said:" >&2
    tail -n 20 "$STATE/load.err" >&2
    exit 2
fi
echo
echo "throughput per minute (successful operations per second, mean):"
jq -r '
  [.throughput[] | select(.t_s < '"$DURATION"')]
  | group_by(.t_s / 60 | floor)
  | map({m: (.[0].t_s / 60 | floor), ok: (map(.ok) | add), n: length})
  | (.[] | "  minute \(.m + 1): \(.ok / .n | floor) ops/s over \(.n) s"),
    (if length > 1 then
       "  last/first: \((.[-1].ok / .[-1].n) / (.[0].ok / .[0].n) * 100 | floor / 100)"
     else empty end)
' "$STATE/report.out"
records=$(jq '.audit.journal_records' "$STATE/report.out")
journal_bytes=$(stat -c %s "$OUT/journal.bin")
echo "journal: $records acknowledged writes in $journal_bytes bytes ($(echo "scale=2; $journal_bytes / ($records + ($records == 0))" | bc) bytes each)"
jq -r '"errors: \(.errors)", "lost acknowledged writes: \(.audit.lost_acked_writes)",
       "verdict: \(if .verdict.ok then "OK" else "FAILED" end)",
       (.verdict.findings[] | "  - \(.)")' "$STATE/report.out"
echo "run dir: $OUT"
exit "$status"
