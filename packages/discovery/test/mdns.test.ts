/**
 * mDNS sends multicast, so it runs only inside a private network namespace that this test makes
 * (`unshare --net`, loopback up with multicast and a route for 224.0.0.0/4): nothing leaves the
 * machine, and nothing here ever starts mDNS outside it. Needs root (CI runs as root, and always
 * runs it); a contributor without root sees one line saying why it did not run (netns.ts).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect } from 'vitest';
import { inNamespace, mdnsTest } from './netns.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/mdns-in-namespace.ts', import.meta.url));

describe('MdnsPeerProvider, inside a private network namespace', () => {
  mdnsTest(
    'passes the provider conformance suite, ignores other clusters and itself, takes a record as a hint, and dials the address a listener is bound to',
    () => {
      const node = `${process.execPath} --conditions=@meshcache/source --import tsx ${FIXTURE}`;
      const run = spawnSync('unshare', ['--net', 'sh', '-c', inNamespace(node)], { encoding: 'utf8', timeout: 60_000 });
      if (run.error !== undefined || (run.status !== 0 && /unshare|Operation not permitted/.test(run.stderr))) {
        throw new Error(
          `cannot make a network namespace (root and util-linux's unshare are needed): ${run.error?.message ?? run.stderr}`,
        );
      }
      expect(run.stdout.trim().split('\n')).toEqual([
        'ok conformance',
        'ok ignores other clusters and itself',
        'ok a record is a hint',
        'ok the listener address is dialled',
      ]);
      expect(run.status).toBe(0);
    },
    90_000,
  );
});
