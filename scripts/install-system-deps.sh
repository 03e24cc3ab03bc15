#!/usr/bin/env bash
# What the tests need from the operating system and npm cannot install: Chromium, which the test
# of the live page drives headless through playwright-core (test/operator-page.test.ts). Debian's
# own `chromium` package, never a browser downloaded by playwright's installer.
#
# `npm test` and .ci/run call this first. Nothing to do when the browser is there
# (MESHCACHE_CHROMIUM, default /usr/bin/chromium). Otherwise, as root on Debian or Ubuntu, it
# installs it with apt-get. Anywhere else it says what to do in one line and stops the run in CI
# (CI set), where the browser test must run; a contributor's run goes on, and the browser test
# says why it did not run.
set -euo pipefail

chromium="${MESHCACHE_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
  exit 0
fi

cannot() {
  echo "install-system-deps: $1; the browser test of the live page needs Chromium at $chromium (Debian: apt-get install chromium, or set MESHCACHE_CHROMIUM)" >&2
  if [ -n "${CI:-}" ]; then exit 1; fi
  exit 0
}

if [ "$chromium" != /usr/bin/chromium ]; then cannot "MESHCACHE_CHROMIUM=$chromium is not an executable"; fi
if ! command -v apt-get >/dev/null 2>&1; then cannot "no apt-get on this machine"; fi
if [ "$(id -u)" != 0 ]; then cannot "not root, so apt-get cannot install chromium"; fi

echo "install-system-deps: installing Debian's chromium with apt-get (once)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null
if [ ! -x /usr/bin/chromium ]; then cannot "apt-get ran but /usr/bin/chromium is not there"; fi
echo "install-system-deps: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
