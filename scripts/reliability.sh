#!/usr/bin/env bash
# The long forms of the fault tests, whose figures docs/reliability.md and bench/README.md quote.
# CI runs the short forms with the rest of the suite; this takes about 20 minutes:
#
#   bash scripts/reliability.sh            # as root (the full-disk test mounts a tmpfs)
#
# - the chaos proxy, each fault held 30 s under 1,000 changes/s per node (test/chaos.test.ts);
# - 50 kill rounds (test/kill-loop.test.ts);
# - clock skew and the full disk, as in CI (they have no long form);
# - the 10-minute soak, three nodes at 3,000 changes/s each over 20,000 keys (test/soak.ts), which
#   fails when the RSS of the last minute is more than 1.2 times that of the second.
#
# Files run one at a time (each starts several processes; side by side they would measure each
# other). Every table is printed to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh

MESHCACHE_LONG=1 npx --yes pnpm@10.34.8 run test:all -- --no-file-parallelism \
  test/chaos.test.ts test/kill-loop.test.ts test/clock-skew.test.ts packages/cache-core/test/disk-full.test.ts
node --conditions=@meshcache/source --import tsx test/soak.ts --seconds 600 --rate 3000 --keys 20000
