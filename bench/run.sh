#!/usr/bin/env bash
# The load benchmark (bench/README.md): capcom and PostGraphile 5 side by side on one PostgreSQL holding
# `capcom seed --profile bench`, under a closed-loop load from wrk, and pgbench replaying the exact
# statements capcom issued for one request of each scenario (the ceiling; `write` is not replayed: its
# statements create and delete rows by id).
#
#   bench/run.sh [CAPCOM_BINARY ...]
#
# With no binary, builds `cargo build --release` and measures target/release/capcom. Several binaries
# (for example the release build of an older commit, then this one) are measured one after the other on
# the same database. Environment: DURATION (seconds per run, default 10), CLIENTS (default "1 16 64"),
# SCENARIOS (default all), PEER=0 to skip PostGraphile, REPLAY=0 to skip the pgbench replays, FLOOR=0 to
# skip the floor, OUT (results file, default bench/results.txt).
#
# The floor (bench/floor.rs, the binary capcom-bench-floor built beside the last capcom binary) answers
# `self_token`, `workspace_token` and `workspace_key` on capcom's own stack without GraphQL: what the HTTP
# server, the pool, authentication and the statements cost by themselves on this machine.
#
# Installs what it needs the way the README tells a user: Debian's wrk and PostgreSQL (pgbench), and the
# npm packages of bench/postgraphile (PostGraphile 5 and a Node 22 to run it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-"1 16 64"}
SCENARIOS=${SCENARIOS:-"dashboard dashboard_mid dashboard_owner members self_token self_apq self_owner workspace_token workspace_key write"}
PEER=${PEER:-1}
FLOOR=${FLOOR:-1}
OUT=${OUT:-$ROOT/bench/results.txt}
PG_PORT=${PG_PORT:-55432}
CAPCOM_PORT=${CAPCOM_PORT:-58080}
PEER_PORT=${PEER_PORT:-55678}

# Tools.
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v pgbench >/dev/null || missing+=(postgresql-contrib)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
  echo "installing Debian's ${missing[*]}"
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
if [ "$PEER" = 1 ] && [ ! -x bench/postgraphile/node_modules/.bin/postgraphile ]; then
  (cd bench/postgraphile && npm ci --no-audit --no-fund >/dev/null)
fi

BINARIES=("$@")
if ((${#BINARIES[@]} == 0)); then
  cargo build --release --quiet --bin capcom --bin capcom-bench-floor
  BINARIES=("$ROOT/target/release/capcom")
fi

WORK=$(mktemp -d /tmp/capcom-load-XXXXXX)
chmod 755 "$WORK"
PIDS=()
PEER_PID=""
cleanup() {
  for pid in "${PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  # By its id: another run of this script on the machine keeps its own PostGraphile.
  if [ -n "$PEER_PID" ]; then kill -INT "$PEER_PID" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL: one server for everyone, statement logging switched on only while capturing. It refuses to
# run as root; then it runs as the `postgres` system user the Debian package makes.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
as_pg "$PG_BIN/initdb" -D "$WORK/pg" -U postgres -A trust >/dev/null
cat >>"$WORK/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$WORK'
max_connections = 200
shared_buffers = 256MB
log_line_prefix = '%p [%a] '
EOF
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
DB="postgres://postgres@127.0.0.1:$PG_PORT/capcom"
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres capcom
psql_c() { "$PG_BIN/psql" -X -q -t -A -h 127.0.0.1 -p "$PG_PORT" -U postgres capcom -c "$1"; }

DATABASE_URL="$DB" "${BINARIES[0]}" migrate >/dev/null
DATABASE_URL="$DB" "${BINARIES[0]}" seed --profile bench >"$WORK/seed.txt" 2>&1
API_KEY=$(sed -n 's/.*("bench-ci"): *//p' "$WORK/seed.txt")
[ -n "$API_KEY" ] || { echo "capcom seed printed no API key:" >&2; cat "$WORK/seed.txt" >&2; exit 1; }
# The self_owner caller (issue 24: authentication flat in what the caller holds). The seed writes no
# binding a role already implies, so its system admin holds 2; this gives user4990, a plain member, what
# the admin held before: a direct role on each of Workspace 001-100 and on each of their 1 000
# deployments (~1 100 bindings). Written here, as bench data, rather than by the seed, whose counts the
# tests pin.
psql_c "INSERT INTO role_bindings (id, role, user_id, scope, workspace_id)
  SELECT gen_random_uuid(), 'WORKSPACE_VIEWER', e.user_id, 'WORKSPACE', w.id
  FROM emails e, workspaces w
  WHERE e.address = 'user4990@bench.example.com' AND w.label BETWEEN 'Workspace 001' AND 'Workspace 100'
  ON CONFLICT DO NOTHING" >/dev/null
psql_c "INSERT INTO role_bindings (id, role, user_id, scope, deployment_id)
  SELECT gen_random_uuid(), 'DEPLOYMENT_VIEWER', e.user_id, 'DEPLOYMENT', d.id
  FROM emails e, workspaces w JOIN deployments d ON d.workspace_id = w.id AND d.deleted_at IS NULL
  WHERE e.address = 'user4990@bench.example.com' AND w.label BETWEEN 'Workspace 001' AND 'Workspace 100'
  ON CONFLICT DO NOTHING" >/dev/null
MANY_BINDINGS=$(psql_c "SELECT count(*) FROM role_bindings rb JOIN emails e ON e.user_id = rb.user_id WHERE e.address = 'user4990@bench.example.com'")
echo "self_owner's caller holds $MANY_BINDINGS bindings" >&2
psql_c "VACUUM ANALYZE" >/dev/null

MEMBER_ID=$(psql_c "SELECT user_id FROM emails WHERE address = 'bench-member@bench.example.com'")
OWNER_ID=$(psql_c "SELECT user_id FROM emails WHERE address = 'bench-owner@bench.example.com'")
MID_ID=$(psql_c "SELECT user_id FROM emails WHERE address = 'bench-mid@bench.example.com'")
ORG_ID=$(psql_c "SELECT id FROM organizations ORDER BY created_at LIMIT 1")
WS1=$(psql_c "SELECT id FROM workspaces WHERE label = 'Workspace 001'")
KEY_WS=$WS1 # the printed key is an editor of Workspace 001

# body FILE [VARIABLES_JSON]: a GraphQL POST body for the document in FILE.
body() {
  python3 -c 'import json,sys; print(json.dumps({"query": open(sys.argv[1]).read(), "variables": json.loads(sys.argv[2])}))' "$1" "${2:-{\}}"
}

# persisted FILE register|hash: the body of an automatic persisted query (Apollo's protocol) for the document
# in FILE: its text with its SHA-256 (which registers it), or the hash alone.
persisted() {
  python3 -c 'import hashlib,json,sys
q = open(sys.argv[1]).read()
body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(q.encode()).hexdigest()}}}
if sys.argv[2] == "register": body["query"] = q
print(json.dumps(body))' "$1" "$2"
}

# load NAME URL BODY_FILE AUTH PID: wrk at each client count; prints one line per run.
load() {
  local name=$1 url=$2 bodyfile=$3 auth=$4 pid=$5 script=${6:-bench/post.lua}
  for clients in $CLIENTS; do
    local threads=$((clients < 2 ? clients : 2))
    local ticks_before; ticks_before=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    local output
    output=$(BENCH_BODY=$bodyfile BENCH_AUTH=$auth BENCH_WORKSPACE=$KEY_WS \
      wrk -t "$threads" -c "$clients" -d "${DURATION}s" --timeout 30s --latency -s "$script" "$url")
    local ticks_after; ticks_after=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    python3 - "$name" "$clients" "$ticks_before" "$ticks_after" "$(getconf CLK_TCK)" \
      "$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")" "$output" <<'PY'
import re, sys
name, clients, before, after, tck, hwm = sys.argv[1:7]
out = sys.argv[7]
def unit(v, u):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[u]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
total = int(re.search(r"(\d+) requests in", out).group(1))
p50 = unit(*re.search(r"50%\s+([\d.]+)(us|ms|s)", out).groups())
p99 = unit(*re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups())
failures = int(re.search(r"graphql_failures (\d+)", out).group(1))
errors = re.search(r"Socket errors: (.*)", out)
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
cpu_ms = (int(after) - int(before)) * 1000.0 / int(tck) / max(total, 1)
print(f"{name:<26} c={int(clients):<3} rps={rps:9.1f} p50={p50:8.2f}ms p99={p99:8.2f}ms "
      f"cpu/req={cpu_ms:7.3f}ms peak_rss={int(hwm)/1024:6.1f}MiB failures={failures}"
      + (f" socket_errors=({errors.group(1)})" if errors else "")
      + (f" non2xx={non2xx.group(1)}" if non2xx else ""))
PY
  done
}

# One reply, checked, with its size: a scenario that answers errors is not measured.
check() {
  local url=$1 bodyfile=$2 auth=$3
  local reply; reply=$(curl -s -H 'content-type: application/json' ${auth:+-H "Authorization: $auth"} --data-binary "@$bodyfile" "$url")
  if echo "$reply" | grep -q '"errors"'; then echo "scenario answers errors: ${reply:0:400}" >&2; return 1; fi
  echo "${#reply}"
}

statements_total() {
  curl -s "http://127.0.0.1:$CAPCOM_PORT/metrics" | awk '/^capcom_sql_statements_total/ {s += $2} END {print s + 0}'
}

# Capture the statements capcom runs for one request as a pgbench script (parameters inlined).
capture() {
  local bodyfile=$1 auth=$2 script=$3
  psql_c "ALTER SYSTEM SET log_min_duration_statement = 0" >/dev/null
  psql_c "SELECT pg_reload_conf()" >/dev/null
  psql_c "SELECT 'capcom-capture-start'" >/dev/null
  curl -s -o /dev/null -H 'content-type: application/json' -H "Authorization: $auth" --data-binary "@$bodyfile" \
    "http://127.0.0.1:$CAPCOM_PORT/v1"
  psql_c "SELECT 'capcom-capture-end'" >/dev/null
  psql_c "ALTER SYSTEM RESET log_min_duration_statement" >/dev/null
  psql_c "SELECT pg_reload_conf()" >/dev/null
  python3 bench/pg_log_to_pgbench.py "$WORK/pg.log" >"$script"
}

{
  echo "# capcom load benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), ${DURATION}s per run, wrk closed loop on loopback"
  grep '^Counts' "$WORK/seed.txt" | sed 's/^Counts:/# data:/'
} | tee "$OUT"

# PostGraphile, started once, after the last capcom binary has migrated the database (it reads the schema
# when it starts).
start_peer() {
  if [ "$PEER" = 1 ]; then
    (cd bench/postgraphile && DATABASE_URL=$DB PORT=$PEER_PORT NODE_ENV=production \
      node_modules/.bin/node node_modules/.bin/postgraphile -C graphile.config.mjs >"$WORK/postgraphile.log" 2>&1) &
    PEER_SHELL=$!
    for _ in $(seq 1 300); do
      curl -sf -o /dev/null -H 'content-type: application/json' --data '{"query":"{__typename}"}' \
        "http://127.0.0.1:$PEER_PORT/graphql" && break
      sleep 0.2
    done
    PEER_PID=$(pgrep -f "postgraphile -C graphile.config.mjs" | head -1)
    PIDS+=("$PEER_SHELL")
    body bench/postgraphile/dashboard.graphql "{\"member\": \"$MEMBER_ID\"}" >"$WORK/pgl_dashboard.json"
    body bench/postgraphile/dashboard_mid.graphql "{\"member\": \"$MID_ID\"}" >"$WORK/pgl_dashboard_mid.json"
    body bench/postgraphile/dashboard_owner.graphql "{\"organization\": \"$ORG_ID\"}" >"$WORK/pgl_dashboard_owner.json"
    body bench/postgraphile/members.graphql "{\"workspace\": \"$WS1\"}" >"$WORK/pgl_members.json"
    body bench/postgraphile/self.graphql "{\"user\": \"$MEMBER_ID\"}" >"$WORK/pgl_self.json"
    body bench/postgraphile/workspace.graphql "{\"workspace\": \"$KEY_WS\"}" >"$WORK/pgl_workspace.json"
  fi
}

FLOOR_BIN=""
if [ "$FLOOR" = 1 ]; then
  if [ -x "$(dirname "${BINARIES[-1]}")/capcom-bench-floor" ]; then
    FLOOR_BIN=$(dirname "${BINARIES[-1]}")/capcom-bench-floor
  else
    echo "no capcom-bench-floor beside ${BINARIES[-1]}: the floor is not measured" >&2
  fi
fi
floor_scenarios=()
for binary in "${BINARIES[@]}"; do
  # Default configuration, logging included (one line per request, as in production).
  DATABASE_URL=$DB CAPCOM_LISTEN=127.0.0.1:$CAPCOM_PORT "$binary" >"$WORK/capcom.log" 2>&1 &
  CAPCOM_PID=$!
  PIDS+=("$CAPCOM_PID")
  for _ in $(seq 1 300); do curl -sf -o /dev/null "http://127.0.0.1:$CAPCOM_PORT/readyz" && break; sleep 0.1; done
  URL="http://127.0.0.1:$CAPCOM_PORT/v1"
  if [ "$binary" = "${BINARIES[-1]}" ]; then start_peer; fi
  token() {
    curl -s -H 'content-type: application/json' --data \
      "{\"query\":\"mutation(\$i: String!, \$p: String!) { createToken(identity: \$i, password: \$p) { token { value } } }\",\"variables\":{\"i\":\"$1\",\"p\":\"capcom-bench-password\"}}" \
      "$URL" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createToken"]["token"]["value"])'
  }
  MEMBER_TOKEN=$(token bench-member@bench.example.com)
  OWNER_TOKEN=$(token bench-owner@bench.example.com)
  MID_TOKEN=$(token bench-mid@bench.example.com)
  # The caller holding ~1 100 bindings (see above).
  MANY_TOKEN=$(token user4990@bench.example.com)
  # Deleting a deployment takes a workspace admin: the write scenario's key is one, made by the owner.
  WRITE_KEY=$(curl -s -H 'content-type: application/json' -H "Authorization: Bearer $OWNER_TOKEN" --data \
    "{\"query\":\"mutation(\$w: Uuid!, \$l: String!) { createWorkspaceServiceAccount(label: \$l, category: \\\"bench\\\", workspaceUuid: \$w, role: WORKSPACE_ADMIN) { apiKey } }\",\"variables\":{\"w\":\"$KEY_WS\",\"l\":\"bench-write-$RANDOM$RANDOM\"}}" \
    "$URL" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["createWorkspaceServiceAccount"]["apiKey"])')
  body bench/queries/dashboard.graphql >"$WORK/dashboard.json"
  body bench/queries/dashboard_mid.graphql >"$WORK/dashboard_mid.json"
  body bench/queries/dashboard_owner.graphql >"$WORK/dashboard_owner.json"
  body bench/queries/members.graphql "{\"workspaceUuid\": \"$WS1\"}" >"$WORK/members.json"
  body bench/queries/self.graphql >"$WORK/self.json"
  persisted bench/queries/self.graphql register >"$WORK/self_apq_register.json"
  persisted bench/queries/self.graphql hash >"$WORK/self_apq.json"
  body bench/queries/key_workspace.graphql "{\"workspaceUuid\": \"$KEY_WS\"}" >"$WORK/key_workspace.json"
  echo "## capcom $binary ($(git -C "$(dirname "$binary")" rev-parse --short HEAD 2>/dev/null || echo '?'))" | tee -a "$OUT"

  for scenario in $SCENARIOS; do
    case $scenario in
      dashboard) file=dashboard.json auth="Bearer $MEMBER_TOKEN" peer=pgl_dashboard.json ;;
      dashboard_mid) file=dashboard_mid.json auth="Bearer $MID_TOKEN" peer=pgl_dashboard_mid.json ;;
      dashboard_owner) file=dashboard_owner.json auth="Bearer $OWNER_TOKEN" peer=pgl_dashboard_owner.json ;;
      members) file=members.json auth="Bearer $MEMBER_TOKEN" peer=pgl_members.json ;;
      self_token) file=self.json auth="Bearer $MEMBER_TOKEN" peer=pgl_self.json ;;
      self_owner) file=self.json auth="Bearer $MANY_TOKEN" peer="" ;;
      # The self_token document sent by its hash alone, once registered (PostGraphile has no APQ).
      self_apq) file=self_apq.json auth="Bearer $MEMBER_TOKEN" peer=""
        curl -s -o /dev/null -H 'content-type: application/json' -H "Authorization: $auth" \
          --data-binary "@$WORK/self_apq_register.json" "$URL" ;;
      workspace_token) file=key_workspace.json auth="Bearer $MEMBER_TOKEN" peer=pgl_workspace.json ;;
      workspace_key) file=key_workspace.json auth="$API_KEY" peer=pgl_workspace.json ;;
      write) file="" auth="$WRITE_KEY" peer="" ;;
    esac
    if [ "$scenario" = write ]; then
      load "capcom write" "$URL" /dev/null "$auth" "$CAPCOM_PID" bench/write.lua | tee -a "$OUT"
      continue
    fi
    size=$(check "$URL" "$WORK/$file" "$auth")
    # A scrape of /metrics runs a statement of its own (gauges read from the database): measured and
    # taken off.
    idle=$(statements_total)
    before=$(statements_total)
    curl -s -o /dev/null -H 'content-type: application/json' -H "Authorization: $auth" --data-binary "@$WORK/$file" "$URL"
    statements=$(($(statements_total) - before - (before - idle)))
    echo "# $scenario: $size bytes of JSON, $statements SQL statements per request" | tee -a "$OUT"
    load "capcom $scenario" "$URL" "$WORK/$file" "$auth" "$CAPCOM_PID" | tee -a "$OUT"
    if [ "$PEER" = 1 ] && [ -n "$peer" ] && [ "$binary" = "${BINARIES[-1]}" ]; then
      # A peer document that answers errors is reported and skipped, not fatal.
      if psize=$(check "http://127.0.0.1:$PEER_PORT/graphql" "$WORK/$peer" ""); then
        echo "# $scenario on PostGraphile: $psize bytes of JSON" | tee -a "$OUT"
        load "postgraphile $scenario" "http://127.0.0.1:$PEER_PORT/graphql" "$WORK/$peer" "" "$PEER_PID" | tee -a "$OUT"
      else
        echo "# $scenario on PostGraphile: skipped, its document answers errors" | tee -a "$OUT"
      fi
    fi
    if [ "$binary" = "${BINARIES[-1]}" ] && [ -n "$FLOOR_BIN" ]; then
      case $scenario in
        self_token | workspace_token | workspace_key)
          curl -s -H 'content-type: application/json' -H "Authorization: $auth" --data-binary "@$WORK/$file" "$URL" \
            >"$WORK/$scenario.reply"
          floor_scenarios+=("$scenario|$file|$auth") ;;
      esac
    fi
    if [ "$binary" = "${BINARIES[-1]}" ] && [ "${REPLAY:-1}" = 1 ]; then
      # The ceiling of this scenario: its own statements, as capcom ran them for one request (captured
      # after the load, so that the caches are as the load left them: an API key's lastUsedAt, written at
      # most once a minute, was written by the load), replayed by pgbench as one transaction with the same
      # concurrency. `-M prepared`: capcom's statements are cached prepared statements too.
      capture "$WORK/$file" "$auth" "$WORK/$scenario.sql"
      echo "# ceiling: pgbench replaying capcom's $(grep -c ';$' "$WORK/$scenario.sql") $scenario statements as one transaction: $(tr '\n' ' ' <"$WORK/$scenario.sql" | cut -c1-300)" | tee -a "$OUT"
      for clients in $CLIENTS; do
        # A replay that fails (a statement whose inlined parameters need a cast) is reported, not fatal.
        tps=$("$PG_BIN/pgbench" -n -M prepared -h 127.0.0.1 -p "$PG_PORT" -U postgres -f "$WORK/$scenario.sql" \
          -c "$clients" -j "$((clients < 2 ? clients : 2))" -T "$DURATION" capcom 2>"$WORK/pgbench.err" |
          awk '/^tps/ {print $3}') || true
        [ -n "$tps" ] || tps="failed: $(grep -m1 -i error "$WORK/pgbench.err" | cut -c1-200)"
        printf 'pgbench %-18s c=%s tps=%s\n' "$scenario" "$clients" "$tps" | tee -a "$OUT"
      done
    fi
  done
  kill -INT "$CAPCOM_PID"; wait "$CAPCOM_PID" 2>/dev/null || true
done
# The floor, on the last binary's port with its configuration (its tokens verify with the same key).
if ((${#floor_scenarios[@]})); then
  DATABASE_URL=$DB CAPCOM_LISTEN=127.0.0.1:$CAPCOM_PORT "$FLOOR_BIN" >"$WORK/floor.log" 2>&1 &
  FLOOR_PID=$!
  PIDS+=("$FLOOR_PID")
  for _ in $(seq 1 300); do curl -s -o /dev/null -X POST "http://127.0.0.1:$CAPCOM_PORT/v1" && break; sleep 0.1; done
  kill -0 "$FLOOR_PID" 2>/dev/null || { echo "the floor did not start: $(tail -3 "$WORK/floor.log")" >&2; exit 1; }
  echo "## floor $FLOOR_BIN (capcom's stack without GraphQL: bench/floor.rs)" | tee -a "$OUT"
  for entry in "${floor_scenarios[@]}"; do
    IFS='|' read -r scenario file auth <<<"$entry"
    # The floor must answer what capcom answered, byte for byte, or it measures something else.
    curl -sf -H 'content-type: application/json' -H "Authorization: $auth" --data-binary "@$WORK/$file" \
      "http://127.0.0.1:$CAPCOM_PORT/v1" >"$WORK/$scenario.floor.reply" ||
      { echo "the floor refused $scenario" >&2; exit 1; }
    cmp -s "$WORK/$scenario.reply" "$WORK/$scenario.floor.reply" ||
      { echo "the floor's $scenario reply differs from capcom's" >&2; exit 1; }
    echo "# $scenario on the floor: $(wc -c <"$WORK/$scenario.floor.reply") bytes of JSON, the same as capcom's" | tee -a "$OUT"
    load "floor $scenario" "http://127.0.0.1:$CAPCOM_PORT/v1" "$WORK/$file" "$auth" "$FLOOR_PID" | tee -a "$OUT"
  done
  kill -INT "$FLOOR_PID"; wait "$FLOOR_PID" 2>/dev/null || true
fi
# Ratios of the last binary measured: capcom ÷ PostGraphile, ÷ pgbench and ÷ the floor, per scenario and client
# count.
python3 - "$OUT" "$(basename "${BINARIES[-1]}")" <<'PY' | tee -a "$OUT"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
last = max((i for i, line in enumerate(lines) if line.startswith("## capcom ")), default=0)
rps = {}
for line in lines[last:]:
    m = re.match(r"(capcom|postgraphile|floor) (\S+)\s+c=(\d+)\s+rps=\s*([\d.]+)", line)
    # A run that answered errors or refusals measured something else: no ratio from it.
    if m and ("failures=0" not in line or "non2xx=" in line):
        continue
    if m:
        rps[(m.group(1), m.group(2), int(m.group(3)))] = float(m.group(4))
    m = re.match(r"pgbench (\S+)\s+c=(\d+) tps=([\d.]+)", line)
    if m:
        rps[("pgbench", m.group(1), int(m.group(2)))] = float(m.group(3))
print("# ratios of the last capcom binary")
for (who, scenario, clients), value in sorted(rps.items()):
    if who != "capcom":
        continue
    parts = []
    for peer in ("postgraphile", "pgbench", "floor"):
        other = rps.get((peer, scenario, clients))
        if other:
            parts.append(f"÷ {peer} = {value / other:.2f}")
    if parts:
        print(f"capcom {scenario:<20} c={clients:<3} " + "  ".join(parts))
PY
echo "results: $OUT"
