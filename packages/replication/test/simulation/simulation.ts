/**
 * The deterministic cluster simulator. One plan (schedule.ts) runs a whole cluster of real
 * ClusterNodes in this process, on the simulator's network (sim-network.ts) and on one virtual
 * scheduler: every timer, clock and random draw of every node is the simulation's, so a seed
 * replays the same run, in a fraction of the real time, whatever the machine is doing.
 *
 * A run: start the nodes; play the plan's steps (writes, removals, TTL and TTI entries, cluster
 * single-flight loads, synchronous writes; partitions, cuts, crashes and restarts, slow and lossy
 * links, overloaded nodes); at chaosMillis undo every fault and restart every crashed node; give
 * the cluster HEAL_MILLIS of virtual time; then check the invariants:
 *
 * - convergence: every node holds the same keys, values and versions in every cache;
 * - latest write wins, nothing lost: for each key, what the cluster holds is the newest write
 *   or removal made on a node that did not crash afterwards, or something newer (a write on a
 *   node that crashed before it left may be lost: asynchronous replication's window);
 *   a removal newer than a key's last write is never undone (no resurrection);
 * - an acknowledged synchronous write is never lost while its node lives (a case of the above);
 * - causality: every write is stamped newer than what its node knew of the key when it made it
 *   (the versions are the oracle's order too: a clock that stamped a write older than the value
 *   it replaced made that write lose everywhere, and every other invariant agreed);
 * - expiry: every TTL or TTI entry of the plan has expired on every node;
 * - single flight: a load burst with no fault anywhere in the run calls the origin at most once;
 *   with faults, at most once per node;
 * - bounded memory: queues and tombstones under their bounds;
 * - digests agree: every node's repair digest of kv, sync and tokens (entries and tombstones, by
 *   key and version) and its last removeAll are the same. Nodes whose contents agree but whose
 *   digests do not list keys to each other at every anti-entropy round for nothing, for good, and
 *   the contents check alone never sees it. Not ttl: a put of a TTL shorter than the clocks'
 *   skew reaches some nodes already expired (not held) and others before (held until their sweep);
 *   docs/replication.md, "The simulator". Not lru, whose nodes hold what each one reads.
 * What a run found wrong is returned with the plan, which shrink() cuts down.
 */
import { type Cache, type CacheManager, compareVersions, type Version } from '@meshcache/core';
import { replicaPortOf } from '@meshcache/core/internal';
import { VirtualScheduler } from '@meshcache/core/testing';
import { type ClusterConfig, ClusterNode } from '../../src/index.js';
import { derivePsk } from '../../src/security/keyring.js';
import { NodeScheduler } from './node-scheduler.js';
import type { Plan, Step } from './schedule.js';
import { SimNetwork } from './sim-network.js';

/** How long the healed cluster gets to converge (virtual ms). */
export const HEAL_MILLIS = 10_000;
const SECRET = 'the secret of the simulated cluster, 32 bytes and more';
const START = 1_700_000_000_000;
const LOAD_MILLIS = 300;
const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/** The bucket count the final check reads digests at: a few keys a bucket, so one key that differs shows. */
const DIGEST_BUCKETS = 16;
/** Anti-entropy every 2 s: the healed cluster has HEAL_MILLIS to converge. */
const REPAIR_MILLIS = 2000;
const CACHES = {
  kv: {
    maxElementsInMemory: 0,
    replication: { asynchronousReplicationIntervalMillis: 50, repairIntervalMillis: REPAIR_MILLIS },
  },
  sync: {
    maxElementsInMemory: 0,
    replication: { replicateAsynchronously: false, repairIntervalMillis: REPAIR_MILLIS },
  },
  ttl: {
    maxElementsInMemory: 0,
    replication: { asynchronousReplicationIntervalMillis: 50, repairIntervalMillis: REPAIR_MILLIS },
  },
  tokens: {
    maxElementsInMemory: 0,
    replication: {
      asynchronousReplicationIntervalMillis: 50,
      repairIntervalMillis: REPAIR_MILLIS,
      clusterSingleFlight: true,
      singleFlightLeaseMillis: 3000,
      singleFlightClaimMillis: 1000,
    },
  },
} satisfies ClusterConfig['caches'];
/**
 * The bounded mode's cache: full most of the time (twelve keys for six places), evicting by each
 * node's own reads, so nodes hold different keys and their repairs ask peers to skip rounds
 * (repair/cache-repair.ts, "Rounds skipped"). Rounds every half second: eight of them, the most a
 * full cache waits for a change it missed, fit in HEAL_MILLIS.
 */
const BOUNDED = {
  lru: {
    maxElementsInMemory: 6,
    memoryStoreEvictionPolicy: 'LRU',
    replication: { asynchronousReplicationIntervalMillis: 50, repairIntervalMillis: 500 },
  },
} satisfies ClusterConfig['caches'];
type CacheName = keyof typeof CACHES | keyof typeof BOUNDED;
/**
 * Keys written once to kv and sync as a run starts, beside the plan's twelve: with them a digest
 * has several buckets (bucketCountFor: 32 keys a bucket), so a repair lists some buckets' keys
 * and not others, and sends some whole; with the twelve alone every digest had one bucket, and a
 * repair that skipped every bucket but the first passed every seed. kv loses them at its first
 * removeAll; sync, which the plans never clear, keeps them for the whole run.
 */
const COLD_KEYS = 120;

interface Op {
  readonly cache: 'kv' | 'sync' | 'lru';
  readonly kind: 'put' | 'remove' | 'removeAll';
  readonly key: string | undefined;
  readonly value: number | undefined;
  readonly version: Version;
  readonly node: string;
  /** The node's crash count when it made the op: it "lived" if that is still its count. */
  readonly life: number;
}

interface NodeState {
  scheduler: NodeScheduler;
  node: ClusterNode | undefined;
  crashes: number;
}

export interface Outcome {
  readonly plan: Plan;
  readonly failures: readonly string[];
  readonly figures: {
    readonly steps: number;
    readonly ops: number;
    readonly faults: number;
    readonly virtualMillis: number;
    /** Virtual ms from healing until every node held the same; null if not within HEAL_MILLIS. */
    readonly convergedMillis: number | null;
    /** The bounded mode: anti-entropy rounds of the bounded cache skipped at a full peer's asking (nodes up at the end). */
    readonly roundsSkipped: number;
  };
}

export interface SimulateOptions {
  /**
   * Every node also has a small bounded cache (BOUNDED) that takes the same writes as kv, and a
   * read of the node's previous key after each: checked by checkBounded. @default false
   */
  readonly bounded?: boolean;
  /**
   * Every cache runs without anti-entropy (`repairIntervalMillis: 0`): the cluster must converge
   * by the repairs that events start alone (a link coming up, a peer leaving, a queue that
   * overflowed), which rounds would otherwise mask. @default false
   */
  readonly roundsOff?: boolean;
}

/** CACHES with anti-entropy off in every cache (SimulateOptions.roundsOff). */
const CACHES_WITHOUT_ROUNDS = Object.fromEntries(
  Object.entries(CACHES).map(([name, config]) => [
    name,
    { ...config, replication: { ...config.replication, repairIntervalMillis: 0 } },
  ]),
) as typeof CACHES;

/** Runs one plan to its end and checks the invariants. Never throws for what the cluster did wrong. */
export async function simulate(plan: Plan, options: SimulateOptions = {}): Promise<Outcome> {
  const bounded = options.bounded === true;
  /** Per node, the key of its last write to the bounded cache, which it reads after the next. */
  const lastKey = new Map<string, string>();
  await derivePsk(SECRET); // scrypt is real work on a thread: done once, before virtual time starts
  const scheduler = new VirtualScheduler({ seed: plan.seed, start: START });
  const network = new SimNetwork(scheduler, () => scheduler.random());
  const states = new Map<string, NodeState>();
  const failures: string[] = [];
  const ops: Op[] = [];
  const loads = new Map<string, string[]>();
  const bursts: Array<{ key: string; nodes: readonly string[] }> = [];
  const ttlKeys = new Set<string>();
  let faults = 0;
  let roundsSkipped = 0;
  /** Virtual ms from healing until every cache was the same on every node. */
  let convergedAt: number | undefined;

  /** Lets `promise` settle, moving virtual time on in small steps while it waits (bounded). */
  const settled = async <T>(promise: Promise<T>, what: string): Promise<T> => {
    let done = false;
    promise.then(
      () => {
        done = true;
      },
      () => {
        done = true;
      },
    );
    for (let i = 0; i < 2000 && !done; i++) await scheduler.advance(i < 20 ? 0 : 10);
    if (!done) throw new Error(`simulation: ${what} did not finish`);
    return promise;
  };

  const config = (name: string): ClusterConfig => ({
    name,
    cluster: 'sim',
    secret: SECRET,
    peerListener: { hostname: name, port: 7000, socketTimeoutMillis: 1000 },
    peerDiscovery: { mode: 'manual', peers: plan.nodes.filter((other) => other !== name).map((o) => `ws://${o}:7000`) },
    caches: {
      ...(options.roundsOff === true ? CACHES_WITHOUT_ROUNDS : CACHES),
      ...(bounded ? BOUNDED : {}),
    },
  });

  const start = async (name: string): Promise<void> => {
    const state = states.get(name) ?? { scheduler: new NodeScheduler(scheduler), node: undefined, crashes: 0 };
    state.scheduler = new NodeScheduler(scheduler, plan.skews[name] ?? 0);
    states.set(name, state);
    state.node = await settled(
      ClusterNode.start(config(name), {
        transport: network.view(name),
        scheduler: state.scheduler,
        logger: quiet,
        // Every other seed applies peers' frames a change at a time, yielding between changes: the
        // simulator's frames are of a few changes, and slicing must hold under every fault too.
        ...(plan.seed % 2 === 0 ? { applySlice: 1 } : {}),
      }),
      `start of ${name}`,
    );
  };

  const cacheOf = (name: string, cache: CacheName): Cache<unknown> | undefined =>
    states.get(name)?.node?.manager.getCache(cache);

  /** A kv write made again on the bounded cache, then a read of the node's previous key there. */
  const mirror = (step: Step & { kind: 'put' | 'remove' | 'removeAll' }, life: number): void => {
    const lru = cacheOf(step.node, 'lru');
    if (lru === undefined) return;
    const version = write(lru, step);
    if (version === undefined) return;
    const key = step.kind === 'removeAll' ? undefined : step.key;
    ops.push({
      cache: 'lru',
      kind: step.kind,
      key,
      value: step.kind === 'put' ? step.value : undefined,
      version,
      node: step.node,
      life,
    });
    const previous = lastKey.get(step.node);
    if (previous !== undefined) lru.get(previous);
    if (key !== undefined) lastKey.set(step.node, key);
  };

  const apply = async (step: Step): Promise<void> => {
    switch (step.kind) {
      case 'put':
      case 'remove':
      case 'removeAll': {
        const cache = cacheOf(step.node, step.cache);
        const state = states.get(step.node);
        if (cache === undefined || state === undefined) return; // the node is down
        const key = step.kind === 'removeAll' ? undefined : step.key;
        const replaced = newestKnown(cache, key);
        const version = write(cache, step);
        if (version === undefined) {
          failures.push(`${step.kind} on ${step.node} left no version`);
          return;
        }
        if (replaced !== undefined && compareVersions(version, replaced) <= 0) {
          // Versions are what "latest write wins" is judged by, here as on the nodes: a write
          // stamped older than what its node held would lose to the very value it replaced.
          failures.push(
            `causality: ${step.kind} of ${step.cache}/${key ?? '*'} on ${step.node} stamped ${JSON.stringify(version)}, not newer than ${JSON.stringify(replaced)} that it replaced`,
          );
        }
        const value = step.kind === 'put' ? step.value : undefined;
        ops.push({ cache: step.cache, kind: step.kind, key, value, version, node: step.node, life: state.crashes });
        if (step.cache === 'sync') void state.node?.settle();
        if (bounded && step.cache === 'kv') mirror(step, state.crashes);
        return;
      }
      case 'putTtl': {
        const cache = cacheOf(step.node, 'ttl');
        if (cache === undefined) return;
        cache.put(
          step.key,
          step.ttlSeconds,
          step.idle ? { timeToIdleSeconds: step.ttlSeconds } : { timeToLiveSeconds: step.ttlSeconds },
        );
        ttlKeys.add(step.key);
        return;
      }
      case 'load': {
        bursts.push({ key: step.key, nodes: step.nodes });
        step.nodes.forEach((name, i) => {
          scheduler.setTimeout(() => {
            const state = states.get(name);
            if (state?.node === undefined) return; // down by then
            void cacheOf(name, 'tokens')
              ?.getOrLoad(step.key, () => {
                loads.set(step.key, [...(loads.get(step.key) ?? []), name]);
                return new Promise((resolve) => state.scheduler.setTimeout(() => resolve(`from ${name}`), LOAD_MILLIS));
              })
              .catch(() => {});
          }, step.offsets[i] ?? 0);
        });
        return;
      }
      case 'partition':
        faults++;
        network.partition(step.a, step.b, step.oneWay);
        return;
      case 'cut':
        faults++;
        network.cut(step.a, step.b);
        return;
      case 'slow':
        faults++;
        network.slow(step.node, step.millis);
        return;
      case 'lossy':
        faults++;
        network.lossy(step.loss, step.duplicate);
        return;
      case 'lag': {
        faults++;
        const state = states.get(step.node);
        if (state !== undefined) state.scheduler.lagMillis = step.millis;
        return;
      }
      case 'heal':
        network.heal();
        return;
      case 'crash': {
        faults++;
        const state = states.get(step.node);
        if (state?.node === undefined) return;
        state.scheduler.kill();
        state.node = undefined;
        state.crashes++;
        await network.crash(step.node);
        return;
      }
      case 'restart':
        if (states.get(step.node)?.node === undefined) await start(step.node);
        return;
    }
  };

  try {
    for (const name of plan.nodes) await start(name);
    for (let i = 0; i < COLD_KEYS; i++) {
      const node = plan.nodes[i % plan.nodes.length] as string;
      for (const name of ['kv', 'sync'] as const) {
        const step = { at: 0, kind: 'put', node, cache: name, key: `cold-${i}`, value: i } as const;
        const version = write(cacheOf(node, name) as Cache<unknown>, step);
        if (version !== undefined) ops.push({ ...step, version, life: 0 });
      }
    }
    for (const step of plan.steps) {
      await scheduler.runUntil(START + step.at);
      await apply(step);
    }
    await scheduler.runUntil(START + plan.chaosMillis);
    network.heal();
    for (const [name, state] of states) {
      if (state.node === undefined) await start(name);
      state.scheduler.lagMillis = 0;
    }
    const healed = scheduler.now();
    for (let waited = 0; waited < HEAL_MILLIS; waited += 250) {
      await scheduler.advance(250);
      if (convergedAt === undefined && sameEverywhere(states)) convergedAt = scheduler.now() - healed;
    }
    check(states, ops, ttlKeys, loads, bursts, faults, failures);
    if (bounded) checkBounded(states, ops, failures);
    for (const state of states.values()) roundsSkipped += state.node?.replicationStatistics('lru')?.roundsSkipped ?? 0;
  } catch (error) {
    failures.push(`the simulation itself failed: ${(error as Error).stack ?? error}`);
  } finally {
    for (const state of states.values()) {
      if (state.node !== undefined) await settled(state.node.stop(), 'stop').catch(() => {});
    }
  }
  return {
    plan,
    failures,
    figures: {
      steps: plan.steps.length,
      ops: ops.length,
      faults,
      virtualMillis: scheduler.now() - START,
      convergedMillis: convergedAt ?? null,
      roundsSkipped,
    },
  };
}

function check(
  states: ReadonlyMap<string, NodeState>,
  ops: readonly Op[],
  ttlKeys: ReadonlySet<string>,
  loads: ReadonlyMap<string, readonly string[]>,
  bursts: ReadonlyArray<{ key: string; nodes: readonly string[] }>,
  faults: number,
  failures: string[],
): void {
  const nodes = [...states].map(([name, state]) => ({ name, manager: state.node?.manager as CacheManager }));
  const cache = (manager: CacheManager, name: CacheName) => manager.getCache(name) as Cache<unknown>;

  for (const name of ['kv', 'sync', 'tokens'] as const) {
    const digests = nodes.map(({ name: node, manager }) => {
      const port = replicaPortOf(cache(manager, name));
      const digest = port.digest(DIGEST_BUCKETS)?.digest ?? new Uint8Array();
      return { node, seen: `${Buffer.from(digest).toString('hex')} cleared at ${JSON.stringify(port.clearVersion)}` };
    });
    const apart = digests.filter((view) => view.seen !== digests[0]?.seen);
    if (apart.length > 0) {
      failures.push(
        `digests agree: cache ${name}'s repair digest on ${digests[0]?.node} differs from ${apart.map((view) => view.node).join(', ')}; tombstones: ${nodes.map(({ name: node, manager }) => `${node} ${replicaPortOf(cache(manager, name)).tombstones().length}`).join(', ')}`,
      );
    }
  }

  for (const name of ['kv', 'sync', 'tokens'] as const) {
    const views = nodes.map(({ name: node, manager }) => ({
      node,
      contents: [...replicaPortOf(cache(manager, name)).entries()]
        .map((entry) => `${entry.key}=${JSON.stringify(entry.value)}@${JSON.stringify(entry.version)}`)
        .sort()
        .join('\n'),
    }));
    const differing = views.filter((view) => view.contents !== views[0]?.contents);
    if (differing.length > 0) {
      // Only the entries some node lacks: the 120 cold keys every node holds would bury them.
      const lines = views.map((view) => new Set(view.contents.split('\n')));
      const everywhere = (line: string) => lines.every((held) => held.has(line));
      failures.push(
        `convergence: cache ${name} differs between ${views[0]?.node} and ${differing.map((v) => v.node).join(', ')} (entries not on every node):\n` +
          `${views.map((v, i) => `  ${v.node}: ${[...(lines[i] ?? [])].filter((line) => line !== '' && !everywhere(line)).join(' | ') || '(none)'}`).join('\n')}`,
      );
    }
  }

  // Latest write wins; nothing a living node did is lost; nothing is invented or resurrected.
  const lived = (op: Op) => (states.get(op.node)?.crashes ?? 0) === op.life;
  for (const name of ['kv', 'sync'] as const) {
    const held = cache(nodes[0]?.manager as CacheManager, name);
    const keys = new Set(ops.filter((op) => op.cache === name && op.key !== undefined).map((op) => op.key as string));
    for (const key of keys) {
      const relevant = ops.filter((op) => op.cache === name && (op.key === key || op.kind === 'removeAll'));
      const must = relevant
        .filter(lived)
        .reduce<Op | undefined>(
          (newest, op) => (newest === undefined || compareVersions(op.version, newest.version) > 0 ? op : newest),
          undefined,
        );
      const entry = held.peekEntry(key);
      const clear = replicaPortOf(held).clearVersion;
      const tombstone = replicaPortOf(held).knownVersion(key);
      const finalVersion = entry?.version ?? newestOf(tombstone, clear);
      if (must !== undefined && (finalVersion === undefined || compareVersions(finalVersion, must.version) < 0)) {
        failures.push(
          `lost: ${name}/${key}: the cluster holds ${entry === undefined ? 'nothing' : JSON.stringify(entry.value)} at ${JSON.stringify(finalVersion)}, older than ${must.kind} on ${must.node} at ${JSON.stringify(must.version)}`,
        );
      }
      if (entry !== undefined) {
        const source = relevant.find(
          (op) =>
            op.kind === 'put' &&
            op.version !== undefined &&
            compareVersions(op.version, entry.version as Version) === 0,
        );
        if (source === undefined || source.value !== entry.value) {
          failures.push(
            `invented: ${name}/${key} holds ${JSON.stringify(entry.value)} at ${JSON.stringify(entry.version)}, which no put made`,
          );
        }
      }
    }
  }

  for (const { name, manager } of nodes) {
    const ttl = cache(manager, 'ttl');
    ttl.evictExpiredElements();
    const left = [...ttlKeys].filter((key) => ttl.has(key));
    if (left.length > 0) failures.push(`expiry: ${name} still holds TTL/TTI entries ${left.join(', ')}`);
  }

  for (const { key, nodes: burst } of bursts) {
    const calls = loads.get(key) ?? [];
    const perNode = new Map<string, number>();
    for (const node of calls) perNode.set(node, (perNode.get(node) ?? 0) + 1);
    if ([...perNode.values()].some((count) => count > 1)) {
      failures.push(`single flight: ${key} loaded more than once on one node: ${calls.join(', ')}`);
    }
    if (faults === 0 && burst.length > 0 && calls.length > 1) {
      failures.push(`single flight: ${key} loaded ${calls.length} times with no fault in the run: ${calls.join(', ')}`);
    }
  }

  for (const { name, manager } of nodes) {
    for (const cacheName of ['kv', 'sync', 'ttl', 'tokens'] as const) {
      const statistics = cache(manager, cacheName).statistics() as { tombstones?: number };
      if ((statistics.tombstones ?? 0) > 100_000)
        failures.push(`memory: ${name}/${cacheName} holds too many tombstones`);
      const replication = states.get(name)?.node?.replicationStatistics(cacheName);
      for (const peer of replication?.peers ?? []) {
        if (peer.queuedBytes > 64 * 1024 * 1024)
          failures.push(`memory: ${name}/${cacheName} queue to ${peer.node} too big`);
      }
    }
  }
}

/**
 * The bounded caches: nodes may hold different keys (each evicts by its own reads, as Ehcache's
 * do), but none holds a key at a version older than another node's copy of it, or older than a
 * removal another node knows (its tombstone, or its last removeAll); and every value held is one
 * a put made, at that put's version. Repair takes newer versions of the keys a node holds and
 * removals, whatever its room, within eight anti-entropy rounds even while it has peers skip them.
 */
function checkBounded(states: ReadonlyMap<string, NodeState>, ops: readonly Op[], failures: string[]): void {
  const caches = [...states].map(([name, state]) => ({
    name,
    lru: state.node?.manager.getCache('lru') as Cache<unknown>,
  }));
  const keys = new Set(ops.filter((op) => op.cache === 'lru' && op.key !== undefined).map((op) => op.key as string));
  for (const key of keys) {
    let newest: { version: Version; node: string } | undefined;
    for (const { name, lru } of caches) {
      const port = replicaPortOf(lru);
      for (const version of [port.knownVersion(key), port.clearVersion]) {
        if (version !== undefined && (newest === undefined || compareVersions(version, newest.version) > 0))
          newest = { version, node: name };
      }
    }
    for (const { name, lru } of caches) {
      const entry = lru.peekEntry(key);
      if (entry?.version === undefined) continue;
      if (newest !== undefined && compareVersions(entry.version, newest.version) < 0) {
        failures.push(
          `stale: lru/${key} on ${name} is ${JSON.stringify(entry.value)} at ${JSON.stringify(entry.version)}, older than what ${newest.node} knows of it, ${JSON.stringify(newest.version)}`,
        );
      }
      const made = ops.some(
        (op) =>
          op.cache === 'lru' &&
          op.kind === 'put' &&
          op.key === key &&
          op.value === entry.value &&
          compareVersions(op.version, entry.version as Version) === 0,
      );
      if (!made)
        failures.push(`invented: lru/${key} on ${name} holds ${JSON.stringify(entry.value)}, which no put made`);
    }
  }
}

/** Makes a put, remove or removeAll step's write on `cache`; the version it left. */
function write(cache: Cache<unknown>, step: Step & { kind: 'put' | 'remove' | 'removeAll' }): Version | undefined {
  const port = replicaPortOf(cache);
  switch (step.kind) {
    case 'put':
      cache.put(step.key, step.value);
      return cache.peekEntry(step.key)?.version;
    case 'remove':
      cache.remove(step.key);
      return port.knownVersion(step.key);
    case 'removeAll':
      cache.removeAll();
      return port.clearVersion;
  }
}

/** The newest version `cache` knows of `key` (its entry, tombstone or last removeAll), or of any key for a removeAll. */
function newestKnown(cache: Cache<unknown>, key: string | undefined): Version | undefined {
  const port = replicaPortOf(cache);
  if (key !== undefined) return newestOf(port.knownVersion(key), port.clearVersion);
  let newest = port.clearVersion;
  const entries = port.liveEntries();
  while (entries.next()) newest = newestOf(newest, entries.version());
  for (const { version } of port.tombstones()) newest = newestOf(newest, version);
  return newest;
}

/** Every replicated cache holds the same entries (and versions) on every node that is up. */
function sameEverywhere(states: ReadonlyMap<string, NodeState>): boolean {
  const managers = [...states.values()].map((state) => state.node?.manager);
  if (managers.some((manager) => manager === undefined)) return false;
  for (const name of ['kv', 'sync', 'tokens'] as const) {
    const contents = managers.map((manager) =>
      [...replicaPortOf(manager?.getCache(name) as Cache<unknown>).entries()]
        .map((entry) => `${entry.key}=${JSON.stringify(entry.value)}@${JSON.stringify(entry.version)}`)
        .sort()
        .join('|'),
    );
    if (contents.some((text) => text !== contents[0])) return false;
  }
  return true;
}

function newestOf(a: Version | undefined, b: Version | undefined): Version | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareVersions(a, b) >= 0 ? a : b;
}

/** A plan and its outcome as lines a person can read: the reproduction of a failure. */
export function describe(outcome: Outcome): string {
  const { plan } = outcome;
  return [
    `seed ${plan.seed}: ${plan.nodes.length} nodes (skews ${JSON.stringify(plan.skews)}), chaos ${plan.chaosMillis} ms, ${plan.steps.length} steps`,
    ...plan.steps.map((step) => `  ${JSON.stringify(step)}`),
    ...outcome.failures.map((failure) => `FAILED ${failure}`),
  ].join('\n');
}
