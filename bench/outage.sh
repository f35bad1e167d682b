#!/usr/bin/env bash
# PostgreSQL going away under load, measured: release build, wrk on loopback.
# While validation (GET /v1/sessions/current), sign-in (POST /v1/sessions)
# and a refresh chain (POST /v1/sessions/refresh, one connection) run, the
# database is stopped and started again (pg_ctlcluster, fast shutdown: every
# connection is cut). Phases, each its own wrk runs:
#   before   PHASE seconds with the database up
#   down     the database stopped before the phase starts
#   cut      the database stopped 2 s into the phase and started 2 s later
#   after    PHASE seconds once /health/ready says ready again
# Reports per phase: requests, 2xx, 503 (and how many had Retry-After),
# connection errors and the max latency; how long /health/ready took to turn
# ready after the database came back; and, at the end, the integrity of the
# session tables (every session has its refresh token, every live session an
# unrotated token, no orphan rows).
# Needs root (pg_ctlcluster) and wrk. The database is started again on exit.
# Env: PHASE (5), CONC (16), N_USERS (100)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
WORK=${WORK:-/tmp/portcullis-outage}
PHASE=${PHASE:-5}
CONC=${CONC:-16}
N_USERS=${N_USERS:-100}
PORT=${PORT:-3300}
METRICS_PORT=$((PORT + 1))
PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PASS="correct horse battery staple"
CLUSTER=$(ls /etc/postgresql | head -n 1)
DB=portcullis_outage
URL="${PG_ADMIN%/*}/$DB"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)"; exit 1; }
pg() { pg_ctlcluster --skip-systemctl-redirect "$CLUSTER" main "$@"; }
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
  pg_isready -h 127.0.0.1 -p 5432 -q || pg start
}
trap cleanup EXIT

mkdir -p "$WORK" && rm -rf "$WORK"/* && mkdir -p "$WORK/srv"
(cd "$ROOT" && cargo build --release --locked --quiet)
BIN=$ROOT/target/release/portcullis
psql -qX "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
(cd "$WORK/srv" && PORTCULLIS_DATABASE_URL=$URL PORTCULLIS_LISTEN=127.0.0.1:$PORT \
  PORTCULLIS_SECRET=outage-secret-0123456789abcdef0123456789abcdef \
  PORTCULLIS_MAIL_COOLDOWN_SECS=0 PORTCULLIS_DATABASE_MAX_CONNECTIONS=16 \
  PORTCULLIS_METRICS_LISTEN=127.0.0.1:$METRICS_PORT \
  PORTCULLIS_RATE_LIMITS__SIGN_IN__LIMIT=0 PORTCULLIS_RATE_LIMITS__SIGN_UP__LIMIT=0 \
  PORTCULLIS_RATE_LIMITS__CODE_CONFIRM__LIMIT=0 PORTCULLIS_RATE_LIMITS__REFRESH__LIMIT=0 \
  exec "$BIN") > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
python3 "$HERE/seed.py" "http://127.0.0.1:$PORT" "$WORK/server.log" "$N_USERS" "$WORK" "$PASS" 8

PHASES=0
load() { # $1 phase label; runs validation, sign-in and the refresh chain at once
  local mode data c pids=()
  # Each phase walks a session of its own (the chain starts at its seeded token).
  PHASES=$((PHASES + 1))
  sed -n "${PHASES}p" "$WORK/refresh.txt" > "$WORK/chain-$1.txt"
  for mode in session signin chain; do
    case $mode in session) data=$WORK/access.txt; c=$CONC ;; signin) data=$WORK/emails.txt; c=4 ;; chain) data=$WORK/chain-$1.txt; c=1 ;; esac
    BENCH_MODE=$mode BENCH_DATA=$data BENCH_PASS=$PASS BENCH_LABEL="$1/$mode" \
      wrk -t1 -c"$c" -d"${PHASE}s" --timeout 30s -s "$HERE/portcullis.lua" "http://127.0.0.1:$PORT" \
      > "$WORK/$1-$mode.txt" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  for mode in session signin chain; do grep '^{' "$WORK/$1-$mode.txt" | tail -1 | tee -a "$WORK/results.jsonl"; done
  server_side "$1"
}

# wrk corrects its latency figures for coordinated omission: every answer
# slower than the connection's mean interval adds synthetic samples (a 3 s
# answer among 5 ms ones adds about 600), so a few slow answers can make the
# p99. The server's own histogram counts what really happened: per phase,
# the answers and how many of them took longer than 1 s.
server_side() { # $1 phase label
  curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics.txt" || return 0
  python3 - "$WORK" "$1" <<'PY' | tee -a "$WORK/results.jsonl"
import json, os, re, sys
work, label = sys.argv[1], sys.argv[2]
total = fast = 0.0
for line in open(os.path.join(work, "metrics.txt")):
    if not line.startswith("portcullis_http_request_duration_seconds_bucket{"):
        continue
    le = re.search(r'le="([^"]+)"', line).group(1)
    value = float(line.rsplit(" ", 1)[1])
    if le == "+Inf":
        total += value
    elif le == "1.024":
        fast += value
previous_path = os.path.join(work, "server-previous.json")
previous = json.load(open(previous_path)) if os.path.exists(previous_path) else {"total": 0, "fast": 0}
json.dump({"total": total, "fast": fast}, open(previous_path, "w"))
answered = int(total - previous["total"])
slow = int((total - fast) - (previous["total"] - previous["fast"]))
print(json.dumps({"label": f"server/{label}", "answered": answered, "over_1s": slow}))
PY
}

ready_after() { # seconds from now until /health/ready answers 200
  local start; start=$(date +%s.%N)
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health/ready" 2>/dev/null && break
    sleep 0.05
  done
  echo "$(date +%s.%N) - $start" | bc
}

echo "== $(nproc) cores; wrk -t1 per load (validation -c$CONC, sign-in -c4, refresh chain -c1), ${PHASE}s phases, $N_USERS users"
server_side seeding
load before
pg stop -m fast
load down
echo "{\"label\":\"ready/down\",\"status\":$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health/ready")}" | tee -a "$WORK/results.jsonl"
pg start
echo "{\"label\":\"ready/after-start\",\"secs\":$(ready_after)}" | tee -a "$WORK/results.jsonl"
( sleep 2; pg stop -m fast; sleep 2; pg start ) &
flap=$!
load cut
wait "$flap" || true
echo "{\"label\":\"ready/after-cut\",\"secs\":$(ready_after)}" | tee -a "$WORK/results.jsonl"
load after
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
psql -qXAt "$URL" <<'SQL' | tee "$WORK/integrity.txt"
SELECT 'sessions without a refresh token: ' || count(*) FROM sessions s
  WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id);
SELECT 'live sessions without a current token: ' || count(*) FROM sessions s
  WHERE s.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id AND r.rotated_at IS NULL);
SELECT 'sessions with two current tokens: ' || count(*) FROM (SELECT session_id FROM refresh_tokens WHERE rotated_at IS NULL GROUP BY session_id HAVING count(*) > 1) t;
SELECT 'refresh tokens without a session: ' || count(*) FROM refresh_tokens r WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = r.session_id);
SELECT 'sessions: ' || count(*) FROM sessions;
SQL
python3 - "$WORK/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l.replace(':.', ':0.')) for l in open(sys.argv[1]) if l.strip()]
print(f"{'phase/load':24} {'requests':>9} {'non-2xx':>8} {'503':>7} {'503+RA':>7} {'conn err':>8} {'p99 ms':>8} {'max ms':>8}")
for r in rows:
    if "requests" in r:
        errs = r["err_connect"] + r["err_read"] + r["err_write"] + r["err_timeout"]
        print(f"{r['label']:24} {r['requests']:>9} {r['non2xx']:>8} {r['s503']:>7} {r['s503_retry_after']:>7} {errs:>8} {r['p99_ms']:>8.1f} {r['max_ms']:>8.1f}")
    else:
        print(r)
PY
