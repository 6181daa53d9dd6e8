#!/usr/bin/env bash
# Resident memory of capcom under bursts of anonymous sign-ins with unknown identities and wrong passwords:
# 20 one at a time, then 200 with 32 in flight. Prints RSS at start, peak, and 5 s after the burst.
#
#   bench/signin_memory.sh [BINARY]      (default: target/release/capcom)
source "$(dirname "$0")/common.sh"
binary=${1:-target/release/capcom}
port=${PORT:-18871}

start_capcom "$binary" "$port"
trap stop_capcom EXIT
start_rss=$(rss_kib "$CAPCOM_PID")

sign_in() {
  curl -s -m 120 -H 'content-type: application/json' \
    --data "{\"query\":\"mutation { createToken(identity: \\\"nobody-$1@example.com\\\", password: \\\"wrong password\\\") { token { value } } }\"}" \
    "$CAPCOM_BASE/v1" | grep -o '"code":"[A-Z_]*"' | head -1
}
export -f sign_in
export CAPCOM_BASE

for n in $(seq 1 20); do sign_in "$n" >/dev/null; done
seq 21 220 | xargs -P 32 -I{} bash -c 'sign_in {}' | sort | uniq -c
peak=$(hwm_kib "$CAPCOM_PID")
sleep 5
settled=$(rss_kib "$CAPCOM_PID")
echo "binary=$binary start_rss_mib=$((start_rss / 1024)) peak_rss_mib=$((peak / 1024)) settled_rss_mib=$((settled / 1024))"
