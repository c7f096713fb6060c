#!/usr/bin/env bash
# bench/load.sh (make load): cache-hit throughput and latency of tipgate
# beside the static ceiling, in one run, on loopback, with wrk.
#
# It builds bin/tipgate and bin/ceiling (bench/ceiling: a net/http server
# answering one fixed body from memory), starts tipgate's demo (built-in TIP
# simulator) on the memory store, captures one hit's body and has the
# ceiling serve exactly that body, then measures one after the other:
#   ceiling            the ceiling, same body: what any Go server can do here
#   memory, 1 key      tipgate hit, one hot key, memory store
#   memory, KEYS keys  tipgate hits over KEYS warmed indicators, memory store
#   Redis, hot off     tipgate hit, one hot key, Redis, TIPGATE_CACHE_HOT_BYTES=0
#   Redis, hot tier    tipgate hit, one hot key, Redis, default hot tier
#   ceiling, again     drift check: the machine may be busier by the end
# The Redis rows run when a Redis answers at TIPGATE_LOAD_REDIS (default
# redis://127.0.0.1:6379/9); only that database is flushed (before each
# Redis row and at the end), and while this runs the database is reserved
# the way internal/redistest reserves one, so tests sharing that Redis skip
# it. Ratios are to the first ceiling row: req/s ratio (higher is better,
# 1.00 = as fast as the ceiling) and p99 ratio (lower is better).
#
# Knobs: DUR=5 (seconds per wrk run, at most 10) CONNS=64 THREADS=2
#        KEYS=1000 HOT='/v1/lookup?indicator=tetegrams.org' WORK=<new temp dir>
#        TIPGATE_LOAD_REDIS=redis://127.0.0.1:6379/9 (empty: no Redis rows)
# Every process it starts is stopped by PID when it exits, however it exits.
# Raw wrk outputs, logs and results.tsv stay in WORK.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DUR=${DUR:-5}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
KEYS=${KEYS:-1000}
HOT=${HOT:-/v1/lookup?indicator=tetegrams.org}
REDIS_URL=${TIPGATE_LOAD_REDIS-redis://127.0.0.1:6379/9}
WORK=${WORK:-$(mktemp -d /tmp/tipgate-load.XXXXXX)}
mkdir -p "$WORK"

die() { echo "load: $*" >&2; exit 1; }
T0=$SECONDS
log() { echo "load [$(( SECONDS - T0 ))s]: $*" >&2; }
[[ $DUR =~ ^[0-9]+$ ]] && (( DUR >= 1 && DUR <= 10 )) || die "DUR must be 1..10 seconds, not $DUR"
for tool in wrk curl go; do command -v "$tool" >/dev/null || die "$tool not found (apt-get install wrk curl)"; done

# ---------------------------------------------------------------- teardown
PIDS=()
REDIS_LOCK=""   # "base-url key token" while the Redis database is reserved
stop_pid() { # TERM, up to 5 s, then KILL
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
forget_pid() { local p keep=(); for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done; PIDS=("${keep[@]}"); }
redis_release() {
  [[ -n $REDIS_LOCK ]] || return 0
  local base key token
  read -r base key token <<<"$REDIS_LOCK"
  redis-cli -u "$REDIS_URL" flushdb >/dev/null 2>&1 || true
  if [[ $(redis-cli -u "$base/0" get "$key" 2>/dev/null) == "$token" ]]; then
    redis-cli -u "$base/0" del "$key" >/dev/null 2>&1 || true
  fi
  REDIS_LOCK=""
}
cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for (( i=${#PIDS[@]}-1; i>=0; i-- )); do stop_pid "${PIDS[i]}"; done
  redis_release || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
TAKEN=" "
free_port() { # free_port VAR BASE
  local p=$2
  while port_busy "$p" || [[ $TAKEN == *" $p "* ]]; do p=$((p+1)); done
  TAKEN+="$p "; printf -v "$1" '%s' "$p"
}
wait_port() { # wait_port PORT PID: until 127.0.0.1:PORT accepts (20 s), or PID dies
  local i
  for i in $(seq 200); do
    port_busy "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- build
log "building bin/tipgate and bin/ceiling"
make -s build >/dev/null
go build -o bin/ceiling ./bench/ceiling

# ---------------------------------------------------------------- helpers
# tipgate gets only the configuration set here: inherited TIPGATE_* variables
# are dropped (the demo would apply the caller's TTLs, Redis URL and so on).
CLEAN=()
for v in $(compgen -e | grep '^TIPGATE_' || true); do CLEAN+=(-u "$v"); done
TG_PID="" KEY="" TG_URL=""
tg_start() { # tg_start NAME [VAR=value...]: tipgate demo on a free port; sets TG_PID, KEY, TG_URL
  local name=$1 port out i; shift
  free_port port 18190
  out="$WORK/$name.out"
  env "${CLEAN[@]}" TIPGATE_ADDR="127.0.0.1:$port" TIPGATE_LOG_LEVEL=warn "$@" \
    bin/tipgate demo >"$out" 2>"$WORK/$name.log" &
  TG_PID=$!; PIDS+=("$TG_PID")
  wait_port "$port" "$TG_PID" || die "$name did not start; see $WORK/$name.log"
  for i in $(seq 100); do grep -q 'tg_' "$out" && break; sleep 0.1; done
  KEY=$(grep -o 'tg_[A-Za-z0-9_-]*' "$out" | head -1)
  [[ -n $KEY ]] || die "$name printed no API key; see $out"
  TG_URL="http://127.0.0.1:$port"
}
tg_stop() { stop_pid "$TG_PID"; forget_pid "$TG_PID"; TG_PID=""; }
xcache() { # xcache URL: "HTTP_CODE X-Cache" of one lookup
  curl -s -o /dev/null -D - -w '%{http_code}\n' --max-time 10 -H "Authorization: Bearer $KEY" "$1" | tr -d '\r' |
    awk 'tolower($1) == "x-cache:" { x = $2 } /^[0-9][0-9][0-9]$/ { c = $1 } END { print (c ? c : "000"), (x ? x : "-") }'
}
warm_hot() { # the one miss, then a hit; anything else stops the run
  local a b
  a=$(xcache "$TG_URL$HOT"); b=$(xcache "$TG_URL$HOT")
  [[ $a == "200 MISS" && $b == "200 HIT" ]] || die "$1: want 200 MISS then 200 HIT for $HOT, got '$a' then '$b'"
}
wrk_ms() { # wrk_ms PCT FILE: a "Latency Distribution" line in ms
  awk -v p="$1" '$1 == p { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : 1; printf "%.2f", v * f }' "$2"
}
ROWS=()
measure() { # measure LABEL URL [wrk args...]: one wrk run, appended to ROWS as "label|rps|p50|p99|bytes|note"
  local label=$1 url=$2 out rps bpr p50 p99 note=""; shift 2
  out="$WORK/wrk-$(( ${#ROWS[@]} + 1 )).txt"
  log "wrk ${DUR}s: $label"
  wrk -t"$THREADS" -c"$CONNS" -d"${DUR}s" --timeout 5s --latency "$@" "$url" >"$out" 2>&1 || true
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
  # bytes per response, headers included, from wrk's Transfer/sec (units of 1024)
  bpr=$(awk -v r="${rps:-0}" '/^Transfer\/sec:/ { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[A-Z]+$/, "", v)
    f = (u == "KB") ? 1024 : (u == "MB") ? 1048576 : (u == "GB") ? 1073741824 : 1; if (r > 0) printf "%.0f", v * f / r }' "$out")
  p50=$(wrk_ms 50% "$out"); p99=$(wrk_ms 99% "$out")
  grep -q 'Non-2xx' "$out" && note+="$(grep 'Non-2xx' "$out" | tr -s ' ') "
  grep -q 'Socket errors' "$out" && note+="$(grep 'Socket errors' "$out" | tr -s ' ')"
  ROWS+=("$label|${rps:-FAIL}|${p50:--}|${p99:--}|${bpr:--}|$note")
}

# ---------------------------------------------------------------- memory store, and the body
tg_start tipgate-memory
warm_hot "memory store"
curl -sf -H "Authorization: Bearer $KEY" -o "$WORK/hit.json" "$TG_URL$HOT"
BODY_BYTES=$(wc -c <"$WORK/hit.json")
free_port P_CEIL 18181
bin/ceiling -addr "127.0.0.1:$P_CEIL" -body "$WORK/hit.json" >"$WORK/ceiling.log" 2>&1 &
CEIL_PID=$!; PIDS+=("$CEIL_PID")
wait_port "$P_CEIL" "$CEIL_PID" || die "the ceiling did not start; see $WORK/ceiling.log"
[[ $(curl -s "http://127.0.0.1:$P_CEIL$HOT" | cmp - "$WORK/hit.json" && echo same) == same ]] || die "the ceiling's body differs from the hit's"

AUTH=(-H "Authorization: Bearer $KEY")
measure "ceiling (same ${BODY_BYTES}-byte body)" "http://127.0.0.1:$P_CEIL$HOT"
measure "tipgate hit, 1 key, memory" "$TG_URL$HOT" "${AUTH[@]}"

# KEYS indicators, each looked up once (the misses, through the simulator),
# then random picks among them.
for i in $(seq -f '%05g' 1 "$KEYS"); do echo "/v1/lookup?indicator=k$i.load.test"; done >"$WORK/paths.txt"
sed "s|^|url = \"$TG_URL|; s|$|\"\noutput = \"/dev/null\"|" "$WORK/paths.txt" >"$WORK/warm.curl"
log "warming $KEYS keys"
ok=$(curl -s --no-progress-meter -Z --parallel-max 16 -K "$WORK/warm.curl" -H "Authorization: Bearer $KEY" -w '%{http_code}\n' 2>>"$WORK/warm.log" | grep -c '^200$' || true)
[[ $ok == "$KEYS" ]] || die "warming: $ok of $KEYS lookups answered 200"
[[ $(xcache "$TG_URL$(head -1 "$WORK/paths.txt")") == "200 HIT" ]] || die "a warmed key is not a hit"
export WRK_PATHS="$WORK/paths.txt"
measure "tipgate hit, $KEYS keys, memory" "$TG_URL" "${AUTH[@]}" -s bench/paths.lua
tg_stop

# ---------------------------------------------------------------- Redis store
REDIS_NOTE=""
if [[ -z $REDIS_URL ]]; then
  REDIS_NOTE="Redis rows skipped: TIPGATE_LOAD_REDIS is empty"
elif ! command -v redis-cli >/dev/null; then
  REDIS_NOTE="Redis rows skipped: redis-cli not found"
elif ! redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG; then
  REDIS_NOTE="Redis rows skipped: no Redis answers at $REDIS_URL"
else
  base=$REDIS_URL db=0
  if [[ $REDIS_URL =~ ^(rediss?://[^/]+)/([0-9]+)$ ]]; then base=${BASH_REMATCH[1]} db=${BASH_REMATCH[2]}; fi
  token="load-$$-$RANDOM"
  if (( db >= 1 && db <= 15 )) && [[ $(redis-cli -u "$base/0" set "tipgate:redistest:db:$db" "$token" NX EX 600) != OK ]]; then
    REDIS_NOTE="Redis rows skipped: database $db of $base is reserved by a test run (internal/redistest)"
  else
    (( db >= 1 && db <= 15 )) && REDIS_LOCK="$base tipgate:redistest:db:$db $token"
    for hot in off tier; do
      redis-cli -u "$REDIS_URL" flushdb >/dev/null
      if [[ $hot == off ]]; then
        tg_start tipgate-redis-hot-off TIPGATE_REDIS_URL="$REDIS_URL" TIPGATE_CACHE_HOT_BYTES=0
        label="tipgate hit, 1 key, Redis, hot tier off"
      else
        tg_start tipgate-redis-hot-tier TIPGATE_REDIS_URL="$REDIS_URL"
        label="tipgate hit, 1 key, Redis, hot tier default"
      fi
      warm_hot "Redis store"
      measure "$label" "$TG_URL$HOT" -H "Authorization: Bearer $KEY"
      tg_stop
    done
    redis_release
  fi
fi
measure "ceiling, again (drift check)" "http://127.0.0.1:$P_CEIL$HOT"

# ---------------------------------------------------------------- table
IFS='|' read -r _ C_RPS _ C_P99 _ _ <<<"${ROWS[0]}"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
{
  echo "tipgate load — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git describe --always --dirty 2>/dev/null || echo '?')"
  echo "host: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "wrk -t$THREADS -c$CONNS -d${DUR}s on 127.0.0.1, client and servers sharing the cores; $(go version | cut -d' ' -f3)"
  echo "hit: GET $HOT, ${BODY_BYTES} B body; x: ratio to the first ceiling row (req/s: higher is better; p99: lower"
  echo "is better); B/resp: bytes per response with headers, from wrk's Transfer/sec"
  echo
  printf '%-44s %8s %7s %7s %7s %7s %7s  %s\n' "target" "req/s" "p50 ms" "p99 ms" "x req/s" "x p99" "B/resp" "note"
  for r in "${ROWS[@]}"; do
    IFS='|' read -r label rps p50 p99 bpr note <<<"$r"
    printf '%-44s %8s %7s %7s %7s %7s %7s  %s\n' "$label" "$rps" "$p50" "$p99" "$(ratio "$rps" "$C_RPS")" "$(ratio "$p99" "$C_P99")" "$bpr" "$note"
  done
  [[ -z $REDIS_NOTE ]] || echo "$REDIS_NOTE"
  echo "raw: $WORK"
} | tee "$WORK/table.txt"
printf 'target\treq_s\tp50_ms\tp99_ms\tbytes_per_resp\tnote\n' >"$WORK/results.tsv"
for r in "${ROWS[@]}"; do tr '|' '\t' <<<"$r" >>"$WORK/results.tsv"; done
