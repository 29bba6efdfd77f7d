#!/usr/bin/env bash
# What the host holds on to under sustained load, and how long it takes to
# come back: runs `cardwire host` on a SQLite ledger with its message
# journal, drives it with `cardwire load` at full speed, samples every
# second the size of the SQLite WAL, the journal (with its rotated files)
# and the host's resident memory, then kills the host (-9) and times its
# restart (ledger replay until it listens again).
#
#   cargo build --release -p cardwire
#   bash benches/host_bounds.sh [DURATION] [TERMINALS]      # default 60s 100
#
# Environment: CARDWIRE (the binary, default target/release/cardwire),
# SYNC (full|normal, default full), JOURNAL_MAX_SIZE and JOURNAL_KEEP
# (default 256M and 4, the host's defaults). Not a timed test: a report.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARDWIRE:-${CARGO_TARGET_DIR:-target}/release/cardwire}"
duration="${1:-60s}"
terminals="${2:-100}"
dir="$(mktemp -d "${TMPDIR:-/tmp}/cardwire-bounds.XXXXXX")"
db="$dir/ledger.db"
journal="$dir/journal.jsonl"
host_args=(host --db "$db" --journal "$journal" --terminals "$terminals"
  --sync "${SYNC:-full}" --journal-max-size "${JOURNAL_MAX_SIZE:-256M}"
  --journal-keep "${JOURNAL_KEEP:-4}" --listen 127.0.0.1:0 --admin 127.0.0.1:0)

host_pid=""
sampler_pid=""
cleanup() {
  [ -n "$sampler_pid" ] && kill "$sampler_pid" 2>/dev/null || true
  if [ -n "$host_pid" ]; then kill -9 "$host_pid" 2>/dev/null; wait "$host_pid" 2>/dev/null; fi || true
  rm -rf "$dir"
}
trap cleanup EXIT

# Starts the host; sets host_pid, addr, admin and took (seconds until it
# listens). Not in a subshell: the host would hold its output open.
start_host() {
  local log="$1" t0 line
  : >"$log"
  t0=$(date +%s.%N)
  "$bin" "${host_args[@]}" 2>"$log" &
  host_pid=$!
  until line=$(grep -m1 'listening on' "$log"); do
    kill -0 "$host_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.01
  done
  addr=$(sed -E 's/.*listening on ([^ ]+) .*/\1/' <<<"$line")
  admin=$(sed -E 's/.*admin ([^)]+)\).*/\1/' <<<"$line")
  took=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { print a - b }')
}

size() { stat -c %s "$@" 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }

start_host "$dir/host.log"
(
  while kill -0 "$host_pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$host_pid/status" 2>/dev/null || echo 0)
    echo "$(size "$db-wal") $(size "$journal" "$journal".*) ${rss:-0}"
    sleep 1
  done
) >"$dir/samples" &
sampler_pid=$!

"$bin" load --connect "$addr" --admin "$admin" --terminals "$terminals" \
  --duration "$duration" --json --quiet >"$dir/load.json"
sleep 1
kill "$sampler_pid" 2>/dev/null || true
sampler_pid=""
rss_end=$(awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$host_pid/status")
kill -9 "$host_pid"
wait "$host_pid" 2>/dev/null || true
host_pid=""
entries=$("$bin" journal --db "$db" --json | wc -l)
db_size=$(size "$db" "$db-wal")
start_host "$dir/restart.log"
restart=$took
replayed=$(grep -o 'ledger replayed: [0-9]*' "$dir/restart.log" | grep -o '[0-9]*$' || echo 0)

python3 - "$dir/load.json" "$dir/samples" "$entries" "$rss_end" "$restart" "$replayed" "$db_size" <<'EOF'
import json, sys
load = json.load(open(sys.argv[1]))
rows = [list(map(int, l.split())) for l in open(sys.argv[2]) if l.strip()]
entries, rss_end, restart, replayed, db_size = (
    int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]))
mib = lambda b: b / 2**20
rss_start = rows[0][2] if rows else 0
print(f"decided          {load['decided']} ({load['decided_per_s']:.0f}/s over {load['elapsed_s']:.1f} s)")
print(f"ledger entries   {entries} ({mib(db_size):.1f} MiB on disk)")
print(f"WAL              at most {mib(max(r[0] for r in rows)):.1f} MiB ({len(rows)} samples, one a second)")
print(f"journal          at most {mib(max(r[1] for r in rows)):.1f} MiB in all its files")
print(f"host memory      {mib(rss_start):.0f} MiB at the start, at most {mib(max(r[2] for r in rows)):.0f} MiB, "
      f"{mib(rss_end):.0f} MiB at the end: {(rss_end - rss_start) / max(entries, 1):.0f} bytes per entry")
print(f"restart          {restart:.2f} s to listen again after kill -9 ({replayed} entries replayed)")
EOF
