#!/usr/bin/env bash
# Installs Clusterlens from a fresh clone and builds it.
# Electron's postinstall downloads its binary from outside the npm registry; where that is blocked the whole
# install would fail, so dependencies are installed without it and the download is tried on its own afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
export ELECTRON_SKIP_BINARY_DOWNLOAD=1
npm ci --no-audit --no-fund --loglevel=error
npm run build --silent
if [ -f node_modules/electron/path.txt ]; then
  echo "electron: binary present"
elif (unset ELECTRON_SKIP_BINARY_DOWNLOAD; timeout 120 node node_modules/electron/install.js) >/dev/null 2>&1; then
  echo "electron: binary downloaded; the desktop app is available"
else
  echo "electron: binary could not be downloaded here; the CLI works, and the app will run in a browser instead"
fi
if node -e "import('@tensorflow/tfjs-node').then(()=>process.exit(0),()=>process.exit(1))" 2>/dev/null; then
  echo "tfjs: native backend (tfjs-node) available"
else
  echo "tfjs: native backend not installable here; using the WebAssembly backend"
fi
