#!/usr/bin/env bash
# `npm start`: the Electron app when an Electron binary is available; otherwise the same control
# panel served by the headless engine (`agencia-desk-engine start --ui`, extra arguments go to it).
# Either way the app is built first (electron-vite, about a second) when out/ is missing or older
# than its sources.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node22.sh
bash scripts/install-deps.sh

# Why Electron cannot run here, or nothing when it can.
electron_unavailable() {
  # The path node_modules/electron would run, found without require("electron"): that downloads a
  # missing binary from outside the npm registry.
  local missing
  missing="$(node -e '
    const { existsSync, readFileSync } = require("node:fs");
    const { join } = require("node:path");
    const pkg = "node_modules/electron";
    const names = { darwin: "Electron.app/Contents/MacOS/Electron", win32: "electron.exe" };
    const name = existsSync(join(pkg, "path.txt"))
      ? readFileSync(join(pkg, "path.txt"), "utf8")
      : (names[process.platform] ?? "electron");
    const dist = process.env.ELECTRON_OVERRIDE_DIST_PATH;
    if (!existsSync(join(dist || join(pkg, "dist"), name))) console.log(dist
      ? `no Electron executable in ELECTRON_OVERRIDE_DIST_PATH=${dist}`
      : "node_modules/electron has no binary: its download is not from the npm registry, so setup skips it; " +
        "set ELECTRON_OVERRIDE_DIST_PATH to a folder holding an Electron build to use one");
  ')"
  if [ -n "$missing" ]; then
    echo "$missing"
  elif [ "$(uname -s)" = Linux ] && [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "no display: DISPLAY and WAYLAND_DISPLAY are unset"
  fi
}

# Rebuilds out/ when a source of the app is newer than its oldest output (main is written first).
build_if_stale() {
  local ref=out/main/index.js
  if [ -f "$ref" ] && [ -f out/preload/index.cjs ] && [ -f out/renderer/index.html ] &&
    [ -z "$(find src-main src-engine src-renderer resources electron.vite.config.ts package-lock.json \
      -newer "$ref" -type f ! -name '*.test.ts' -print -quit)" ]; then
    return
  fi
  echo "[start] building the app (electron-vite)" >&2
  # Production React whatever the caller's NODE_ENV (test runners set "test").
  NODE_ENV=production node_modules/.bin/electron-vite build --logLevel warn >&2
}

build_if_stale
reason="$(electron_unavailable)"
if [ -z "$reason" ]; then
  exec node_modules/.bin/electron .
fi
echo "Electron binary not available ($reason); serving the same UI from the headless engine"
exec node bin/agencia-desk-engine.js start --ui "$@"
