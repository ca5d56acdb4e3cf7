#!/usr/bin/env bash
# Installs node_modules with the Node 22 on PATH when package-lock.json or the Node version changed.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp="node_modules/.agencia-deps"
want="$(node -p 'process.version') $(sha256sum package-lock.json | cut -c1-64)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "[deps] npm ci (Node $(node -p 'process.version'))" >&2
  npm_config_nodedir="$NODE22_HOME" npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
