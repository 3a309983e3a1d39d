#!/usr/bin/env bash
# Cloud emulators for tests/io: Azurite (npm, installed into tools/node) and the GCS emulator
# (PyPI gcp-storage-emulator, in the venv's `test` extra). Idempotent and quiet when present.
set -euo pipefail
cd "$(dirname "$0")/.."
AZURITE_VERSION=3.35.0
PYTHON=${PYTHON:-.venv/bin/python}

installed=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' tools/node/node_modules/azurite/package.json 2>/dev/null || true)
if [ "$installed" != "$AZURITE_VERSION" ] || [ ! -x tools/node/node_modules/.bin/azurite-blob ]; then
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      echo "npm is missing: install Node.js and npm (apt-get install -y nodejs npm)" >&2
      exit 1
    fi
    echo "installing Debian packages: nodejs npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends nodejs npm >/dev/null
  fi
  echo "installing azurite $AZURITE_VERSION into tools/node"
  mkdir -p tools/node
  printf '*\n' > tools/node/.gitignore
  npm install --prefix tools/node --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null
fi

if [ -x "$PYTHON" ] && ! "$PYTHON" -c 'import gcp_storage_emulator' 2>/dev/null; then
  echo "installing gcp-storage-emulator into the venv"
  "$PYTHON" -m pip install -q 'gcp-storage-emulator>=2024.1' 2>&1 | grep -v '^WARNING: Location' || true
fi
