#!/usr/bin/env bash
# Prepares a fresh machine to run Agencia Desk on the embedded defaults (SQLite, embedded queue).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node22.sh
bash scripts/install-deps.sh
node bin/agencia-desk-engine.js migrate
