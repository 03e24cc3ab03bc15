#!/usr/bin/env bash
# The system packages some tests need beyond Node.js and npm, from Debian's own archive, installed
# with apt-get when missing. CI is a fresh Debian machine running as root; `npm test` and .ci/run
# call this first.
#
# - chromium (and fonts-liberation): test/operator-page.test.ts drives the live page headless
#   through playwright-core; Debian's package, never a browser downloaded by playwright;
# - faketime (libfaketime): test/clock-skew.test.ts runs `meshcache serve` with its clock moved;
# - redis-server: the Redis Streams backplane's tests and benchmark start real ones (Debian's 7.0);
# - util-linux's prlimit and mount: packages/cache-core/test/disk-full.test.ts fills a disk
#   (util-linux is essential on Debian, so it is only checked).
#
# Idempotent and quiet when everything is there. Without root (and without passwordless sudo), or
# without apt-get, it installs nothing and says what to run in one line: in CI (CI set), where the
# tests that need these must run, that stops the run; a contributor's run goes on, and each test
# that needs a missing package fails or says why it did not run, naming it.
set -euo pipefail

missing=()
[ -x "${MESHCACHE_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium fonts-liberation)
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing+=(faketime)
command -v prlimit >/dev/null 2>&1 || missing+=(util-linux)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0

cannot() {
  echo "install-system-deps: $1; the tests need: apt-get install -y ${missing[*]}" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 0
}

if ! command -v apt-get >/dev/null 2>&1; then cannot "no apt-get on this machine"; fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  cannot "not root, so apt-get cannot install them"
fi

echo "install-system-deps: installing ${missing[*]} with apt-get (once)"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
