#!/usr/bin/env bash
# Installs Debian's redis-server for the queue tests (test/queue); `npm test` runs it first (pretest).
# Idempotent and quiet; needs root.
# The tests start their own server on 127.0.0.1 and a free port, so the service itself is not started.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  # Not root: the queue tests skip themselves, naming this command; the rest of the suite still runs.
  echo "scripts/install-redis.sh: redis-server is missing and this is not root; install it with: apt-get install -y redis-server" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# A failed install (no Debian mirror reachable) is a message, not a failed `npm test`: the queue tests skip.
if ! { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }; then
  echo "scripts/install-redis.sh: could not install redis-server (apt-get failed); the queue tests will be skipped" >&2
fi
