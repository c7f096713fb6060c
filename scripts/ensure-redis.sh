#!/usr/bin/env bash
# The integration tests need a real Redis: they start their own throwaway
# redis-server on a free loopback port (or, without the binary, use one that
# answers on 127.0.0.1:6379). This makes sure one of the two is possible,
# installing Debian's redis-server when it is missing and we may.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && exit 0
if command -v redis-cli >/dev/null 2>&1 && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing redis-server for the integration tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq redis-server >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
  exit 0
fi
echo "the integration tests need redis-server: install it (apt-get install redis-server, brew install redis) and run again" >&2
exit 1
