#!/usr/bin/env bash
# The console's browser tests (internal/ui) drive a headless Chromium. Without
# one they skip, unless TIPGATE_REQUIRE_BROWSER=1 (as CI sets it), which makes
# a missing browser a failure: then this installs Debian's chromium when it is
# missing and we may. It never installs anything when the browser is optional.
set -euo pipefail
browser="${TIPGATE_CHROMIUM:-/usr/bin/chromium}"
[ -x "$browser" ] && exit 0
if [ "${TIPGATE_REQUIRE_BROWSER:-}" != 1 ]; then
  echo "note: no Chromium at $browser, so the console's browser tests will skip (apt-get install chromium, or TIPGATE_REQUIRE_BROWSER=1 make test to install it here)" >&2
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${TIPGATE_CHROMIUM:-}" ]; then
  echo "installing chromium for the console's browser tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
  exit 0
fi
echo "TIPGATE_REQUIRE_BROWSER=1 but there is no Chromium at $browser: install it (apt-get install chromium) or point TIPGATE_CHROMIUM at one" >&2
exit 1
