#!/usr/bin/env bash
# Separate venv (.venv-stac/) for the STAC API test server: stac-fastapi-pgstac pins uvicorn/pydantic/fastapi
# versions that must not leak into the main venv. Idempotent: returns at once when the venv matches the spec.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-stac
SPEC=("stac-fastapi-pgstac[server]==7.2.0" "pypgstac[psycopg]==0.10.0")
STAMP="$VENV/.installed-$(printf '%s\n' "${SPEC[@]}" | md5sum | cut -c1-12)"
[ -e "$STAMP" ] && exit 0
mkdir -p "$VENV"
exec 9>"$VENV/.lock"
flock 9  # concurrent callers (tests, benchmarks) wait for one install
[ -e "$STAMP" ] && exit 0
PY=${PYTHON:-python3}
test -x "$VENV/bin/python" || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q -U pip 2>&1 | grep -v '^WARNING: Location' || true
"$VENV/bin/python" -m pip install -q "${SPEC[@]}" 2>&1 | grep -v '^WARNING: Location' || true
# the app module logs a note about default titles on import: show output only on failure
if ! out=$("$VENV/bin/python" -c 'import stac_fastapi.pgstac.app, pypgstac, uvicorn, psycopg' 2>&1); then
  echo "$out" >&2
  echo "tools/stac-env.sh: $VENV is incomplete" >&2
  exit 1
fi
rm -f "$VENV"/.installed-* && touch "$STAMP"
