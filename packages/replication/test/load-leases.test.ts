/**
 * Single flight's claims under exact schedules: three LoadLeases joined by a scripted network
 * whose links are FIFO queues the test delivers by hand, on one virtual scheduler. Each race that
 * a loaded machine met by chance is written down here as the schedule that produces it.
 */
import { type Cache, CacheManager, type Version } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { VirtualScheduler } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { HybridLogicalClock, type LeaseMessage, MessageType } from '../src/internals.js';
import {
  LoadLeases,
  type LoadLeasesOptions,
  MAX_CLAIM_KEY_CHARS_PER_PEER,
  MAX_CLAIMS_PER_PEER,
} from '../src/load-leases.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const KEY = 'tenant=acme';

type Frame =
  | { kind: 'lease'; message: LeaseMessage }
  | { kind: 'value'; key: string; value: unknown; version: Version };

interface ScriptedNode {
  readonly name: string;
  readonly cache: Cache<unknown>;
  readonly leases: LoadLeases;
  /** Values put here since the last flush, waiting to leave (as a replicator's queue). */
  readonly queued: Array<{ key: string; value: unknown; version: Version }>;
  /** Confirms (waits for acknowledgements) the test has not answered yet. */
  readonly confirms: Array<() => void>;
}

const managers: CacheManager[] = [];

/** A node's token cache on `scheduler`, with LoadLeases of 10 s leases and claims sending through `io`. */
function leasesOn(
  scheduler: VirtualScheduler,
  name: string,
  io: Pick<LoadLeasesOptions, 'broadcast' | 'flush' | 'confirm'>,
): { hlc: HybridLogicalClock; cache: Cache<unknown>; leases: LoadLeases } {
  const hlc = new HybridLogicalClock({ node: name, clock: scheduler.now });
  const manager = new CacheManager({ scheduler, versionClock: () => hlc.now() });
  managers.push(manager);
  const cache = manager.addCache('service tokens', { timeToLiveSeconds: 3600 });
  const leases = new LoadLeases({
    port: replicaPortOf(cache),
    hlc,
    logger: quiet,
    leaseMillis: 10_000,
    claimMillis: 10_000,
    ...io,
    scheduler,
  });
  replicaPortOf(cache).setLoadCoordinator(leases);
  return { hlc, cache, leases };
}
afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.shutdown();
});

/** Nodes joined pairwise by links that deliver only when the test says so, in order. */
class ScriptedNetwork {
  readonly scheduler = new VirtualScheduler();
  readonly nodes = new Map<string, ScriptedNode>();
  readonly links = new Map<string, Frame[]>();
  readonly loads: string[] = [];

  add(name: string): ScriptedNode {
    const queued: ScriptedNode['queued'] = [];
    const confirms: ScriptedNode['confirms'] = [];
    const { cache, leases } = leasesOn(this.scheduler, name, {
      broadcast: (message) => {
        for (const other of this.nodes.keys())
          if (other !== name) this.#link(name, other).push({ kind: 'lease', message });
        return this.nodes.size - 1;
      },
      flush: () => {
        for (const value of queued.splice(0)) {
          for (const other of this.nodes.keys())
            if (other !== name) this.#link(name, other).push({ kind: 'value', ...value });
        }
      },
      confirm: () => new Promise<void>((resolve) => confirms.push(resolve)),
    });
    cache.on(
      'put',
      (event) => queued.push({ key: event.key as string, value: event.value, version: event.version as Version }),
      {
        origin: 'local',
      },
    );
    const node = { name, cache, leases, queued, confirms };
    this.nodes.set(name, node);
    return node;
  }

  /** getOrLoad on `name`, with a loader that records the call. */
  load(name: string): Promise<unknown> {
    const node = this.nodes.get(name) as ScriptedNode;
    return node.cache.getOrLoad(KEY, async () => {
      this.loads.push(name);
      return `token loaded by ${name}`;
    });
  }

  /** Delivers every frame queued from `from` to `to`, in order. */
  async deliver(from: string, to: string): Promise<void> {
    const target = this.nodes.get(to) as ScriptedNode;
    for (const frame of this.#link(from, to).splice(0)) {
      if (frame.kind === 'lease') target.leases.receive(frame.message, from);
      else {
        replicaPortOf(target.cache).applyPut(frame.key, frame.value, frame.version, this.scheduler.now(), 3600, 0);
        target.leases.valueArrived(frame.key);
      }
    }
    await this.settle();
  }

  /** Lets promise chains run, and timers due now (the winner's flush and release). */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) await this.scheduler.advance(0);
  }

  /** Answers `name`'s oldest confirm: its peers acknowledged (deliver what they sent first). */
  async acknowledge(name: string): Promise<void> {
    const confirm = (this.nodes.get(name) as ScriptedNode).confirms.shift();
    if (confirm === undefined) throw new Error(`${name} is not waiting for acknowledgements`);
    confirm();
    await this.settle();
  }

  pending(from: string, to: string): string[] {
    return this.#link(from, to).map((frame) => (frame.kind === 'lease' ? frame.message.state : 'value'));
  }

  #link(from: string, to: string): Frame[] {
    const id = `${from}->${to}`;
    let link = this.links.get(id);
    if (link === undefined) {
      link = [];
      this.links.set(id, link);
    }
    return link;
  }
}

describe('single flight under exact schedules', () => {
  it('a waiter whose claimant withdraws (lost to an older claim still on its way) does not load', async () => {
    const net = new ScriptedNetwork();
    for (const name of ['gw-1', 'gw-2', 'gw-3']) net.add(name);

    // gw-2 misses first and claims; gw-3 hears that claim, misses, and waits on gw-2.
    const onGw2 = net.load('gw-2');
    await net.settle();
    await net.deliver('gw-2', 'gw-3');
    const onGw3 = net.load('gw-3');
    await net.settle();
    // gw-1 misses in the same millisecond, before gw-2's claim reaches it: an older claim
    // (same time and counter, and gw-1 sorts first).
    const onGw1 = net.load('gw-1');
    await net.settle();
    // gw-2 learns of gw-1's claim, gets its acknowledgements, loses, and withdraws.
    await net.deliver('gw-1', 'gw-2');
    await net.acknowledge('gw-2');
    expect(net.pending('gw-2', 'gw-3')).toEqual(['withdraw']);
    // The withdrawal reaches gw-3 before gw-1's claim does (they travel on different links).
    await net.deliver('gw-2', 'gw-3');
    expect(net.loads).toEqual([]); // a withdrawal says nothing of the load: gw-3 decides again
    // gw-3 claims; gw-1's claim arrives before gw-1's acknowledgement of it (one ordered link).
    await net.deliver('gw-1', 'gw-3');
    await net.deliver('gw-3', 'gw-1');
    await net.deliver('gw-3', 'gw-2');
    await net.acknowledge('gw-3'); // gw-3 now knows gw-1's older claim: it withdraws and waits
    await net.deliver('gw-2', 'gw-1');
    await net.acknowledge('gw-1'); // gw-1 wins and loads
    for (const to of ['gw-2', 'gw-3']) await net.deliver('gw-1', to);

    expect(await Promise.all([onGw1, onGw2, onGw3])).toEqual([
      'token loaded by gw-1',
      'token loaded by gw-1',
      'token loaded by gw-1',
    ]);
    expect(net.loads).toEqual(['gw-1']);
  });

  it('a waiter whose claimant released without a value (its load failed) loads itself', async () => {
    const net = new ScriptedNetwork();
    const holder = net.add('gw-1');
    net.add('gw-2');
    const failing = holder.cache.getOrLoad(KEY, async () => {
      net.loads.push('gw-1');
      throw new Error('auth server said 503');
    });
    failing.catch(() => {});
    await net.settle();
    await net.deliver('gw-1', 'gw-2');
    const waiting = net.load('gw-2');
    await net.settle();
    await net.acknowledge('gw-1');
    await expect(failing).rejects.toThrow(/503/);
    expect(net.pending('gw-1', 'gw-2')).toEqual(['release']);
    await net.deliver('gw-1', 'gw-2');
    expect(await waiting).toBe('token loaded by gw-2');
    expect(net.loads).toEqual(['gw-1', 'gw-2']); // never worse than without coordination
  });

  it('a waiter takes the value that arrived before the release, and the release changes nothing', async () => {
    const net = new ScriptedNetwork();
    net.add('gw-1');
    net.add('gw-2');
    const holder = net.load('gw-1');
    await net.settle();
    await net.deliver('gw-1', 'gw-2');
    const waiting = net.load('gw-2');
    await net.acknowledge('gw-1');
    expect(await holder).toBe('token loaded by gw-1');
    expect(net.pending('gw-1', 'gw-2')).toEqual(['value', 'release']);
    await net.deliver('gw-1', 'gw-2');
    expect(await waiting).toBe('token loaded by gw-1');
    expect(net.loads).toEqual(['gw-1']);
  });
});

describe('single flight: what a peer holding the cluster secret cannot make it do (found by an attack)', () => {
  function alone() {
    const scheduler = new VirtualScheduler();
    const { cache, leases } = leasesOn(scheduler, 'gw-1', {
      broadcast: () => 1,
      flush: () => {},
      confirm: async () => {},
    });
    let counter = 0;
    const claim = (key: string, leaseMillis = 10_000) =>
      leases.receive(
        {
          type: MessageType.Lease,
          cache: 'service tokens',
          key,
          version: { time: scheduler.now(), counter: counter++, node: 'gw-evil' },
          leaseMillis,
          state: 'claim',
        } as LeaseMessage,
        'gw-evil',
      );
    return { scheduler, cache, leases, claim };
  }

  it('waits at most three leases on claims a peer keeps renewing, then loads here (75 s on a 10 s lease before)', async () => {
    const { scheduler, cache, claim } = alone();
    claim(KEY);
    const start = scheduler.now();
    let loadedAt: number | undefined;
    const answer = cache.getOrLoad(KEY, async () => {
      loadedAt = scheduler.now();
      return 'from the origin';
    });
    for (let step = 1; step <= 8 && loadedAt === undefined; step++) {
      await scheduler.advance(9_500);
      claim(KEY); // renewed just before it runs out
    }
    // Past two leases from its first look it decides no more: the claim it waits on then is the
    // last (it ends by 30 s), where eight rounds of renewals held it 75 s.
    expect((loadedAt ?? Number.POSITIVE_INFINITY) - start).toBeLessThanOrEqual(3 * 10_000 + 1);
    expect(await answer).toBe('from the origin');
  });

  it('drops expired claims without their keys being looked up again (2,000,000 held 1 GB)', async () => {
    const { scheduler, leases, claim } = alone();
    for (let i = 0; i < 1000; i++) claim(`key-${i}`, 1000);
    expect(leases.counters.claimedKeys).toBe(1000);
    await scheduler.advance(10_001);
    expect(leases.counters.claimedKeys).toBe(0);
  });

  it(`holds at most MAX_CLAIMS_PER_PEER live claims of one peer`, () => {
    const { leases, claim } = alone();
    for (let i = 0; i < MAX_CLAIMS_PER_PEER + 5; i++) claim(`key-${i}`);
    expect(leases.counters.claimedKeys).toBe(MAX_CLAIMS_PER_PEER);
    claim('key-0'); // a claim it holds may be renewed
    expect(leases.counters.claimedKeys).toBe(MAX_CLAIMS_PER_PEER);
  });

  it("holds at most MAX_CLAIM_KEY_CHARS_PER_PEER characters of one peer's claimed keys (8 MiB keys ran a node out of memory, found by an attack)", async () => {
    const { scheduler, leases, claim } = alone();
    const long = (i: number) => `${i}`.padEnd(1024 * 1024, '.');
    for (let i = 0; i < 10; i++) claim(long(i), 1000);
    expect(leases.counters.claimedKeys).toBe(MAX_CLAIM_KEY_CHARS_PER_PEER / (1024 * 1024));
    // Claims that end give their characters back.
    await scheduler.advance(10_001);
    expect(leases.counters.claimedKeys).toBe(0);
    for (let i = 0; i < 10; i++) claim(long(i));
    expect(leases.counters.claimedKeys).toBe(MAX_CLAIM_KEY_CHARS_PER_PEER / (1024 * 1024));
  });
});
