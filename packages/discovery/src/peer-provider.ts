/**
 * The discovery seam: a PeerProvider tells a node which peers to dial, and when one comes or
 * goes. Three providers implement it (manual list, DNS, mDNS), selected by `peerDiscovery.mode`,
 * and all pass test/provider-conformance.ts.
 *
 * Promised by every provider:
 * - `start()` resolves once the first answer is in (the manual list at once; DNS after the first
 *   resolution, even a failed one; mDNS after publishing and one round of queries), so a node
 *   can dial the peers reachable at start before it says it is ready.
 * - Each peer, keyed by its URL, is reported `up` once and `down` once when it goes; `peers()`
 *   is the set of peers that are up, in no particular order.
 * - `stop()` is idempotent; no event is delivered after it resolves.
 * - A provider never throws from a timer or a socket callback: failures are logged and the last
 *   known peers stay.
 *
 * Not promised: that a peer is reachable (that is the link's job), or that it is not this node
 * (DNS answers can include it; the handshake tells).
 */
import { ConfigError } from '@meshcache/core';
import { shownValue } from '@meshcache/core/internal';

export type DiscoveryMode = 'manual' | 'dns' | 'automatic';

export interface DiscoveredPeer {
  /** Where to dial it: ws://host:port or wss://host:port, without a path. */
  readonly url: string;
  /** The one cache this peer is for (a manual URL with a path), or undefined for all (or for several: `caches`). */
  readonly cache: string | undefined;
  /**
   * The caches this peer is for when a manual list names several for one URL (`ws://b/R` and
   * `ws://b/S`: one peer, two caches); absent when `cache` says it. Read both with cachesOf.
   */
  readonly caches?: readonly string[] | undefined;
  /** Its node name, when the provider learns it before dialling (mDNS); else undefined. */
  readonly node: string | undefined;
  readonly foundBy: DiscoveryMode;
}

export interface PeerEvent {
  readonly type: 'up' | 'down';
  readonly peer: DiscoveredPeer;
}

export interface PeerProvider {
  readonly mode: DiscoveryMode;
  start(): Promise<void>;
  stop(): Promise<void>;
  peers(): DiscoveredPeer[];
  /** Calls `listener` for every peer that comes or goes; returns a function that unsubscribes. */
  onChange(listener: (event: PeerEvent) => void): () => void;
}

/** The caches a discovered peer is for, or undefined for every replicated cache. */
export function cachesOf(peer: DiscoveredPeer): readonly string[] | undefined {
  if (peer.caches !== undefined) return peer.caches;
  return peer.cache === undefined ? undefined : [peer.cache];
}

/** Whether two lists of caches name the same caches (undefined: every cache), in any order. */
export function sameCaches(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.length === b.length && a.every((cache) => b.includes(cache));
}

/**
 * Checks a provider's option as its constructor is called, naming `Provider.field` (and a field
 * of the configuration's `peerDiscovery`, named `peerDiscovery.field`, the same way). A provider
 * made in code (`ClusterNode.start(config, { peerProvider })`) skips resolveDiscoveryConfig, which
 * checks `peerDiscovery`: an interval of 0 or NaN ran its timer as fast as Node allows (a DNS
 * lookup or an mDNS query every millisecond), and a port of 0 made URLs no peer listens on.
 * Absent (undefined) means the provider's default, unless the option is `required`. @throws ConfigError
 */
export function checkProviderOption(
  owner: string,
  field: string,
  value: unknown,
  min: number,
  max: number,
  required = false,
): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      undefined,
      `${owner}.${field}`,
      `must be a whole number from ${min} to ${max}, got ${shownValue(value)}`,
    );
  }
}
