#!/usr/bin/env bash
# Installs node_modules with the Node 22 on PATH when package-lock.json or the Node version changed.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp="node_modules/.agencia-deps"
want="$(node -p 'process.version') $(sha256sum package-lock.json | cut -c1-64)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[deps] npm install (Node $(node -p 'process.version'))" >&2
  # Not `npm ci`: the registry lacks some other platforms' optional prebuilds (msgpackr-extract),
  # which the lock cannot record and `npm ci` then refuses; `npm install` follows the lock otherwise.
  npm_config_nodedir="$NODE22_HOME" npm install --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
