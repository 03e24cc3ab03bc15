#!/usr/bin/env bash
# The system packages the tests need, installed from Debian's archive when missing: a plain list,
# idempotent, so that a branch that adds a package adds one line. CI (a fresh Debian machine, root)
# runs it before the tests; a developer machine that has them already does nothing here.
#
#   redis-server   the Redis Streams backplane's tests and benchmark start a real one (7.0)
set -euo pipefail

# command-that-must-exist:debian-package
NEEDED=(
  "redis-server:redis-server"
)

missing=()
for pair in "${NEEDED[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${missing[*]}; run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
