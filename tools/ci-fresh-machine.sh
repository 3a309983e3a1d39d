#!/usr/bin/env bash
# Run .ci/run from a fresh clone on a simulated fresh machine: a throwaway copy-on-write view of
# this machine (overlayfs in a private mount namespace, root only) from which the Debian packages
# the tests need (nginx, PostgreSQL + PostGIS, Node.js/npm), the apt lists, the npm and pip caches
# and policy-rc.d are removed first. The real machine is not changed; the view is deleted at the end.
#   usage: sudo bash tools/ci-fresh-machine.sh [REPO] [SHARED]   (defaults: this repo, ../shared)
# Extra environment for .ci/run (e.g. PYTEST_ARGS) is passed through. Exit status: .ci/run's.
set -euo pipefail
repo=$(realpath "${1:-$(dirname "$0")/..}")
shared=$(realpath "${2:-$repo/../shared}")
[ "$(id -u)" = 0 ] || { echo "needs root (overlayfs, chroot)" >&2; exit 1; }
scratch=$(mktemp -d /tmp/ci-fresh-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch"/{upper,work,root}

inner=$(cat <<'EOF'
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# apt's own default policy (services start on install) and no caches
rm -f /usr/sbin/policy-rc.d
apt-get purge -y -q nginx nginx-common 'postgresql*' 'postgis*' nodejs npm >/dev/null 2>&1
apt-get autoremove -y -q --purge >/dev/null 2>&1
userdel -r postgres 2>/dev/null || true
rm -rf /var/lib/apt/lists/* /root/.npm /root/.cache/pip
for tool in nginx node npm; do ! command -v "$tool" >/dev/null || { echo "$tool still here"; exit 1; }; done
d=$(mktemp -d)
git clone -q --no-local "$REPO" "$d/main"  # overlayfs: no hardlinks into the lower layer
cp -r "$SHARED" "$d/"
cd "$d/main"
start=$(date +%s)
status=0
CI=true bash .ci/run || status=$?
echo "ci-fresh-machine: .ci/run exited $status after $(( $(date +%s) - start )) s"
exit "$status"
EOF
)

status=0
unshare -m --propagation private bash -c '
  set -euo pipefail
  s=$1; shift
  mount -t overlay overlay -o "lowerdir=/,upperdir=$s/upper,workdir=$s/work" "$s/root"
  mount -t proc proc "$s/root/proc"
  mount --rbind /dev "$s/root/dev"
  mount --rbind /sys "$s/root/sys"
  exec chroot "$s/root" env REPO="$1" SHARED="$2" PYTEST_ARGS="${PYTEST_ARGS:-}" bash -c "$3"
' _ "$scratch" "$repo" "$shared" "$inner" || status=$?

# Anything still running inside the view outlived the run: report it, stop it, fail.
left=()
for proc in /proc/[0-9]*; do
  [ "$(readlink "$proc/root" 2>/dev/null)" = "$scratch/root" ] && left+=("${proc#/proc/}")
done
if [ ${#left[@]} -gt 0 ]; then
  ps -o pid,etime,cmd -p "$(IFS=,; echo "${left[*]}")" >&2 || true
  kill -KILL "${left[@]}" 2>/dev/null || true
  echo "ci-fresh-machine: ${#left[@]} processes outlived .ci/run" >&2
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
