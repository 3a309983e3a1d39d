#!/usr/bin/env bash
# Debian packages the test servers need: nginx, PostgreSQL 15 + PostGIS (STAC API), Node.js + npm
# (Azurite), openssl (test CAs). Idempotent and silent when all are present.
# The packages' own services (nginx on port 80, PostgreSQL's main cluster) are kept from starting
# during the install: the tests run throwaway servers of their own and nothing may be left running.
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
[ -e /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n bash "$0" "$@"
  fi
  echo "missing Debian packages: ${need[*]} (run as root or: sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi

log=$(mktemp)
policy=/usr/sbin/policy-rc.d
own_policy=
cleanup() {
  rm -f "$log"
  if [ -n "$own_policy" ]; then rm -f "$policy"; fi
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# tools/system-deps.sh: no service starts while it installs\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  own_policy=1
fi

quiet() {  # run a command; show its output only when it fails
  if ! "$@" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "tools/system-deps.sh: failed: $*" >&2
    exit 1
  fi
}

echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
quiet apt-get update -q -o DPkg::Lock::Timeout=300
quiet apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "${need[@]}"
