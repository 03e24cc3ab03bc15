/**
 * DNS discovery: a name (a Kubernetes headless service, say) resolved every intervalMillis; each
 * address it answers becomes a peer at `scheme://address:port`. This is discovery where multicast
 * does not pass, which is most cloud networks.
 *
 * A failed resolution keeps the peers of the last good answer (a DNS hiccup must not tear down
 * a healthy cluster) and is logged at warn once a minute (debug between); an answer without an
 * address that was there drops it. The answer usually includes this node itself: the node's
 * handshake recognises itself and stops dialling that address.
 *
 * Resolutions never overlap: the next starts intervalMillis after the last one ended (a DNS server
 * that does not answer piled up a lookup every interval, and a slow older answer could replace a
 * newer one). start() waits for the first answer at most FIRST_ANSWER_WAIT_MILLIS: a node whose DNS
 * server is down starts (and opens its operator endpoint) anyway, and takes the peers when the
 * answer comes.
 */
import { lookup } from 'node:dns/promises';
import { ConfigError, type Logger, silentLogger } from '@meshcache/core';
import { shownValue } from '@meshcache/core/internal';
import { checkProviderOption, type DiscoveredPeer, type PeerEvent, type PeerProvider } from './peer-provider.js';
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

/** How long start() waits for the first answer before it lets the node start without peers. */
export const FIRST_ANSWER_WAIT_MILLIS = 3000;
/** A resolution that keeps failing is logged at warn once in this long. */
const WARN_EVERY_MILLIS = 60_000;

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
  /** Resolutions asked for, and the newest whose answer was applied: an older answer is dropped. */
  #asked = 0;
  #applied = 0;
  #warnedAt = Number.NEGATIVE_INFINITY;

  /** @throws ConfigError naming `DnsPeerProvider.<option>` (a name that is not a string, a port or interval out of range). */
  constructor(options: DnsPeerProviderOptions) {
    if (typeof options.name !== 'string' || options.name === '') {
      throw new ConfigError(
        undefined,
        'DnsPeerProvider.name',
        `must be a non-empty string, got ${shownValue(options.name)}`,
      );
    }
    checkProviderOption('DnsPeerProvider', 'port', options.port, 1, 65535, true);
    checkProviderOption('DnsPeerProvider', 'intervalMillis', options.intervalMillis, 1, 3_600_000);
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
    const first = this.#resolveThenWait();
    let waited: NodeJS.Timeout | undefined;
    const enough = new Promise<void>((resolve) => {
      waited = setTimeout(resolve, FIRST_ANSWER_WAIT_MILLIS);
      waited.unref();
    });
    await Promise.race([first, enough]);
    clearTimeout(waited);
  }

  /** One resolution, then the next intervalMillis after it ended, until stop(). */
  async #resolveThenWait(): Promise<void> {
    await this.refresh();
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#resolveThenWait(), this.#options.intervalMillis);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
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
    const asked = ++this.#asked;
    let addresses: string[];
    try {
      addresses = await resolver(name);
    } catch (error) {
      if (this.#stopped) return;
      const now = Date.now();
      if (now - this.#warnedAt >= WARN_EVERY_MILLIS) {
        this.#warnedAt = now;
        this.#logger.warn(
          { name, err: error },
          'dns discovery: resolution failed; keeping the last known peers (logged again in a minute if it still fails)',
        );
      } else this.#logger.debug({ name, err: error }, 'dns discovery: resolution failed again');
      return;
    }
    if (this.#stopped || asked < this.#applied) return;
    this.#applied = asked;
    this.#warnedAt = Number.NEGATIVE_INFINITY;
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
