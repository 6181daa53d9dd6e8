# Shared helpers of the bench scripts: start a capcom binary on a fresh data folder, read its memory and CPU.
# Sourced, not run. Everything stays on 127.0.0.1.

set -euo pipefail

# start_capcom BINARY PORT [VAR=VALUE...]: starts BINARY with a private PostgreSQL in a temporary data folder,
# waits for /readyz, and sets CAPCOM_PID, CAPCOM_BASE and CAPCOM_DATA.
start_capcom() {
  local binary=$1 port=$2
  shift 2
  CAPCOM_DATA=$(mktemp -d /tmp/capcom-bench-XXXXXX)
  chmod 755 "$CAPCOM_DATA"
  env -u DATABASE_URL CAPCOM_DATA_DIR="$CAPCOM_DATA" CAPCOM_LISTEN="127.0.0.1:$port" RUST_LOG=warn "$@" \
    "$binary" >"$CAPCOM_DATA/capcom.log" 2>&1 &
  CAPCOM_PID=$!
  CAPCOM_BASE="http://127.0.0.1:$port"
  for _ in $(seq 1 600); do
    if curl -sf "$CAPCOM_BASE/readyz" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "capcom did not become ready; log: $CAPCOM_DATA/capcom.log" >&2
  return 1
}

stop_capcom() {
  kill -INT "$CAPCOM_PID" 2>/dev/null || true
  wait "$CAPCOM_PID" 2>/dev/null || true
  rm -rf "$CAPCOM_DATA"
}

# rss_kib PID: resident set size now; hwm_kib PID: peak resident set size so far.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# cpu_ticks PID: user + system CPU time of the process so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS_PER_SECOND=$(getconf CLK_TCK)

# gql BODY_FILE: POSTs a JSON body to /v1 and prints the response.
gql() {
  curl -s -m 600 -H 'content-type: application/json' --data-binary "@$1" "$CAPCOM_BASE/v1"
}
