#!/usr/bin/env bash
# The whole test suite on a fresh machine: Node 22, Debian packages, npm deps, then lint, types, tests.
# Servers the tests need (Redis) are started by the tests themselves on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node22.sh
bash scripts/ensure-system.sh redis-server:redis-server dockerd:docker.io chromium:chromium xvfb-run:xvfb \
  /usr/lib/postgresql/15/bin/postgres:postgresql
bash scripts/install-deps.sh
echo "[test] Node $(node --version)"
npx eslint . --max-warnings 0
npx prettier --check . --log-level warn
npx tsc --noEmit -p tsconfig.json
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line, whatever the reporter printed above.
node -e 'const r=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests+r.numTodoTests} skipped`)' "$report" || true
exit "$status"
