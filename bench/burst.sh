#!/usr/bin/env bash
# bench/burst.sh (make burst): the peer harness's row (i) on its own, repeated:
# BURST concurrent lookups of one cold domain against a fresh tipgate (memory
# store) whose TIP is the shared harness's stand-in over mTLS with
# SLOW_LATENCY of latency. Each run starts a new tipgate the way
# run-peers.sh's tg_start does (TIPGATE_TIP_PROBE=false, log level warn), so
# the first TIP request finds no connection open, as on a real start.
#
# It needs the shared peer harness beside the checkout (SHARED, default
# ../shared/bench): it builds its upstream and loadgen and makes throwaway
# certificates with its gen-certs.sh. Prints p50/p99/max/min per run and the
# medians; min is the first caller's answer, so min - SLOW_LATENCY is what
# tipgate adds before the TIP request leaves and for the first answer.
# Knobs: RUNS=5 BURST=200 SLOW_LATENCY=200ms SHARED=../shared/bench WORK=<temp dir>
# Every process it starts is stopped by PID when it exits.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
RUNS=${RUNS:-5}
BURST=${BURST:-200}
SLOW_LATENCY=${SLOW_LATENCY:-200ms}
SHARED=$(cd "${SHARED:-../shared/bench}" 2>/dev/null && pwd) || { echo "burst: the shared peer harness is not at ${SHARED:-../shared/bench}" >&2; exit 1; }
WORK=${WORK:-$(mktemp -d /tmp/tipgate-burst.XXXXXX)}
mkdir -p "$WORK/bin"
log() { echo "burst: $*" >&2; }
die() { log "$*"; exit 1; }

PIDS=()
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for (( i=${#PIDS[@]}-1; i>=0; i-- )); do stop_pid "${PIDS[i]}"; done
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() { local p=$2; while port_busy "$p"; do p=$((p+1)); done; printf -v "$1" '%s' "$p"; }
wait_port() { local i; for i in $(seq 200); do port_busy "$1" && return 0; kill -0 "$2" 2>/dev/null || return 1; sleep 0.05; done; return 1; }

log "building tipgate, and the harness's upstream and loadgen"
go build -o "$WORK/bin/tipgate" ./cmd/tipgate
for m in upstream loadgen; do (cd "$SHARED/$m" && GOFLAGS=-mod=mod go build -o "$WORK/bin/$m" .) || die "build $m"; done
bash "$SHARED/gen-certs.sh" "$WORK/certs" >"$WORK/gen-certs.log" 2>&1 || die "gen-certs.sh failed; see $WORK/gen-certs.log"
C=$WORK/certs
key="bench-$(openssl rand -hex 16)"
printf '{"keys": [{"name": "bench", "sha256": "%s", "roles": ["lookup"]}]}\n' \
  "$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)" >"$WORK/keys.json"

free_port P_UP 18444
"$WORK/bin/upstream" -addr "127.0.0.1:$P_UP" -latency "$SLOW_LATENCY" -cert "$C/server.crt" -key "$C/server.key" \
  -ca "$C/ca.crt" -user bench -pass bench-secret >"$WORK/upstream.log" 2>&1 &
PIDS+=("$!")
wait_port "$P_UP" "${PIDS[-1]}" || die "the upstream did not start; see $WORK/upstream.log"

CLEAN=()
for v in $(compgen -e | grep '^TIPGATE_' || true); do CLEAN+=(-u "$v"); done
kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2"; }
row() { printf '%-4s %9s %9s %9s %9s  %s\n' "$@" | tee -a "$WORK/table.txt"; }
row run p50_ms p99_ms max_ms min_ms statuses
for i in $(seq "$RUNS"); do
  free_port P_TG 18102
  env "${CLEAN[@]}" TIPGATE_ADDR="127.0.0.1:$P_TG" TIPGATE_TIP_URL="https://127.0.0.1:$P_UP" \
    TIPGATE_TIP_USERNAME=bench TIPGATE_TIP_PASSWORD=bench-secret TIPGATE_TIP_PFX_FILE="$C/client.pfx" \
    TIPGATE_TIP_PFX_PASSWORD="$(cat "$C/pfx.pass")" TIPGATE_TIP_CA_FILE="$C/ca.crt" \
    TIPGATE_API_KEYS_FILE="$WORK/keys.json" TIPGATE_LOG_LEVEL=warn TIPGATE_TIP_PROBE=false \
    "$WORK/bin/tipgate" >"$WORK/tipgate-$i.log" 2>&1 &
  tg=$!; PIDS+=("$tg")
  wait_port "$P_TG" "$tg" || die "tipgate did not start; see $WORK/tipgate-$i.log"
  path=$("$WORK/bin/loadgen" -gen-paths 1 -seed "burst-$$-$i" -path-form lookup)
  out=$WORK/run-$i.txt
  "$WORK/bin/loadgen" -burst "$BURST" -url "http://127.0.0.1:$P_TG$path" -H "Authorization: Bearer $key" -label "run$i" >"$out" 2>&1 || true
  row "$i" "$(kv p50_ms "$out")" "$(kv p99_ms "$out")" "$(kv max_ms "$out")" "$(kv min_ms "$out")" "$(kv statuses "$out")"
  stop_pid "$tg"
  PIDS=("${PIDS[@]:0:1}")   # the upstream only
done
awk 'NR > 1 { for (c = 2; c <= 5; c++) v[c, NR - 1] = $c; n = NR - 1 }
  END { printf "%-4s", "med"; for (c = 2; c <= 5; c++) { delete a; for (i = 1; i <= n; i++) a[i] = v[c, i]; asort(a)
    printf " %9.1f", (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 } print "" }' "$WORK/table.txt"
echo "TIP stand-in latency $SLOW_LATENCY, $BURST callers, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); raw: $WORK"
