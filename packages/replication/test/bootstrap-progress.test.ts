/**
 * A bootstrap says how far it got while it runs (peer-link.ts, "Bootstrap progress"): a line at
 * info when a frame comes BOOTSTRAP_PROGRESS_MILLIS after the bootstrap began or after the last
 * line, with the entries taken so far and from which peer; none once the bootstrap is done. The
 * link runs on virtual time, and the peer's frames come when the test says.
 */
import { CacheManager } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { VirtualScheduler } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveReplicationConfig } from '../src/index.js';
import { CacheReplicator, type ChangeMessage, HybridLogicalClock, MessageType } from '../src/internals.js';
import { BOOTSTRAP_PROGRESS_MILLIS, PeerLink } from '../src/peer-link.js';
import type { Session } from '../src/session.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import { sessionOf } from './sessions.js';

const managers: CacheManager[] = [];
const replicators: CacheReplicator[] = [];
const links: PeerLink[] = [];
afterEach(async () => {
  for (const link of links.splice(0)) {
    link.detach();
    link.session.close();
  }
  for (const replicator of replicators.splice(0)) replicator.close();
  for (const manager of managers.splice(0)) await manager.shutdown();
});

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** A link of gw-1 to gw-2 carrying cache 'c' on virtual time, and gw-2's end of it; info lines recorded. */
async function bootstrappingLink() {
  const scheduler = new VirtualScheduler();
  const lines: Array<{ msg: string; obj: Record<string, unknown> }> = [];
  const logger = {
    debug() {},
    warn() {},
    error() {},
    info: (obj: object, msg?: string) => lines.push({ msg: msg ?? '', obj: obj as Record<string, unknown> }),
  };
  const network = new MemoryNetwork();
  let served: Promise<Session> | undefined;
  await network.listen('b', (connection) => (served = sessionOf(connection, 'listener', { node: 'gw-2' })));
  const session = await sessionOf(await network.dial('b'), 'dialler', { node: 'gw-1' });
  await session.established;
  const hlc = new HybridLogicalClock({ node: 'gw-1', clock: scheduler.now });
  const manager = new CacheManager({ clock: scheduler.now, versionClock: () => hlc.now() });
  managers.push(manager);
  const cache = manager.addCache('c', { maxElementsInMemory: 0 });
  const replicator = new CacheReplicator(replicaPortOf(cache), resolveReplicationConfig('c', {}), {
    hlc,
    logger,
    scheduler,
  });
  replicators.push(replicator);
  const link = new PeerLink({
    session,
    node: 'gw-2',
    url: '',
    dialledByUs: true,
    caches: ['c'],
    replicators: new Map([['c', replicator]]),
    hlc,
    logger,
    ackTimeoutMillis: 1000,
    protocol: 6,
    scheduler,
  });
  links.push(link);
  link.attach();
  const peer = await (served as Promise<Session>);
  await peer.established;
  return { scheduler, lines, link, cache, peer };
}

let counter = 0;
/** An Entries frame of `count` puts to cache 'c', as a peer's repair sends them. */
const entries = (count: number, time: number) => ({
  type: MessageType.Entries,
  changes: Array.from(
    { length: count },
    (_, i): ChangeMessage => ({
      type: MessageType.Put,
      cache: 'c',
      key: `k${counter}-${i}`,
      value: 'v',
      version: { time, counter: counter++, node: 'gw-2' },
      createdAt: time,
      timeToLiveSeconds: 0,
      timeToIdleSeconds: 0,
    }),
  ),
});

describe('bootstrap progress', () => {
  it('says at info, at most once a period, how many entries the bootstrap took so far and from which peer; nothing once it is done', async () => {
    const { scheduler, lines, link, cache, peer } = await bootstrappingLink();
    const progress = () => lines.filter((line) => line.msg === 'bootstrap from peer under way').map((line) => line.obj);
    // The peer lists three keys for the joiner to compare (it holds nothing, so there is nothing to pull).
    const version = { time: scheduler.now(), counter: counter++, node: 'gw-2' };
    peer.send({
      type: MessageType.Keys,
      cache: 'c',
      items: ['a', 'b', 'c'].map((key) => ({ key, version, removed: false })),
      last: false,
    });
    // A frame of 1,000 entries every second of virtual time, for twelve seconds.
    const period = BOOTSTRAP_PROGRESS_MILLIS / 5;
    for (let frame = 0; frame < 12; frame++) {
      peer.send(entries(1000, scheduler.now()));
      await turns();
      await scheduler.advance(period);
    }
    expect(cache.size).toBe(12_000);
    // Lines at the frames that came a whole period after the start, then after the last line:
    // not one a frame (twelve), nor nothing until done.
    expect(progress()).toEqual([
      { peer: 'gw-2', caches: ['c'], entries: 6000, keysCompared: 3, seconds: 5 },
      { peer: 'gw-2', caches: ['c'], entries: 11_000, keysCompared: 3, seconds: 10 },
    ]);

    link.repaired('c'); // the bootstrap from the peer is done
    for (let frame = 0; frame < 12; frame++) {
      peer.send(entries(1000, scheduler.now())); // a later repair's entries: no bootstrap any more
      await turns();
      await scheduler.advance(period);
    }
    expect(cache.size).toBe(24_000);
    expect(progress()).toHaveLength(2);
  });

  it('says nothing for a bootstrap that ends within a period', async () => {
    const { scheduler, lines, link, cache, peer } = await bootstrappingLink();
    for (let frame = 0; frame < 4; frame++) {
      peer.send(entries(1000, scheduler.now()));
      await turns();
      await scheduler.advance(BOOTSTRAP_PROGRESS_MILLIS / 5);
    }
    link.repaired('c');
    expect(cache.size).toBe(4000);
    expect(lines.filter((line) => line.msg === 'bootstrap from peer under way')).toEqual([]);
  });
});
