/**
 * DNS discovery: a name (a Kubernetes headless service, say) resolved every intervalMillis; each
 * address it answers becomes a peer at `scheme://address:port`. This is discovery where multicast
 * does not pass, which is most cloud networks.
 *
 * A failed resolution keeps the peers of the last good answer (a DNS hiccup must not tear down
 * a healthy cluster) and is logged; an answer without an address that was there drops it. The
 * answer usually includes this node itself: the node's handshake recognises itself and stops
 * dialling that address.
 */
import { lookup } from 'node:dns/promises';
import { type Logger, silentLogger } from '@meshcache/core';
import type { DiscoveredPeer, PeerEvent, PeerProvider } from './peer-provider.js';
import { PeerSet } from './peer-set.js';

/** Resolves a name to addresses (IPv4 or IPv6 literals). */
export type Resolver = (name: string) => Promise<string[]>;

export interface DnsPeerProviderOptions {
  readonly name: string;
  readonly port: number;
  /** @default 5000 */
  readonly intervalMillis?: number;
  /** 'wss' when the cluster uses TLS. @default 'ws' */
  readonly scheme?: 'ws' | 'wss';
  /** How names are resolved. @default getaddrinfo through dns.lookup (hosts file and DNS alike) */
  readonly resolver?: Resolver;
  readonly logger?: Logger;
}

export const systemResolver: Resolver = async (name) =>
  (await lookup(name, { all: true, verbatim: true })).map((address) => address.address);

export class DnsPeerProvider implements PeerProvider {
  readonly mode = 'dns' as const;
  readonly #options: Required<Omit<DnsPeerProviderOptions, 'logger'>>;
  readonly #logger: Logger;
  readonly #set: PeerSet;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #stopped = false;

  constructor(options: DnsPeerProviderOptions) {
    this.#options = {
      name: options.name,
      port: options.port,
      intervalMillis: options.intervalMillis ?? 5000,
      scheme: options.scheme ?? 'ws',
      resolver: options.resolver ?? systemResolver,
    };
    this.#logger = options.logger ?? silentLogger;
    this.#set = new PeerSet(this.#logger);
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#options.intervalMillis);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#set.close();
  }

  peers(): DiscoveredPeer[] {
    return this.#set.list();
  }

  onChange(listener: (event: PeerEvent) => void): () => void {
    return this.#set.subscribe(listener);
  }

  /** Resolves the name now and reports what changed. Never rejects. */
  async refresh(): Promise<void> {
    const { name, port, scheme, resolver } = this.#options;
    let addresses: string[];
    try {
      addresses = await resolver(name);
    } catch (error) {
      this.#logger.warn({ name, err: error }, 'dns discovery: resolution failed; keeping the last known peers');
      return;
    }
    if (this.#stopped) return;
    const unique = [...new Set(addresses)];
    this.#set.replace(
      unique.map((address) => ({
        url: `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`,
        cache: undefined,
        node: undefined,
        foundBy: 'dns' as const,
      })),
    );
  }
}
