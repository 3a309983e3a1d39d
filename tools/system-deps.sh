#!/usr/bin/env bash
# Debian packages the test servers need (nginx, PostgreSQL + PostGIS). Idempotent and quiet when present.
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
[ -e /usr/share/postgresql/15/extension/postgis.control ] || need+=(postgresql-15-postgis-3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages: ${need[*]} (run as root or install them: apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
