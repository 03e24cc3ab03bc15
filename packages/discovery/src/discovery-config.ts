/**
 * `peerDiscovery` in the node's configuration, validated field by field (errors name the field
 * and say what is allowed), and the provider it selects. Absent means a manual list that is
 * empty: the node serves whoever dials it. Automatic discovery (multicast) never starts unless
 * the configuration asks for it.
 */
import { isIP, isIPv4 } from 'node:net';
import { ConfigError, type Logger } from '@meshcache/core';
import { DnsPeerProvider } from './dns-provider.js';
import { type ManualPeer, ManualPeerProvider } from './manual-provider.js';
import { MdnsPeerProvider } from './mdns-provider.js';
import { checkProviderOption, type PeerProvider } from './peer-provider.js';

export interface ManualDiscoveryConfig {
  mode: 'manual';
  /** `ws://host:port` for all caches, `ws://host:port/Cache%20Name` for one. */
  peers: string[];
}

export interface AutomaticDiscoveryConfig {
  mode: 'automatic';
  /** How often to query for peers. @default 1000 */
  heartbeatIntervalMillis?: number;
  /** A peer not heard from for this long is dropped. @default 5000 */
  peerTimeoutMillis?: number;
  /** Address of the interface to send and join multicast on; all interfaces when absent. */
  interface?: string;
  /** @default '224.0.0.251' */
  multicastAddress?: string;
  /** @default 5353 */
  multicastPort?: number;
  /** @default 255 */
  multicastTtl?: number;
}

export interface DnsDiscoveryConfig {
  mode: 'dns';
  /** The name to resolve, e.g. a Kubernetes headless service. */
  name: string;
  /** The peer listener port on every address. */
  port: number;
  /** How often to resolve again. @default 5000 */
  intervalMillis?: number;
}

export type DiscoveryConfig = ManualDiscoveryConfig | AutomaticDiscoveryConfig | DnsDiscoveryConfig;

export type ResolvedDiscoveryConfig =
  | { readonly mode: 'manual'; readonly peers: readonly ManualPeer[] }
  | {
      readonly mode: 'automatic';
      readonly heartbeatIntervalMillis: number;
      readonly peerTimeoutMillis: number;
      readonly interface: string | undefined;
      readonly multicastAddress: string;
      readonly multicastPort: number;
      readonly multicastTtl: number;
    }
  | { readonly mode: 'dns'; readonly name: string; readonly port: number; readonly intervalMillis: number };

/** Who this node is, for the providers that publish it or build URLs. */
export interface LocalNode {
  readonly cluster: string;
  readonly node: string;
  readonly port: number;
  /** The host the node's listener is bound to (mDNS publishes it when it is one IP address). */
  readonly host?: string;
  readonly scheme: 'ws' | 'wss';
  readonly protocolVersion: number;
}

const FIELD = 'peerDiscovery';

function fail(field: string, problem: string): never {
  throw new ConfigError(undefined, field === '' ? FIELD : `${FIELD}.${field}`, problem);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function known(raw: Record<string, unknown>, fields: readonly string[]): void {
  for (const field of Object.keys(raw)) {
    if (!fields.includes(field))
      fail(field, `is not an option of mode "${String(raw['mode'])}"; known: ${fields.join(', ')}`);
  }
}

function wholeNumber(raw: Record<string, unknown>, field: string, fallback: number, min: number, max: number): number {
  // Absent: the default; given (null too, which is not "the default"), checked.
  const value = raw[field] === undefined ? fallback : raw[field];
  checkProviderOption(FIELD, field, value, min, max, true);
  return value as number;
}

/** The interface multicast goes out on and is joined on: an address (a name such as eth0 failed only inside bonjour, at start). */
function interfaceAddress(raw: Record<string, unknown>): string | undefined {
  const address = text(raw, 'interface');
  // IPv4: the multicast group is (mDNS's 224.0.0.251).
  if (address !== undefined && !isIPv4(address)) {
    fail(
      'interface',
      `must be the IPv4 address of a network interface (such as 10.0.0.5), got ${JSON.stringify(address)}`,
    );
  }
  return address;
}

function text(raw: Record<string, unknown>, field: string): string | undefined {
  const value = raw[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(field, 'must be a non-empty string');
  return value;
}

/**
 * The port a ws:// or wss:// URL names, as written: WHATWG's URL leaves `port` empty when it is the
 * scheme's default, so `wss://gw:443` would read as naming none. Undefined when none is written.
 */
export function explicitPort(raw: string): number | undefined {
  const written = /^wss?:\/\/(?:[^/?#@]*@)?(?:\[[^\]]*\]|[^/?#:]*):(\d+)(?:[/?#]|$)/i.exec(raw)?.[1];
  return written === undefined ? undefined : Number(written);
}

/**
 * A name DNS can hold: at most 253 characters of labels of 1 to 63 letters, digits, `-` and `_`
 * (a service's SRV-style labels), not starting or ending with `-`, joined by dots, with an optional
 * final dot. A URL, a space or a newline in `peerDiscovery.name` failed only at every lookup.
 */
function isHostName(name: string): boolean {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0 || bare.length > 253) return false;
  return bare.split('.').every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

/** A manual peer URL; `scheme` is what the cluster speaks (wss:// with TLS). */
export function parsePeerUrl(raw: unknown, index: number, scheme: 'ws' | 'wss'): ManualPeer {
  const field = `peers[${index}]`;
  if (typeof raw !== 'string') fail(field, `must be a ${scheme}:// URL string`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    fail(field, `is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== `${scheme}:`) {
    const why = scheme === 'wss' ? ' (tls is configured)' : ' (configure tls for wss://)';
    fail(field, `must be a ${scheme}:// URL${why}, got ${JSON.stringify(raw)}`);
  }
  const port = explicitPort(raw);
  if (port === undefined || port === 0) {
    fail(field, `needs a port from 1 to 65535, got ${JSON.stringify(raw)}`);
  }
  // What URL would quietly read otherwise (both found by a review): a host of digits and dots that
  // is not four numbers of 0 to 255 (`1.2.3` is read as 1.2.0.3, `10.1` as 10.0.0.1), and a
  // path with `.` or `..` in it (`ws://h:1/..` resolves to `/`: every cache, not the one meant).
  const host = /^wss?:\/\/(?:[^/?#@]*@)?([^/?#:[\]]*)/i.exec(raw)?.[1] ?? '';
  if (
    /^[\d.]+$/.test(host) &&
    !/^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/.test(host)
  ) {
    fail(
      field,
      `has a host of digits and dots that is not an IPv4 address of four numbers, got ${JSON.stringify(raw)}`,
    );
  }
  const writtenPath = /^wss?:\/\/[^/?#]*(\/[^?#]*)?/i.exec(raw)?.[1] ?? '';
  if (writtenPath.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) {
    fail(field, `must not have "." or ".." in its path (a URL resolves them away), got ${JSON.stringify(raw)}`);
  }
  // A peer is dialled at scheme://host:port/cache and nothing else: what else a URL carries would be dropped unseen.
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    fail(
      field,
      `must not carry credentials, a query or a fragment (the secret proves who dials), got ${JSON.stringify(raw)}`,
    );
  }
  let path: string;
  try {
    path = decodeURIComponent(url.pathname.replace(/^\//, ''));
  } catch {
    fail(field, `has a path that is not valid percent-encoding, got ${JSON.stringify(raw)}`);
  }
  return { url: `${scheme}://${url.host}`, cache: path === '' ? undefined : path };
}

/** @throws ConfigError naming the field (`peerDiscovery.peerTimeoutMillis`, ...). */
export function resolveDiscoveryConfig(raw: unknown, scheme: 'ws' | 'wss' = 'ws'): ResolvedDiscoveryConfig {
  if (raw === undefined) return { mode: 'manual', peers: [] };
  if (!isObject(raw)) fail('', 'must be an object with a "mode": "manual", "automatic" or "dns"');
  switch (raw['mode']) {
    case 'manual': {
      known(raw, ['mode', 'peers']);
      const list = raw['peers'] === undefined ? [] : raw['peers'];
      if (!Array.isArray(list)) fail('peers', `must be an array of ${scheme}:// URLs`);
      return { mode: 'manual', peers: list.map((peer, i) => parsePeerUrl(peer, i, scheme)) };
    }
    case 'automatic': {
      known(raw, [
        'mode',
        'heartbeatIntervalMillis',
        'peerTimeoutMillis',
        'interface',
        'multicastAddress',
        'multicastPort',
        'multicastTtl',
      ]);
      const heartbeatIntervalMillis = wholeNumber(raw, 'heartbeatIntervalMillis', 1000, 100, 600_000);
      const peerTimeoutMillis = wholeNumber(raw, 'peerTimeoutMillis', 5000, 200, 3_600_000);
      if (peerTimeoutMillis <= heartbeatIntervalMillis) {
        fail('peerTimeoutMillis', `must be longer than heartbeatIntervalMillis (${heartbeatIntervalMillis})`);
      }
      const multicastAddress = text(raw, 'multicastAddress') ?? '224.0.0.251';
      // An IPv4 address as Node reads one (239.999.1.1 and 239.01.1.1 matched the pattern alone, and failed only in bonjour at start).
      if (!/^2(2[4-9]|3\d)\./.test(multicastAddress) || !isIPv4(multicastAddress)) {
        fail(
          'multicastAddress',
          `must be an IPv4 multicast address (224.0.0.0 to 239.255.255.255), got ${JSON.stringify(multicastAddress)}`,
        );
      }
      return {
        mode: 'automatic',
        heartbeatIntervalMillis,
        peerTimeoutMillis,
        interface: interfaceAddress(raw),
        multicastAddress,
        multicastPort: wholeNumber(raw, 'multicastPort', 5353, 1, 65535),
        multicastTtl: wholeNumber(raw, 'multicastTtl', 255, 1, 255),
      };
    }
    case 'dns': {
      known(raw, ['mode', 'name', 'port', 'intervalMillis']);
      const name = text(raw, 'name');
      if (name === undefined) fail('name', 'is required: the name to resolve (a headless service, say)');
      if (!isHostName(name) && isIP(name) === 0) {
        fail(
          'name',
          `must be a DNS name (labels of letters, digits, "-" and "_", joined by dots) or an IP address, got ${JSON.stringify(name)}`,
        );
      }
      if (raw['port'] === undefined) fail('port', 'is required: the peer listener port on every address');
      return {
        mode: 'dns',
        name,
        port: wholeNumber(raw, 'port', 0, 1, 65535),
        intervalMillis: wholeNumber(raw, 'intervalMillis', 5000, 100, 3_600_000),
      };
    }
    default:
      fail('mode', `must be "manual", "automatic" or "dns", got ${JSON.stringify(raw['mode'])}`);
  }
}

/** The provider a resolved configuration selects. */
export function createPeerProvider(config: ResolvedDiscoveryConfig, self: LocalNode, logger: Logger): PeerProvider {
  switch (config.mode) {
    case 'manual':
      return new ManualPeerProvider(config.peers, logger);
    case 'dns':
      return new DnsPeerProvider({
        name: config.name,
        port: config.port,
        intervalMillis: config.intervalMillis,
        scheme: self.scheme,
        logger,
      });
    case 'automatic':
      return new MdnsPeerProvider({
        cluster: self.cluster,
        node: self.node,
        port: self.port,
        ...(self.host === undefined ? {} : { host: self.host }),
        protocolVersion: self.protocolVersion,
        scheme: self.scheme,
        heartbeatIntervalMillis: config.heartbeatIntervalMillis,
        peerTimeoutMillis: config.peerTimeoutMillis,
        ...(config.interface === undefined ? {} : { interface: config.interface }),
        multicastAddress: config.multicastAddress,
        multicastPort: config.multicastPort,
        multicastTtl: config.multicastTtl,
        logger,
      });
  }
}
