#!/usr/bin/env bash
# Starts the engine on the embedded defaults; extra arguments go to `agencia-desk-engine start`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node22.sh
bash scripts/install-deps.sh
exec node bin/agencia-desk-engine.js start "$@"
