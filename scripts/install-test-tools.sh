#!/usr/bin/env bash
# System tools the tests use, installed where the machine can (Debian or Ubuntu, as root):
# promtool and prometheus (package prometheus) check the OpenMetrics export and scrape live mode;
# chromium runs the browser tests; PostgreSQL backs the multi-worker interview and live-mode tests;
# Redis backs the live run of redis-keys-scan.
# Elsewhere nothing is installed and those tests skip, saying why.
set -euo pipefail
can_install() { command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; }

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
postgres_running() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; }
postgres_running || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
redis_running() { command -v redis-cli >/dev/null 2>&1 && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
redis_running || command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)

if [ ${#missing[@]} -gt 0 ]; then
  if can_install; then
    echo "installing ${missing[*]} (Debian packages) for the tests"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "not installing ${missing[*]}: needs apt-get as root; the tests that use them will be skipped"
  fi
fi

# Start the machine's PostgreSQL cluster on 127.0.0.1:5432 when it is installed but not running.
if ! postgres_running && can_install && command -v pg_ctlcluster >/dev/null 2>&1; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    conf=/etc/postgresql/$version/main
    grep -q "^host all all 127.0.0.1/32 trust" "$conf/pg_hba.conf" \
      || sed -i '1i host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do postgres_running && break; sleep 1; done
  fi
fi
postgres_running || echo "PostgreSQL is not running on 127.0.0.1:5432: its tests will be skipped"

# Start Redis on 127.0.0.1:6379 when it is installed but not running: no persistence, as a cache.
if ! redis_running && can_install && command -v redis-server >/dev/null 2>&1; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  for _ in $(seq 1 30); do redis_running && break; sleep 1; done
fi
redis_running || echo "Redis is not running on 127.0.0.1:6379: its live-mode test will be skipped"
