#!/usr/bin/env bash
# System tools the tests use, installed where the machine can (Debian or Ubuntu, as root):
# promtool (package prometheus) checks the OpenMetrics export; chromium runs the browser tests.
# Elsewhere nothing is installed and those tests skip, saying why.
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing ${missing[*]} (Debian packages) for the tests"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "not installing ${missing[*]}: needs apt-get as root; the tests that use them will be skipped"
fi
