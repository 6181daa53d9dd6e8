#!/usr/bin/env bash
# The two sequences of issue 22 against one binary, with capcom's CPU time per request (/proc/PID/stat,
# user + system) and its peak resident memory (VmHWM) through each:
#
# 1. fan-out: a plain member who created 14 workspaces sends 8 aliases of
#    `self { roleBindings { workspace { users { roleBindings { … { id } } } } } }` nested 15 deep (1.6 KB),
#    then the same selection with one alias; then a `{ self { id } }` is timed.
# 2. amplification: public sign-ups off, anonymous `createUser(…, inviteToken: "garbage")` × 20 aliases ×
#    10 batched operations (19 KB): one request alone, then 16 in flight while a signed-in `{ self { id } }`
#    is timed. Per-address throttling is set out of the way (CAPCOM_LOGIN_MAX_FAILURES_PER_ADDRESS=100000):
#    an attacker with 16 addresses meets it no sooner.
#
#   bench/reply_cpu.sh [BINARY] [fan_out|amplification ...]    (default: target/release/capcom, both)
#
# TIMEOUT (default 90 s) caps each request; a request cut there is reported as "> TIMEOUT s" (the server
# may still be working on it: the CPU figure then counts only the time waited).
source "$(dirname "$0")/common.sh"
binary=${1:-target/release/capcom}
shift || true
port=${PORT:-18873}
timeout=${TIMEOUT:-90}
work=$(mktemp -d /tmp/capcom-reply-XXXXXX)
trap 'stop_capcom 2>/dev/null; rm -rf "$work"' EXIT

# post FILE [TOKEN]: POSTs FILE to /v1; writes the reply to $work/reply, prints "HTTP_CODE SECONDS".
post() {
  local auth=()
  [ -n "${2:-}" ] && auth=(-H "Authorization: $2")
  curl -s -m "$timeout" -o "$work/reply" -w '%{http_code} %{time_total}' -H 'content-type: application/json' \
    "${auth[@]}" --data-binary "@$1" "$CAPCOM_BASE/v1" || true
}

# body QUERY: the JSON body of one operation, in $work/body.json.
body() { jq -cn --arg q "$1" '{query: $q}' >"$work/body.json"; }

summary() { head -c 200 "$work/reply" | tr '\n' ' '; }

# measure NAME FILE [TOKEN]: sends FILE once (or REPEAT times when the first answer takes under a second)
# and prints the CPU per request, the first answer's status, time and size, and the peak RSS so far.
measure() {
  local name=$1 file=$2 token=${3:-} before after result code seconds bytes n=1
  before=$(cpu_ticks "$CAPCOM_PID")
  result=$(post "$file" "$token")
  code=${result% *}
  seconds=${result#* }
  bytes=$(stat -c %s "$work/reply" 2>/dev/null || echo 0)
  local first
  first=$(summary)
  if [ "$code" = 000 ]; then seconds="> $timeout"; first="no answer within $timeout s"; fi
  if [ "$code" != 000 ] && awk "BEGIN {exit !($seconds < 1)}"; then
    for _ in $(seq 2 "${REPEAT:-10}"); do post "$file" "$token" >/dev/null; done
    n=${REPEAT:-10}
  fi
  sleep 0.2
  after=$(cpu_ticks "$CAPCOM_PID")
  echo "$name: requests=$n cpu_ms_per_request=$(((after - before) * 1000 / TICKS_PER_SECOND / n)) http=$code" \
    "seconds=$seconds reply_bytes=$bytes peak_rss_mib=$(($(hwm_kib "$CAPCOM_PID") / 1024)) reply=$first"
}

# The fan-out document of issue 22: `aliases` aliases of self { roleBindings { workspace { users { … } } } }
# `depth` fields deep counting `self` and `id`, the depth the limit counts (as tests/it/cost.rs builds it).
fan_out() {
  local aliases=$1 depth=$2 names=(roleBindings workspace users) inner="id" chain=() i
  for ((i = 0; i < depth - 2; i++)); do chain+=("${names[i % 3]}"); done
  for ((i = ${#chain[@]} - 1; i >= 0; i--)); do inner="${chain[i]} { $inner }"; done
  local fields=""
  for ((i = 0; i < aliases; i++)); do fields+="a$i: self { $inner } "; done
  printf '{ %s}' "$fields"
}

sign_up() {
  body "mutation { createUser(email: \"$1\", password: \"correct horse battery\") { token { value } } }"
  post "$work/body.json" >/dev/null
  jq -r '.data.createUser.token.value' "$work/reply"
}

run_fan_out() {
  start_capcom "$binary" "$port" CAPCOM_PUBLIC_SIGNUPS=true
  echo "fan_out: binary=$binary start_rss_mib=$(($(rss_kib "$CAPCOM_PID") / 1024))"
  sign_up root@example.com >/dev/null
  local member i
  member=$(sign_up member@example.com)
  for i in $(seq -w 1 14); do
    body "mutation { createWorkspace(label: \"Workspace $i\") { id } }"
    post "$work/body.json" "$member" >/dev/null
  done
  body "$(fan_out 8 15)"
  cp "$work/body.json" "$work/fan8.json"
  echo "fan_out: document_bytes=$(jq -r .query "$work/fan8.json" | wc -c)"
  measure "fan_out 8 aliases, depth 15" "$work/fan8.json" "$member"
  body "$(fan_out 1 15)"
  measure "fan_out 1 alias, depth 15" "$work/body.json" "$member"
  body "{ self { id } }"
  measure "self afterwards" "$work/body.json" "$member"
  echo "fan_out: rss_now_mib=$(($(rss_kib "$CAPCOM_PID") / 1024)) peak_rss_mib=$(($(hwm_kib "$CAPCOM_PID") / 1024))"
  stop_capcom
}

run_amplification() {
  start_capcom "$binary" "$port" CAPCOM_LOGIN_MAX_FAILURES_PER_ADDRESS=100000
  echo "amplification: binary=$binary start_rss_mib=$(($(rss_kib "$CAPCOM_PID") / 1024))"
  local root b n ops=() fields
  root=$(sign_up root@example.com)
  for b in $(seq 0 9); do
    fields=""
    for n in $(seq 0 19); do
      fields+="a$n: createUser(email: \"b$b-a$n@example.com\", password: \"correct horse battery\", inviteToken: \"garbage\") { user { id } } "
    done
    ops+=("mutation { $fields}")
  done
  printf '%s\n' "${ops[@]}" | jq -cRn '[inputs | {query: .}]' >"$work/amplify.json"
  echo "amplification: request_bytes=$(stat -c %s "$work/amplify.json")"
  measure "amplification, one request" "$work/amplify.json"
  echo "amplification: error codes of that reply: $(jq -r '[.[].errors[]?.extensions.code] | group_by(.) | map("\(.[0])×\(length)") | join(" ")' "$work/reply" 2>/dev/null)"

  # 16 in flight, and a signed-in `{ self { id } }` sent while they are.
  body "{ self { id } }"
  cp "$work/body.json" "$work/self.json"
  local before after pids=() started
  before=$(cpu_ticks "$CAPCOM_PID")
  started=$(date +%s%N)
  for n in $(seq 1 16); do
    curl -s -m "$timeout" -o "$work/flood-$n" -w '%{http_code} %{time_total}\n' -H 'content-type: application/json' \
      --data-binary "@$work/amplify.json" "$CAPCOM_BASE/v1" >"$work/flood-$n.status" &
    pids+=($!)
  done
  sleep 0.3
  local self_result still
  self_result=$(curl -s -m "$timeout" -o "$work/self-reply" -w '%{http_code} %{time_total}' \
    -H 'content-type: application/json' -H "Authorization: $root" --data-binary "@$work/self.json" "$CAPCOM_BASE/v1" || true)
  still=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && still=$((still + 1)); done
  wait "${pids[@]}" || true
  local all_ms=$((($(date +%s%N) - started) / 1000000))
  sleep 0.2
  after=$(cpu_ticks "$CAPCOM_PID")
  echo "amplification, 16 in flight: cpu_ms_per_request=$(((after - before) * 1000 / TICKS_PER_SECOND / 16))" \
    "all_answered_ms=$all_ms statuses=$(cat "$work"/flood-*.status | awk '{print $1}' | sort | uniq -c | tr -s ' \n' ' ')" \
    "peak_rss_mib=$(($(hwm_kib "$CAPCOM_PID") / 1024))"
  echo "amplification, 16 in flight: error codes: $(for n in $(seq 1 16); do
    jq -r '.. | objects | .extensions?.code? // empty' "$work/flood-$n"; done | sort | uniq -c | tr -s ' \n' ' ')"
  echo "amplification, signed-in self while they ran: http=${self_result% *} seconds=${self_result#* }" \
    "floods_still_in_flight_when_answered=$still reply=$(head -c 120 "$work/self-reply")"
  local hashes
  hashes=$(curl -s "$CAPCOM_BASE/metrics" | awk '/^capcom_password_hashes_total / {print $2}')
  echo "amplification: password_hashes_total=${hashes:-not exported} (1 is the root's sign-up)"
  stop_capcom
}

sequences=("$@")
[ ${#sequences[@]} -gt 0 ] || sequences=(fan_out amplification)
for sequence in "${sequences[@]}"; do "run_$sequence"; done
