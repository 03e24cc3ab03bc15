/**
 * Automatic discovery across processes. mDNS sends multicast, so the whole cluster runs inside a
 * private network namespace this test makes (fixtures/discovery-cluster.ts, in `unshare --net`);
 * nothing here starts mDNS outside it. Needs root, as CI has (and always runs it); a contributor
 * without root sees one line saying why it did not run (packages/discovery/test/netns.ts).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect } from 'vitest';
import { inNamespace, mdnsTest } from '../packages/discovery/test/netns.js';

const SCENARIO = fileURLToPath(new URL('./fixtures/discovery-cluster.ts', import.meta.url));

describe('automatic discovery between processes, in a private network namespace', () => {
  mdnsTest(
    'finds the cluster, replicates, ignores another cluster, and drops a killed node',
    () => {
      const node = `${process.execPath} --conditions=@meshcache/source --import tsx ${SCENARIO}`;
      const run = spawnSync('unshare', ['--net', 'sh', '-c', inNamespace(node)], {
        encoding: 'utf8',
        timeout: 90_000,
        killSignal: 'SIGKILL',
      });
      if (run.error !== undefined || (run.status !== 0 && /unshare|Operation not permitted/.test(run.stderr))) {
        throw new Error(
          `cannot make a network namespace (root and util-linux's unshare are needed): ${run.error?.message ?? run.stderr}`,
        );
      }
      expect(
        run.stdout
          .trim()
          .split('\n')
          .filter((line) => /^(ok|failed)/.test(line)),
      ).toEqual([
        'ok three nodes find each other',
        'ok a put on one reaches the others',
        'ok a node of another cluster is ignored',
        'ok a killed node is dropped',
      ]);
      expect(run.status).toBe(0);
    },
    120_000,
  );
});
