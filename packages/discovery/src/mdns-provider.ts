/**
 * Automatic discovery, as Ehcache's default: nodes of a cluster find each other over multicast
 * DNS (bonjour-service) with no list to maintain, and a node that disappears is dropped.
 *
 * Each node publishes a `_meshcache._tcp` service whose TXT record carries its cluster, node
 * name, protocol version, listener port and scheme, and, when its listener is bound to one IP
 * address, that address (`host`); it browses for the others. Nodes of other clusters and the node
 * itself are ignored. The address dialled is the record's `host` when it names one; else the
 * sender of the answer, which is an address of the publisher the answer reached this node from;
 * else the record's first IPv4 address. The record's addresses are every address of the
 * publisher's host, in no useful order: a host with two network cards (a laptop on Wi-Fi and a
 * VPN, a server with a storage network) had its peers dial whichever came first, where nothing
 * listened (found by a review).
 *
 * A record is a hint, never a credential: anyone on the network can send one. So the scheme
 * dialled is always this node's own (a record cannot talk a TLS node into plaintext), peers are
 * tracked by the URL a record points at, not by the name it claims (a spoofed record naming a
 * real node adds a URL to try; it cannot take the real one down), and who is at a URL is only
 * known once the handshake has proven it.
 *
 * Liveness: bonjour-service never notices a crashed publisher (a crash sends no goodbye, and
 * its cache keeps records for their TTL). So every heartbeatIntervalMillis the provider browses
 * afresh (a new query, which every live publisher answers), notes who answered, and drops a peer
 * not heard from for peerTimeoutMillis. A clean stop sends goodbye packets (unpublishAll). A
 * goodbye names a record, not an address, and two publishers can use one record name (a node
 * restarted on another port, or a spoofer claiming a real node's name): so the addresses heard
 * under that name are asked again at once, and those that do not answer within a heartbeat (at
 * most a second) are dropped. The replication link's own heartbeat closes the link to a dead
 * peer independently.
 *
 * Records of one name: bonjour-service's browser reports the first answer under a name as `up`
 * and a later one with another port as `srv-update`; both are heard, so every address is seen.
 *
 * bonjour-service's callback API stays inside this file, and so does bonjour-service itself: it is
 * an optional peer dependency, imported only when a provider starts (loadBonjour), so a node that
 * does not use mDNS neither needs it installed nor loads it, and one that does without it gets
 * E_MISSING_DEPENDENCY saying what to install.
 */
import { isIP } from 'node:net';
import { ConfigError, type Logger, MeshcacheError, silentLogger } from '@meshcache/core';
import type { Bonjour, Browser, Service } from 'bonjour-service';
import { checkProviderOption, type DiscoveredPeer, type PeerEvent, type PeerProvider } from './peer-provider.js';
import { PeerSet } from './peer-set.js';

export const SERVICE_TYPE = 'meshcache';

/**
 * bonjour-service, imported on first use. @throws MeshcacheError E_MISSING_DEPENDENCY when it is
 * not installed (the specifier is a parameter for the test of that message).
 */
export async function loadBonjour(specifier = 'bonjour-service'): Promise<typeof import('bonjour-service')> {
  try {
    return (await import(specifier)) as typeof import('bonjour-service');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && String(error).includes(specifier)) {
      throw new MeshcacheError(
        'E_MISSING_DEPENDENCY',
        `peerDiscovery.mode "automatic" (mDNS) needs the package ${specifier}, which is not installed: npm install ${specifier}`,
        { cause: error },
      );
    }
    throw error;
  }
}

export interface MdnsPeerProviderOptions {
  /** This node: what it publishes, and whom it ignores. */
  readonly cluster: string;
  readonly node: string;
  readonly port: number;
  /**
   * The address this node's listener is bound to: published as `host` when it is one IP address
   * (not a name, nor 0.0.0.0 or ::), for peers to dial it there.
   */
  readonly host?: string;
  readonly protocolVersion: number;
  /** @default 'ws' */
  readonly scheme?: 'ws' | 'wss';
  /** @default 1000 */
  readonly heartbeatIntervalMillis?: number;
  /** @default 5000 */
  readonly peerTimeoutMillis?: number;
  /** The interface address multicast is sent and joined on (e.g. 10.0.0.5); all when absent. */
  readonly interface?: string;
  /** @default '224.0.0.251' */
  readonly multicastAddress?: string;
  /** @default 5353 */
  readonly multicastPort?: number;
  /** @default 255 */
  readonly multicastTtl?: number;
  readonly logger?: Logger;
}

interface Seen {
  peer: DiscoveredPeer;
  lastSeen: number;
  /** The record name it was last heard under: a goodbye names that, not the address. */
  fqdn: string | undefined;
}

export class MdnsPeerProvider implements PeerProvider {
  readonly mode = 'automatic' as const;
  readonly #options: MdnsPeerProviderOptions;
  readonly #logger: Logger;
  readonly #set: PeerSet;
  /** Peers heard from, by URL (a node that restarts on another port is a new URL; the old one times out). */
  readonly #seen = new Map<string, Seen>();
  #bonjour: Bonjour | undefined;
  #browser: Browser | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Goodbyes being checked: addresses asked again, dropped unless they answer in time. */
  readonly #goodbyeTimers = new Set<NodeJS.Timeout>();
  #stopped: Promise<void> | undefined;

  /** @throws ConfigError naming `MdnsPeerProvider.<option>` (a port, interval, timeout or TTL out of range). */
  constructor(options: MdnsPeerProviderOptions) {
    const check = (field: keyof MdnsPeerProviderOptions, min: number, max: number) =>
      checkProviderOption('MdnsPeerProvider', field, options[field], min, max);
    checkProviderOption('MdnsPeerProvider', 'port', options.port, 1, 65535, true);
    check('heartbeatIntervalMillis', 1, 600_000);
    check('peerTimeoutMillis', 1, 3_600_000);
    check('multicastPort', 1, 65535);
    check('multicastTtl', 1, 255);
    // A peer is dropped when unseen for peerTimeoutMillis; not longer than a heartbeat, every peer flapped.
    const heartbeat = options.heartbeatIntervalMillis ?? 1000;
    const timeout = options.peerTimeoutMillis ?? 5000;
    if (timeout <= heartbeat) {
      throw new ConfigError(
        undefined,
        'MdnsPeerProvider.peerTimeoutMillis',
        `must be longer than heartbeatIntervalMillis (${heartbeat}), got ${timeout}`,
      );
    }
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
    this.#set = new PeerSet(this.#logger);
  }

  get #heartbeat(): number {
    return this.#options.heartbeatIntervalMillis ?? 1000;
  }

  async start(): Promise<void> {
    if (this.#bonjour !== undefined) return;
    const { Bonjour } = await loadBonjour();
    if (this.#bonjour !== undefined || this.#stopped !== undefined) return;
    const { cluster, node, port, protocolVersion } = this.#options;
    const socketOptions = {
      ip: this.#options.multicastAddress ?? '224.0.0.251',
      port: this.#options.multicastPort ?? 5353,
      ttl: this.#options.multicastTtl ?? 255,
      loopback: true,
      reuseAddr: true,
      bind: '0.0.0.0',
      ...(this.#options.interface === undefined ? {} : { interface: this.#options.interface }),
    };
    // bonjour-service passes these to multicast-dns; its own type names service fields instead.
    this.#bonjour = new Bonjour(socketOptions as never, (error: Error) =>
      this.#logger.error({ err: error }, 'mdns discovery: socket error'),
    );
    const host = boundAddress(this.#options.host);
    this.#bonjour.publish({
      name: `${node} (${cluster})`,
      type: SERVICE_TYPE,
      port,
      probe: false, // node names are unique in a cluster; probing would only delay the start
      txt: {
        cluster,
        node,
        protocol: String(protocolVersion),
        port: String(port),
        scheme: this.#options.scheme ?? 'ws',
        ...(host === undefined ? {} : { host }),
      },
    });
    this.#browse();
    this.#timer = setInterval(() => this.#tick(), this.#heartbeat);
    this.#timer.unref();
    // One round of answers before start() resolves, so the peers already there are dialled first.
    await new Promise((resolve) => setTimeout(resolve, Math.min(this.#heartbeat, 1000)).unref());
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  peers(): DiscoveredPeer[] {
    return this.#set.list();
  }

  onChange(listener: (event: PeerEvent) => void): () => void {
    return this.#set.subscribe(listener);
  }

  async #stop(): Promise<void> {
    clearInterval(this.#timer);
    for (const timer of this.#goodbyeTimers) clearTimeout(timer);
    this.#goodbyeTimers.clear();
    this.#browser?.stop();
    this.#set.close();
    const bonjour = this.#bonjour;
    if (bonjour === undefined) return;
    // Goodbyes first, so peers drop this node now rather than after peerTimeoutMillis.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1000);
      bonjour.unpublishAll(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await new Promise<void>((resolve) => bonjour.destroy(() => resolve()));
  }

  /** A fresh browser: it sends a query, and every live publisher's answer comes as `up`. */
  #browse(): void {
    this.#browser?.stop();
    const browser = this.#bonjour?.find({ type: SERVICE_TYPE });
    if (browser === undefined) return;
    browser.on('up', (service) => this.#heard(service));
    browser.on('srv-update', (service) => this.#heard(service)); // another answer under a name already heard
    browser.on('down', (service) => this.#goodbye(service));
    this.#browser = browser;
  }

  #tick(): void {
    const now = Date.now();
    const timeout = this.#options.peerTimeoutMillis ?? 5000;
    for (const [url, seen] of [...this.#seen]) {
      if (now - seen.lastSeen > timeout) {
        this.#seen.delete(url);
        this.#logger.info({ peer: seen.peer.node, url }, 'mdns discovery: peer not heard from; dropped');
        this.#set.down(url);
      }
    }
    this.#browse();
  }

  /** The peer a record describes: of this cluster, not this node, with an address and a port. */
  #peerOf(service: Service): DiscoveredPeer | undefined {
    const txt = (service.txt ?? {}) as Record<string, unknown>;
    const { cluster, node } = this.#options;
    if (txt['cluster'] !== cluster || typeof txt['node'] !== 'string' || txt['node'] === node) return undefined;
    const port = Number(txt['port'] ?? service.port);
    const address =
      boundAddress(txt['host']) ?? service.referer?.address ?? (service.addresses ?? []).find((a) => !a.includes(':'));
    if (address === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) return undefined;
    // This node's own scheme, whatever the record says: a record must not choose plaintext.
    const scheme = this.#options.scheme ?? 'ws';
    return {
      url: `${scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`,
      cache: undefined,
      node: txt['node'],
      foundBy: 'automatic',
    };
  }

  #heard(service: Service): void {
    const peer = this.#peerOf(service);
    if (peer === undefined) return;
    this.#seen.set(peer.url, { peer, lastSeen: Date.now(), fqdn: service.fqdn });
    this.#set.up(peer);
  }

  /** A goodbye for a record name: ask again, and drop the addresses of that name that stay silent. */
  #goodbye(service: Service): void {
    if (this.#peerOf(service) === undefined || this.#stopped !== undefined) return;
    const named = [...this.#seen].filter(([, seen]) => seen.fqdn === service.fqdn).map(([url]) => url);
    if (named.length === 0) return;
    const since = Date.now();
    this.#browse();
    const timer = setTimeout(
      () => {
        this.#goodbyeTimers.delete(timer);
        for (const url of named) {
          const seen = this.#seen.get(url);
          if (seen === undefined || seen.lastSeen >= since) continue;
          this.#seen.delete(url);
          this.#logger.info({ peer: seen.peer.node, url }, 'mdns discovery: peer said goodbye');
          this.#set.down(url);
        }
      },
      Math.min(this.#heartbeat, 1000),
    );
    timer.unref();
    this.#goodbyeTimers.add(timer);
  }
}

/** `host` when it is one IP address a listener is bound to (not a name, nor a wildcard); else undefined. */
function boundAddress(host: unknown): string | undefined {
  if (typeof host !== 'string') return undefined;
  const address = host.replace(/^\[|\]$/g, '');
  if (isIP(address) === 0 || address === '0.0.0.0' || address === '::') return undefined;
  return address;
}
