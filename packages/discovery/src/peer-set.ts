/**
 * The bookkeeping every provider shares: the peers that are up, keyed by URL, and the listeners
 * told when one comes or goes. Providers only say what they see now; this turns that into
 * exactly one `up` and one `down` per peer.
 */
import type { Logger } from '@meshcache/core';
import { cachesOf, type DiscoveredPeer, type PeerEvent, sameCaches } from './peer-provider.js';

export class PeerSet {
  readonly #peers = new Map<string, DiscoveredPeer>();
  readonly #listeners = new Set<(event: PeerEvent) => void>();
  readonly #logger: Logger;
  #closed = false;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  list(): DiscoveredPeer[] {
    return [...this.#peers.values()];
  }

  has(url: string): boolean {
    return this.#peers.has(url);
  }

  subscribe(listener: (event: PeerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Adds or replaces a peer; `up` only when its URL was not up, or (after a `down`) when the
   * caches it is for changed: a link carries the caches it was dialled for.
   */
  up(peer: DiscoveredPeer): void {
    const known = this.#peers.get(peer.url);
    if (known !== undefined && !sameCaches(cachesOf(known), cachesOf(peer))) this.down(peer.url);
    const was = this.#peers.has(peer.url);
    this.#peers.set(peer.url, peer);
    if (!was) this.#emit({ type: 'up', peer });
  }

  down(url: string): void {
    const peer = this.#peers.get(url);
    if (peer === undefined) return;
    this.#peers.delete(url);
    this.#emit({ type: 'down', peer });
  }

  /** Makes the set exactly `peers`: what is new comes up, what is missing goes down. */
  replace(peers: readonly DiscoveredPeer[]): void {
    const wanted = new Set(peers.map((peer) => peer.url));
    for (const url of [...this.#peers.keys()]) if (!wanted.has(url)) this.down(url);
    for (const peer of peers) this.up(peer);
  }

  /** No event is delivered after this. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
  }

  #emit(event: PeerEvent): void {
    if (this.#closed) return;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#logger.error({ peer: event.peer.url, err: error }, 'a discovery listener threw');
      }
    }
  }
}
