#!/usr/bin/env bash
# Measures cache-hit latency and throughput of the built gateway with wrk on
# loopback: the demo (built-in simulator) on the in-memory store, then on
# Redis when one answers at TIPGATE_LOAD_REDIS (default redis://127.0.0.1:6379/9,
# a database this script flushes). Bounded: a few seconds per run.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
make -s build
addr=127.0.0.1:18080
url="http://$addr/v1/lookup?indicator=tetegrams.org&sections=DomainGeneralInfo,DomainDnsResolutions"
redis_url=${TIPGATE_LOAD_REDIS:-redis://127.0.0.1:6379/9}
stores=(memory)
if command -v redis-cli >/dev/null && redis-cli -u "$redis_url" ping >/dev/null 2>&1; then stores+=(redis); fi

for store in "${stores[@]}"; do
  out=$(mktemp)
  if [ "$store" = redis ]; then redis-cli -u "$redis_url" flushdb >/dev/null; export TIPGATE_REDIS_URL=$redis_url; else unset TIPGATE_REDIS_URL; fi
  TIPGATE_LOG_LEVEL=warn TIPGATE_ADDR=$addr ./bin/tipgate demo >"$out" 2>/dev/null &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 50); do grep -q 'tg_' "$out" 2>/dev/null && break; sleep 0.1; done
  key=$(grep -o 'tg_[A-Za-z0-9_-]*' "$out" | head -1)
  curl -sf -H "X-API-Key: $key" "$url" -o /dev/null   # the one miss; everything after is a hit
  echo "== $store: one connection (latency of a hit)"
  wrk -t1 -c1 -d5s --latency -H "X-API-Key: $key" "$url" | grep -E '^ +(50|90|99)%|Requests/sec'
  echo "== $store: 32 connections (throughput)"
  wrk -t2 -c32 -d5s --latency -H "X-API-Key: $key" "$url" | grep -E '^ +(50|99)%|Requests/sec|Non-2xx'
  echo "== floor: GET /healthz, one connection"
  wrk -t1 -c1 -d3s --latency "http://$addr/healthz" | grep -E '^ +50%|Requests/sec'
  kill $pid; wait $pid 2>/dev/null || true
  rm -f "$out"
done
