/**
 * Per-cache replication settings: Ehcache's RMICacheReplicatorFactory properties with their
 * names, plus `replicateExpiries`, which Ehcache never had; and the bootstrap settings of
 * RMIBootstrapCacheLoaderFactory. One frozen object of defaults each, validated with messages
 * that name the cache and the field. Where Ehcache quietly replaced a bad value with its default
 * (an interval under 10 ms, a chunk size out of range), meshcache refuses it.
 */
import { ConfigError } from '@meshcache/core';
import { shownValue } from '@meshcache/core/internal';

export interface ReplicationConfig {
  /** Send new keys to peers. @default true */
  replicatePuts?: boolean;
  /** true: send the value; false: tell peers to drop the key (invalidate). @default true */
  replicatePutsViaCopy?: boolean;
  /** Send updates of held keys. @default true */
  replicateUpdates?: boolean;
  /** true: send the value; false: tell peers to drop the key (invalidate). @default true */
  replicateUpdatesViaCopy?: boolean;
  /** Send removals, and removeAll. @default true */
  replicateRemovals?: boolean;
  /**
   * Send expiries this node finds (TTI, the sweep); a peer drops the key only if it still holds
   * that same version. TTL needs no message: every node expires it at the same moment. @default true
   */
  replicateExpiries?: boolean;
  /** Batch changes per peer and send them every interval; false sends each at once. @default true */
  replicateAsynchronously?: boolean;
  /** How often batches leave, in ms (at least 10). @default 1000 */
  asynchronousReplicationIntervalMillis?: number;
  /** Most changes in one batch frame. @default 1000 */
  asynchronousReplicationMaximumBatchSize?: number;
  /**
   * Cluster-wide single flight for getOrLoad: a node that starts loading a key announces a lease,
   * and a peer that misses the same key meanwhile waits for the replicated value instead of
   * calling the origin. Needs replicatePuts with replicatePutsViaCopy (the value must travel).
   * @default false
   */
  clusterSingleFlight?: boolean;
  /** How long a lease lives: the longest a peer waits for another node's load, in ms. @default 10000 */
  singleFlightLeaseMillis?: number;
  /**
   * How long a claimant waits at most for its peers to acknowledge its claim before it loads
   * anyway, in ms (on a healthy link the acknowledgements take a round trip). @default 1000
   */
  singleFlightClaimMillis?: number;
  /**
   * Anti-entropy: every this many ms (jittered), a node whose cache changed since it last did so
   * sends each peer its digest, and the peer repairs itself from it. This is what brings a node
   * in step when a change missed it and no link of it went down (the writer was cut off from it,
   * then crashed). Costs one read of the cache per interval while it changes. 0 = repair only
   * when a link comes up or a queue overflows. @default 30000
   */
  repairIntervalMillis?: number;
}

export interface BootstrapConfig {
  /** true: the node serves at once and loads in the background; false: node.ready() waits. @default true */
  bootstrapAsynchronously?: boolean;
  /** Largest chunk of entries pulled in one message, in bytes. @default 5000000 */
  maximumChunkSizeBytes?: number;
}

export type ResolvedReplicationConfig = Readonly<Required<ReplicationConfig>>;
export type ResolvedBootstrapConfig = Readonly<Required<BootstrapConfig>>;

export const REPLICATION_DEFAULTS: ResolvedReplicationConfig = Object.freeze({
  replicatePuts: true,
  replicatePutsViaCopy: true,
  replicateUpdates: true,
  replicateUpdatesViaCopy: true,
  replicateRemovals: true,
  replicateExpiries: true,
  replicateAsynchronously: true,
  asynchronousReplicationIntervalMillis: 1000,
  asynchronousReplicationMaximumBatchSize: 1000,
  clusterSingleFlight: false,
  singleFlightLeaseMillis: 10_000,
  singleFlightClaimMillis: 1000,
  repairIntervalMillis: 30_000,
});

export const BOOTSTRAP_DEFAULTS: ResolvedBootstrapConfig = Object.freeze({
  bootstrapAsynchronously: true,
  maximumChunkSizeBytes: 5_000_000,
});

type Rule = { readonly kind: 'boolean' } | { readonly kind: 'integer'; readonly min: number; readonly max: number };

const REPLICATION_RULES: Readonly<Record<keyof ReplicationConfig, Rule>> = Object.freeze({
  replicatePuts: { kind: 'boolean' },
  replicatePutsViaCopy: { kind: 'boolean' },
  replicateUpdates: { kind: 'boolean' },
  replicateUpdatesViaCopy: { kind: 'boolean' },
  replicateRemovals: { kind: 'boolean' },
  replicateExpiries: { kind: 'boolean' },
  replicateAsynchronously: { kind: 'boolean' },
  asynchronousReplicationIntervalMillis: { kind: 'integer', min: 10, max: 3_600_000 },
  asynchronousReplicationMaximumBatchSize: { kind: 'integer', min: 1, max: 100_000 },
  clusterSingleFlight: { kind: 'boolean' },
  singleFlightLeaseMillis: { kind: 'integer', min: 100, max: 3_600_000 },
  singleFlightClaimMillis: { kind: 'integer', min: 0, max: 10_000 },
  repairIntervalMillis: { kind: 'integer', min: 0, max: 86_400_000 },
});

const BOOTSTRAP_RULES: Readonly<Record<keyof BootstrapConfig, Rule>> = Object.freeze({
  bootstrapAsynchronously: { kind: 'boolean' },
  maximumChunkSizeBytes: { kind: 'integer', min: 5_000, max: 100_000_000 },
});

function resolve<T extends object>(
  cacheName: string,
  section: string,
  rules: Readonly<Record<string, Rule>>,
  defaults: T,
  raw: unknown,
): T {
  if (raw === undefined) return defaults;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(cacheName, section, `must be an object, got ${shownValue(raw)}`);
  }
  const resolved: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [field, value] of Object.entries(raw)) {
    const rule = Object.hasOwn(rules, field) ? rules[field] : undefined;
    const name = `${section}.${field}`;
    if (rule === undefined) {
      throw new ConfigError(cacheName, name, `is not a ${section} option; known: ${Object.keys(rules).join(', ')}`);
    }
    if (value === undefined) continue;
    if (rule.kind === 'boolean' && typeof value !== 'boolean') {
      throw new ConfigError(cacheName, name, `must be true or false, got ${shownValue(value)}`);
    }
    if (
      rule.kind === 'integer' &&
      (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max)
    ) {
      throw new ConfigError(
        cacheName,
        name,
        `must be a whole number from ${rule.min} to ${rule.max}, got ${shownValue(value)}`,
      );
    }
    resolved[field] = value;
  }
  return Object.freeze(resolved) as T;
}

/** @throws ConfigError naming the cache and `replication.<field>`. */
export function resolveReplicationConfig(cacheName: string, raw: unknown): ResolvedReplicationConfig {
  return resolve(cacheName, 'replication', REPLICATION_RULES, REPLICATION_DEFAULTS, raw);
}

/** @throws ConfigError naming the cache and `bootstrap.<field>`. */
export function resolveBootstrapConfig(cacheName: string, raw: unknown): ResolvedBootstrapConfig {
  return resolve(cacheName, 'bootstrap', BOOTSTRAP_RULES, BOOTSTRAP_DEFAULTS, raw);
}
