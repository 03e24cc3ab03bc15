/**
 * The manual list, as Ehcache's rmiUrls: the configured URLs, `ws://host:port` for every
 * replicated cache or `ws://host:port/Cache%20Name` for one. `update()` replaces the list at run
 * time (a reloaded configuration), reporting what came and went.
 */
import { type Logger, silentLogger } from '@meshcache/core';
import type { DiscoveredPeer, PeerEvent, PeerProvider } from './peer-provider.js';
import { PeerSet } from './peer-set.js';

export interface ManualPeer {
  /** ws://host:port, without a path. */
  readonly url: string;
  readonly cache: string | undefined;
}

export class ManualPeerProvider implements PeerProvider {
  readonly mode = 'manual' as const;
  readonly #set: PeerSet;
  #list: readonly ManualPeer[];
  #started = false;

  constructor(peers: readonly ManualPeer[], logger: Logger = silentLogger) {
    this.#list = peers;
    this.#set = new PeerSet(logger);
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#set.replace(this.#list.map(toPeer));
  }

  async stop(): Promise<void> {
    this.#set.close();
  }

  peers(): DiscoveredPeer[] {
    return this.#set.list();
  }

  onChange(listener: (event: PeerEvent) => void): () => void {
    return this.#set.subscribe(listener);
  }

  /** Replaces the list; once started, peers that are new come up and missing ones go down. */
  update(peers: readonly ManualPeer[]): void {
    this.#list = peers;
    if (this.#started) this.#set.replace(peers.map(toPeer));
  }
}

function toPeer(peer: ManualPeer): DiscoveredPeer {
  return { url: peer.url, cache: peer.cache, node: undefined, foundBy: 'manual' };
}
