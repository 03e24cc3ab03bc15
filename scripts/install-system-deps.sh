#!/usr/bin/env bash
# The system packages some tests need beyond Node.js and npm, installed with Debian's apt when
# missing (CI is a fresh Debian machine running as root; `npm test` and .ci/run call this first):
#
# - faketime (libfaketime): test/clock-skew.test.ts runs `meshcache serve` with its clock ahead;
# - util-linux's prlimit and mount: packages/cache-core/test/disk-full.test.ts fills a disk
#   (util-linux is essential on Debian, so it is only checked).
#
# Idempotent and quiet when everything is there. Without root (and without passwordless sudo), or
# without apt-get, it installs nothing and says what to run in one line: in CI (CI set), where
# those tests must run, that stops the run; a contributor's run goes on, and the tests that need
# the package fail naming it.
set -euo pipefail

missing=()
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing+=(faketime)
command -v prlimit >/dev/null 2>&1 || missing+=(util-linux)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-system-deps: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-system-deps: missing ${missing[*]}, and this is not a Debian system: install them by hand" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q >/dev/null
"${as_root[@]}" apt-get install -y -q "${missing[@]}" >/dev/null
