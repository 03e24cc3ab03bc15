/**
 * The manual list, as Ehcache's rmiUrls: the configured URLs, `ws://host:port` for every
 * replicated cache or `ws://host:port/Cache%20Name` for one. Several URLs for one node (one a
 * cache, as Ehcache's rmiUrls list them) are one peer for those caches, and one URL without a
 * path among them makes it a peer for all: a node keeps one link per peer. `update()` replaces
 * the list at run time (a reloaded configuration), reporting what came and went.
 */
import { ConfigError, type Logger, silentLogger } from '@meshcache/core';
import { shownValue } from '@meshcache/core/internal';
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

  /** @throws ConfigError naming `ManualPeerProvider.peers[i]` when an entry is not a ManualPeer. */
  constructor(peers: readonly ManualPeer[], logger: Logger = silentLogger) {
    checkPeers(peers);
    this.#list = peers;
    this.#set = new PeerSet(logger);
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#set.replace(toPeers(this.#list));
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
    checkPeers(peers);
    this.#list = peers;
    if (this.#started) this.#set.replace(toPeers(peers));
  }
}

/**
 * Each entry a ManualPeer, as parsePeerUrl makes them: a URL string given as it is (as in the
 * configuration's `peers`) became a peer whose URL was undefined.
 */
function checkPeers(peers: readonly ManualPeer[]): void {
  if (!Array.isArray(peers)) {
    throw new ConfigError(undefined, 'ManualPeerProvider.peers', `must be an array, got ${shownValue(peers)}`);
  }
  peers.forEach((peer: unknown, i) => {
    const entry = peer as Partial<ManualPeer> | null;
    if (
      typeof entry !== 'object' ||
      entry === null ||
      typeof entry.url !== 'string' ||
      !/^wss?:\/\//.test(entry.url) ||
      (entry.cache !== undefined && typeof entry.cache !== 'string')
    ) {
      throw new ConfigError(
        undefined,
        `ManualPeerProvider.peers[${i}]`,
        `must be { url: 'ws://host:port', cache } (parsePeerUrl makes one from a peer URL), got ${shownValue(peer)}`,
      );
    }
  });
}

/** One peer a URL: the caches its entries name, or every cache when one of them names none. */
function toPeers(list: readonly ManualPeer[]): DiscoveredPeer[] {
  const caches = new Map<string, Set<string> | undefined>();
  for (const { url, cache } of list) {
    const known = caches.get(url);
    if (cache === undefined || (caches.has(url) && known === undefined)) caches.set(url, undefined);
    else caches.set(url, (known ?? new Set()).add(cache));
  }
  return [...caches].map(([url, named]) => {
    const all = named === undefined ? undefined : [...named];
    return {
      url,
      cache: all?.length === 1 ? all[0] : undefined,
      ...(all !== undefined && all.length > 1 ? { caches: all } : {}),
      node: undefined,
      foundBy: 'manual',
    };
  });
}
