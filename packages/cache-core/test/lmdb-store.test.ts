import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbEnvironment } from '../src/disk/lmdb-environment.js';
import { silentLogger } from '../src/index.js';
import { describeDiskStoreConformance } from './disk-store-conformance.js';

describeDiskStoreConformance('LmdbDiskStore', ({ spoolBytes }) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshcache-lmdb-'));
  const env = LmdbEnvironment.open(dir, silentLogger, 'c');
  const store = env.openStore({ cacheName: 'c', persistent: true, spoolBytes });
  return {
    store,
    dispose: async () => {
      await env.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
