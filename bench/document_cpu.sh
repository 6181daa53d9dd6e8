#!/usr/bin/env bash
# CPU time capcom spends on hostile GraphQL documents sent without a token. Each shape is sent REPEAT times
# (once when it is slower than a second) and the process's CPU time (user + system, /proc/PID/stat) is
# divided by the number of requests.
#
#   bench/document_cpu.sh [BINARY] [SHAPE...]     (default: target/release/capcom, every shape)
source "$(dirname "$0")/common.sh"
binary=${1:-target/release/capcom}
shift || true
port=${PORT:-18872}
repeat=${REPEAT:-20}
work=$(mktemp -d /tmp/capcom-docs-XXXXXX)

# Writes the JSON body of shape $1 to $work/$1.json.
make_body() {
  local shape=$1 query
  case $shape in
    fragments20|fragments30)
      local levels=${shape#fragments}
      query="{ workspaces { ...G0 } }"
      for i in $(seq 0 $((levels - 1))); do query+=" fragment G$i on Workspace { ...G$((i + 1)) ...G$((i + 1)) }"; done
      query+=" fragment G$levels on Workspace { id }" ;;
    fragment_cycle) query="{ ...A } fragment A on Query { ...A ...A }" ;;
    flat_fields) query="{ $(printf 'appConfig { version } %.0s' $(seq 1 20000)) }" ;;
    wide_selection) query="{ appConfig { $(printf 'version %.0s' $(seq 1 100000)) } }" ;;
    nested_lists) query="{ appConfig(x: $(printf '[%.0s' $(seq 1 3000))1$(printf ']%.0s' $(seq 1 3000))) { version } }" ;;
    directives) query="{ appConfig { version $(printf '@skip(if: false) %.0s' $(seq 1 20000)) } }" ;;
    aliases) query="{ $(for i in $(seq 1 5000); do printf 'a%d: appConfig { version } ' "$i"; done) }" ;;
    plain) query="{ appConfig { version } }" ;;
    edge_fields) query="{ appConfig { $(printf 'version %.0s' $(seq 1 9990)) } }" ;;
    edge_fragments)
      # 99 fragments in a chain, each selecting 90 fields and spreading the next: just inside every limit.
      query="{ appConfig { ...F0 } }"
      for i in $(seq 0 98); do query+=" fragment F$i on AppConfig { $(printf 'version %.0s' $(seq 1 90)) ...F$((i + 1)) }"; done
      query+=" fragment F99 on AppConfig { version }" ;;
    *) echo "unknown shape $shape" >&2; return 1 ;;
  esac
  printf '%s' "$query" >"$work/$shape.graphql"
  jq -cRs '{query: .}' "$work/$shape.graphql" >"$work/$shape.json"
}

shapes=("$@")
[ ${#shapes[@]} -gt 0 ] || shapes=(plain edge_fields edge_fragments fragments20 fragments30 fragment_cycle flat_fields wide_selection nested_lists directives aliases)

start_capcom "$binary" "$port"
trap 'stop_capcom; rm -rf "$work"' EXIT
echo "binary=$binary"
for shape in "${shapes[@]}"; do
  make_body "$shape"
  bytes=$(stat -c %s "$work/$shape.json")
  before=$(cpu_ticks "$CAPCOM_PID")
  started=$(date +%s%N)
  reply=$(curl -s -m "${TIMEOUT:-60}" -H 'content-type: application/json' --data-binary "@$work/$shape.json" "$CAPCOM_BASE/v1" || echo "no answer within ${TIMEOUT:-60} s")
  elapsed_ms=$((($(date +%s%N) - started) / 1000000))
  n=1
  if [ "$elapsed_ms" -lt 1000 ]; then
    for _ in $(seq 2 "$repeat"); do curl -s -m 60 -H 'content-type: application/json' --data-binary "@$work/$shape.json" "$CAPCOM_BASE/v1" >/dev/null; done
    n=$repeat
  fi
  sleep 0.2
  after=$(cpu_ticks "$CAPCOM_PID")
  cpu_ms=$(((after - before) * 1000 / TICKS_PER_SECOND / n))
  summary=${reply:0:160}
  summary=${summary//$'\n'/ }
  echo "shape=$shape bytes=$bytes requests=$n cpu_ms_per_request=$cpu_ms first_reply_ms=$elapsed_ms reply=$summary"
done
