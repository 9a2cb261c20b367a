#!/usr/bin/env bash
# Re-measures the table of "nothing left running, nothing open, nothing that
# fills the disk" (not part of CI; the tests assert each row): signals on
# both backends, a dashboard whose terminal dies, kill -9 then `down`, what a
# node answers without the password, refused numbers and the journal's bytes
# per write. Prints one line per case. Every run uses its own temporary
# state dir and is removed with `down` of that state dir only.
#
#   scripts/lifecycle-table.sh                         # builds the release binary first
#   GRABSTORM_BIN=target/debug/grabstorm scripts/lifecycle-table.sh
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${GRABSTORM_BIN:-}" ]]; then
    cargo build --release --quiet || exit 2
    GRABSTORM_BIN=target/release/grabstorm
fi
BIN=$(realpath "$GRABSTORM_BIN")
STATES=()
cleanup() {
    for s in "${STATES[@]}"; do "$BIN" --state-dir "$s" down >/dev/null 2>&1; rm -rf "$s"; done
    tmux kill-session -t grabstorm-table 2>/dev/null || true
}
trap cleanup EXIT

new_state() {
    local s
    s=$(mktemp -d -t grabstorm-table-XXXXXX)
    STATES+=("$s")
    echo "$s"
}

# Processes whose command line names the state dir (local nodes keep their
# configs there), and containers labelled with it (Docker).
left_processes() { pgrep -f -- "$1" | grep -v "^$$\$" | wc -l; }
left_containers() {
    docker ps -aq --filter "label=grabstorm.state_dir=$1" 2>/dev/null | wc -l
}
left_of() { echo "$(left_processes "$1") processes, $(left_containers "$1") containers"; }

# signal BACKEND SIG [WHEN]: a 20 s load, the signal after 4 s of load (or,
# with WHEN=starting, while the topology is still starting); how long it
# took to end after the signal, its exit status and what was left.
signal_case() {
    local backend=$1 sig=$2 when=${3:-load} s out pid t0 t1 rc
    s=$(new_state)
    out="$s/out"
    "$BIN" --state-dir "$s" load --backend "$backend" --workload redpacket --grabbers 200 \
        --duration 20s --out "$out" >"$s/log" 2>&1 &
    pid=$!
    if [[ $when == starting ]]; then
        # The run dir appears before the first node is created.
        for _ in $(seq 1 600); do [[ -d $s/runs ]] && break; sleep 0.05; done
        sleep 0.5
    else
        # The first progress line: the load runs. Then 4 s more.
        for _ in $(seq 1 900); do grep -q "ops/s" "$s/log" 2>/dev/null && break; sleep 0.1; done
        sleep 4
    fi
    t0=$(date +%s.%N)
    kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    t1=$(date +%s.%N)
    local what="after 4 s of load"
    [[ $when == starting ]] && what="while its topology starts"
    printf '| `kill -%s` a %s `load --duration 20s` %s | ended %.1f s after the signal, exit %s, report: %s, left: %s |\n' \
        "$sig" "$backend" "$what" "$(echo "$t1 - $t0" | bc)" "$rc" \
        "$([[ -s $out/report.json ]] && echo yes || echo no)" "$(left_of "$s")"
}

docker_ok() { docker info >/dev/null 2>&1; }

echo "| case | measured |"
echo "|---|---|"
for sig in TERM HUP INT; do signal_case local "$sig"; done
if docker_ok; then
    for sig in TERM HUP; do signal_case docker "$sig"; done
    signal_case docker TERM starting
fi

# The dashboard's terminal dies.
if command -v tmux >/dev/null && docker_ok; then
    s=$(new_state)
    tmux new-session -d -s grabstorm-table -x 120 -y 40 \
        "$BIN --state-dir $s tui --backend docker --grabbers 1000 2>$s/err"
    for _ in $(seq 1 900); do [[ $(left_containers "$s") -ge 6 ]] && break; sleep 0.1; done
    sleep 3
    pid=$(pgrep -f -- "--state-dir $s tui" | head -1)
    [[ -z $pid ]] && { echo "| dashboard in tmux | did not start: $(head -c 300 "$s/err") |"; pid=0; }
    t0=$(date +%s.%N)
    tmux kill-session -t grabstorm-table
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    t1=$(date +%s.%N)
    printf '| the dashboard'"'"'s terminal dies (`tmux kill-session`, Docker, 1,000 grabbers) | dashboard ended %.1f s later: %s; left: %s, state file: %s |\n' \
        "$(echo "$t1 - $t0" | bc)" "$(kill -0 "$pid" 2>/dev/null && echo "STILL RUNNING" || echo "gone")" \
        "$(left_of "$s")" "$([[ -e $s/current.json ]] && echo kept || echo removed)"
fi

# kill -9 a Docker load, then plain `down`.
if docker_ok; then
    s=$(new_state)
    "$BIN" --state-dir "$s" load --backend docker --workload seckill --grabbers 100 --duration 60s >"$s/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 900); do [[ $(left_containers "$s") -ge 6 ]] && break; sleep 0.1; done
    sleep 2
    kill -9 "$pid"; wait "$pid" 2>/dev/null
    before=$(left_containers "$s")
    said=$("$BIN" --state-dir "$s" down 2>&1 | tail -1)
    printf '| `kill -9` a Docker `load`, then `grabstorm down` | %s containers before, %s after; down said: "%s" |\n' \
        "$before" "$(left_containers "$s")" "$said"
fi

# Exposure: every node without the password, on both backends.
for backend in local docker; do
    [[ $backend == docker ]] && ! docker_ok && continue
    s=$(new_state)
    "$BIN" --state-dir "$s" up --backend "$backend" --json >"$s/up.json" 2>"$s/err" || continue
    answers=$(python3 -c '
import json, sys
for n in json.load(open(sys.argv[1]))["nodes"]:
    print(n["host_addr"])' "$s/up.json" | while read -r addr; do
        redis-cli -h "${addr%:*}" -p "${addr##*:}" PING 2>&1 | head -1 | cut -c1-7
    done | sort | uniq -c | xargs)
    printf '| exposure, %s: `redis-cli -p PORT PING` without the password | %s |\n' "$backend" "$answers"
    "$BIN" --state-dir "$s" down >/dev/null 2>&1
done

# Numbers out of range.
for args in "--grabbers 0" "--grabbers 10000000" "--grabbers -5" "--duration 0s" "--hard-cap 0s" "--connections 0"; do
    s=$(new_state)
    # shellcheck disable=SC2086
    msg=$("$BIN" --state-dir "$s" load --backend local $args 2>&1 | grep -m1 -i "error\|allowed\|range" | cut -c1-110)
    # shellcheck disable=SC2086
    "$BIN" --state-dir "$s" load --backend local $args >/dev/null 2>&1
    rc=$?
    printf '| `%s` | exit %s: %s; left: %s |\n' "$args" "$rc" "$msg" "$(left_of "$s")"
done

# The journal's size per acknowledged write.
s=$(new_state)
"$BIN" --state-dir "$s" load --backend local --workload redpacket --grabbers 500 --duration 15s \
    --out "$s/out" >"$s/log" 2>&1
python3 - "$s/out" <<'EOF'
import json, os, sys
d = sys.argv[1]
r = json.load(open(os.path.join(d, "report.json")))
size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.startswith("journal"))
n = r["audit"]["journal_records"]
print(f"| journal, 500 grabbers, 15 s | {n:,} records in {size:,} bytes: {size / max(n, 1):.2f} bytes per write |")
EOF
