#!/usr/bin/env bash
# Azurite (Azure Blob emulator, npm) for tests/io and tests/cloud_e2e, installed into tools/node
# (ignored by git). Node.js and npm come from tools/system-deps.sh; the GCS emulator is a Python
# package of the venv's `test` extra. Idempotent, silent when present; concurrent callers wait.
set -euo pipefail
cd "$(dirname "$0")/.."
AZURITE_VERSION=3.35.0
DIR=tools/node

installed() {
  [ -x "$DIR/node_modules/.bin/azurite-blob" ] &&
    grep -q "\"version\": \"$AZURITE_VERSION\"" "$DIR/node_modules/azurite/package.json" 2>/dev/null
}
installed && exit 0
if ! command -v npm >/dev/null 2>&1; then
  bash tools/system-deps.sh
fi
mkdir -p "$DIR"
printf '*\n' >"$DIR/.gitignore"
exec 9>"$DIR/.lock"
flock 9
installed && exit 0
echo "installing azurite $AZURITE_VERSION into $DIR"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" \
  >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "tools/cloud-emulators.sh: npm install azurite@$AZURITE_VERSION failed" >&2
  exit 1
fi
installed
