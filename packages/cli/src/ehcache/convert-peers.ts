/**
 * The RMI peer provider and listener to meshcache's `peerDiscovery` and `peerListener`: manual
 * rmiUrls as peer URLs (as java.rmi.Naming read them), automatic multicast as mDNS, the
 * listener's hostName, port and socketTimeoutMillis; each checked as meshcache checks it.
 */
import { isIPv4 } from 'node:net';
import { resolveCacheConfig } from '@meshcache/core';
import { MAX_TIMER_MILLIS } from '@meshcache/core/internal';
import { resolveDiscoveryConfig } from '@meshcache/discovery';
import { resolveClusterConfig } from '@meshcache/replication';
import type { Importer, Json } from './importer.js';
import type { Property } from './properties.js';
import type { XmlElement } from './xml.js';

export interface RmiUrl {
  readonly hostPort: string;
  readonly cache: string;
  /** As the file writes it. */
  readonly written: string;
}

/** The RMI registry's port, which java.rmi.Naming dials when a URL gives none (Registry.REGISTRY_PORT). */
export const RMI_REGISTRY_PORT = 1099;

/**
 * The URLs of `rmiUrls`, as Ehcache's manual provider read them: split at `|`, each trimmed, and
 * each handed to java.rmi.Naming.lookup, which takes `//host:port/name` and `rmi://host:port/name`,
 * and dials port 1099 (the RMI registry's) when the port is left out, empty or 0. Converted so,
 * with a note for the port. A URL without a host (`//:40001/a`) Naming dialled this machine's own
 * address at: not converted, since the converting machine may not be the one that ran it.
 */
export function parseRmiUrls(imp: Importer, property: Property): RmiUrl[] {
  const text = imp.text('peer provider ', property, 'rmiUrls');
  if (text === undefined) return [];
  const urls: RmiUrl[] = [];
  for (const piece of text.split('|')) {
    const url = piece.trim();
    if (url === '') continue;
    const match = /^(?:rmi:)?\/\/(\[[0-9a-fA-F:.]+\]|[^/:\s[\]]*)(?::(\d{0,5}))?\/(.+)$/.exec(url);
    const [, host = '', portText, cache = ''] = match ?? [];
    const port = portText === undefined || portText === '' ? 0 : Number(portText);
    if (match === null || port > 65535) {
      imp.fail(
        property.line,
        `rmiUrls: "${url}" is not an RMI URL //host:port/cacheName (or rmi://host:port/cacheName; a port left out is 1099)`,
      );
    }
    if (host === '') {
      imp.notConverted(
        property.line,
        `rmiUrls: ${url} has no host: Ehcache (java.rmi.Naming) dialled the address of the machine it ran on; left out: write that host in the URL, or add the peer to peerDiscovery.peers`,
      );
      continue;
    }
    if (!javaReadsHost(host)) {
      imp.note(
        property.line,
        `rmiUrls: ${url}: Ehcache never replicated to this peer: java.rmi.Naming refused its host name ${host} (java.net.URI reads none with a character other than a letter, a digit, "-" or ".", nor a dotted one whose last part starts with a digit), and logged "invalid authority" at each try; converted all the same, since meshcache dials it`,
      );
    }
    if (port === 0) {
      imp.note(
        property.line,
        `rmiUrls: ${url} gives ${portText === undefined ? 'no port' : `port "${portText}"`}: Ehcache (java.rmi.Naming) dialled ${RMI_REGISTRY_PORT}, the RMI registry's; so does this (the peer's meshcache listener must be on that port)`,
      );
    }
    urls.push({ hostPort: `${host}:${port === 0 ? RMI_REGISTRY_PORT : port}`, cache: cache.trim(), written: url });
  }
  return urls;
}

/**
 * Whether java.net.URI reads `host` as a server's host, which java.rmi.Naming requires: an IPv6
 * literal in brackets, an IPv4 address, or a host name of labels of letters, digits and inner
 * hyphens, the last one starting with a letter when there are several (RFC 2396). `my_host` is
 * none, nor `10.0.0.300`.
 */
export function javaReadsHost(host: string): boolean {
  if (host.startsWith('[')) return true;
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (ipv4 !== null) return ipv4.slice(1).every((part) => Number(part) <= 255);
  const label = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
  if (!new RegExp(`^${label}(?:\\.${label})*\\.?$`).test(host)) return false;
  const labels = host.replace(/\.$/, '').split('.');
  return labels.length === 1 || /^[A-Za-z]/.test(labels[labels.length - 1] as string);
}

export function convertPeerProvider(
  imp: Importer,
  element: XmlElement,
  replicated: ReadonlyMap<string, unknown>,
  /** The caches the config has (<cache> elements and the defaultCache's names), and whether the defaultCache replicates with RMI. */
  file: { readonly caches: ReadonlySet<string>; readonly defaultReplicated: boolean },
): { discovery: Json | undefined; multicast: string | undefined } {
  const discovery: Json = {};
  imp.factoryAttributes(element, '');
  const properties = imp.properties(element);
  const modeProperty = properties.find((p) => p.key === 'peerDiscovery');
  // Ehcache compares with equalsIgnoreCase: peerDiscovery=Manual is manual.
  const given = modeProperty === undefined ? 'automatic' : imp.text('peer provider ', modeProperty, 'peerDiscovery');
  const mode = given?.toLowerCase();
  if (mode !== 'manual' && mode !== 'automatic' && mode !== undefined) {
    imp.fail(modeProperty?.line ?? element.line, `peerDiscovery=${given} must be manual or automatic`);
  }
  let group: string | undefined;
  let port: string | undefined;
  if (mode === 'manual') {
    const byPeer = new Map<string, Set<string>>();
    for (const property of properties) {
      if (property.key === 'peerDiscovery') continue;
      if (property.key !== 'rmiUrls') {
        imp.notConverted(
          property.line,
          `peer provider property ${property.key}=${property.value} has no meaning with peerDiscovery=manual here`,
        );
        continue;
      }
      for (const url of parseRmiUrls(imp, property)) {
        if (!replicated.has(url.cache) && !file.caches.has(url.cache) && file.defaultReplicated) {
          // No <cache> of that name: in Ehcache it was one the code made from the defaultCache
          // (CacheManager.add, a Hibernate region), which replicated to this peer as the template
          // did. meshcache makes no cache from a template, so it is not converted unless named.
          imp.notConverted(
            property.line,
            `rmiUrls: ${url.written} names no <cache> of this file: a cache your code made from the replicated defaultCache replicated to it in Ehcache; meshcache names every cache: add --default-cache ${JSON.stringify(url.cache)} to convert it`,
          );
          continue;
        }
        if (!replicated.has(url.cache) && !file.caches.has(url.cache)) {
          // No cache of that name in the file, and no replicated template: the code made it, and
          // code gives a cache its replicator too (Spring's EhCacheFactoryBean cacheEventListeners,
          // as CAS's ticket registry does). Whether it replicated, the file cannot say; that the
          // file lists a peer for it says it did. Not converted, so the user looks.
          imp.notConverted(
            property.line,
            `rmiUrls: ${url.written} names no cache of this file: in Ehcache it was a cache your code made, and if the code gave it a replicator (Spring's EhCacheFactoryBean cacheEventListeners, say) it replicated to this peer; meshcache names every cache: add ${JSON.stringify(url.cache)} to "caches" with "replication": {} to replicate it`,
          );
          continue;
        }
        if (!replicated.has(url.cache)) {
          imp.note(
            property.line,
            `rmiUrls: ${url.written} names a cache that is not replicated here (Ehcache sent it nothing either); left out`,
          );
          continue;
        }
        const caches = byPeer.get(url.hostPort) ?? new Set<string>();
        caches.add(url.cache);
        byPeer.set(url.hostPort, caches);
      }
    }
    const rmiUrlsLine = properties.find((p) => p.key === 'rmiUrls')?.line ?? element.line;
    const named = new Set([...byPeer.values()].flatMap((caches) => [...caches]));
    for (const cache of replicated.keys()) {
      if (named.has(cache)) continue;
      // Ehcache's manual replication was one-way: a node sent a cache's changes only to the URLs
      // it listed. A meshcache link carries both ways, so a peer that dials this node for the
      // cache gets this node's changes too; the note said they went to no one, as in Ehcache.
      imp.note(
        rmiUrlsLine,
        `cache "${cache}" replicates, but no rmiUrls URL names it: this node dials no peer for it. Ehcache sent its changes to no one; a meshcache link is two-way, so a peer whose rmiUrls name this node and cache receives them (one-way replication is not kept). Name it in rmiUrls (//host:port/${cache}) to dial a peer for it`,
      );
    }
    // A peer listed for every replicated cache is one link for all of them (a URL without a path).
    const peers: string[] = [];
    const add = (peer: string, from: string) => {
      // What meshcache's own check refuses (a host of digits and dots that is not four numbers,
      // a cache named ".."): not converted on its line; it was exit 1, "a bug in the importer".
      const problem = peerUrlProblem(peer);
      if (problem === undefined) peers.push(peer);
      else imp.notConverted(rmiUrlsLine, `rmiUrls: ${from} is not a peer meshcache can dial as ${peer}: ${problem}`);
    };
    for (const [hostPort, caches] of byPeer) {
      if (caches.size === replicated.size) add(`ws://${hostPort}`, `//${hostPort}`);
      else for (const cache of caches) add(`ws://${hostPort}/${encodeURIComponent(cache)}`, `//${hostPort}/${cache}`);
    }
    discovery['mode'] = 'manual';
    discovery['peers'] = peers;
  } else if (mode === 'automatic') {
    discovery['mode'] = 'automatic';
    if (modeProperty === undefined) {
      imp.note(
        element.line,
        'peer provider without peerDiscovery: Ehcache defaults to automatic (multicast); meshcache uses mDNS',
      );
    }
    for (const property of properties) {
      switch (property.key) {
        case 'peerDiscovery':
          break;
        case 'multicastGroupAddress':
          group = imp.text('peer provider ', property, property.key);
          break;
        case 'multicastGroupPort':
          port = String(imp.wholeNumber('peer provider ', property, property.key, 1, 65535) ?? '');
          break;
        case 'timeToLive': {
          const ttl = imp.wholeNumber('peer provider ', property, property.key, 0, 255);
          if (ttl === 0) {
            // Ehcache's 0 kept the heartbeats on this host (tutorials use it for two Tomcats on one
            // machine); mDNS takes 1 to 255, and 0 was written as it was: exit 4, "a bug in the importer".
            // 1 is the narrowest meshcache has, so it is written, and the difference reported.
            discovery['multicastTtl'] = 1;
            imp.notConverted(
              property.line,
              'peer provider timeToLive=0: Ehcache\'s multicast stayed on this host; meshcache\'s mDNS takes 1 to 255, and 1 (written) also reaches the other hosts of this network segment: to keep the cluster on this host, use "mode": "manual" with peers on 127.0.0.1',
            );
          } else if (ttl !== undefined) discovery['multicastTtl'] = ttl;
          break;
        }
        case 'hostName':
        case 'hostname': {
          lowercaseHostName(imp, property);
          const host = imp.text('peer provider ', property, property.key);
          if (host !== undefined && isIPv4(host)) discovery['interface'] = host;
          else if (host !== undefined) {
            imp.notConverted(
              property.line,
              `peer provider hostName=${host}: meshcache's "interface" takes the interface's IPv4 address, not a name: set peerDiscovery.interface to it`,
            );
          }
          break;
        }
        default:
          imp.notConverted(
            property.line,
            `peer provider property ${property.key}=${property.value} has no meaning with peerDiscovery=automatic here`,
          );
      }
    }
    const groupLine = properties.find((p) => p.key === 'multicastGroupAddress')?.line ?? element.line;
    imp.note(
      groupLine,
      `multicast group ${group ?? '(none)'}:${port || '(none)'}: meshcache's automatic discovery is mDNS (224.0.0.251:5353); the cluster name, not the group, keeps clusters apart. Multicast does not cross most cloud networks: consider "mode": "dns"`,
    );
  }
  const multicast = mode === 'automatic' && group !== undefined ? [group, port].filter(Boolean).join('-') : undefined;
  // peerDiscovery given as a ${token}: reported above; no discovery can be written
  return { discovery: mode === undefined ? undefined : discovery, multicast };
}

/**
 * `hostname`, as the API gateway's guide spells it, is taken as `hostName`: Ehcache's property
 * names are case-sensitive, so Ehcache itself ignored it (and listened on its default address),
 * which the note says, since the converted node will not.
 */
export function lowercaseHostName(imp: Importer, property: { readonly key: string; readonly line: number }): void {
  if (property.key !== 'hostname') return;
  imp.note(
    property.line,
    'hostname taken as hostName: Ehcache reads hostName only (its property names are case-sensitive), so it ignored this one',
  );
}

/** What meshcache's own check says of a value (its error's message), or undefined when it takes it. */
export function refusal(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** What meshcache says of a cluster name; undefined when it takes it. */
export const clusterNameProblem = (cluster: string) =>
  refusal(() => resolveClusterConfig({ name: 'import-check', cluster, insecure: true }, {}))?.replace(
    /^option "cluster" /,
    '',
  );

/** What meshcache says of a peer URL in a manual list; undefined when it takes it. */
export const peerUrlProblem = (peer: string) =>
  refusal(() => resolveDiscoveryConfig({ mode: 'manual', peers: [peer] }, 'ws'))?.replace(
    /^option "peerDiscovery\.peers\[0\]" /,
    '',
  );

/** What meshcache says of a cache name; undefined when it takes it. */
export const cacheNameProblem = (name: string) => refusal(() => resolveCacheConfig(name, undefined));

/**
 * What meshcache says of a listener host (a host a URL reads as more than a host: `127.0.0.1/`,
 * which listened on port 80); undefined when it takes it.
 */
export const listenerHostProblem = (host: string) =>
  refusal(() =>
    resolveClusterConfig(
      { name: 'import-check', cluster: 'import-check', insecure: true, peerListener: { hostname: host } },
      {},
    ),
  )?.replace(/^option "peerListener.hostname" /, '');

export function convertPeerListener(imp: Importer, element: XmlElement): Json {
  const listener: Json = {};
  imp.factoryAttributes(element, '');
  for (const property of imp.properties(element)) {
    // RMICacheManagerPeerListenerFactory takes an empty port or socketTimeoutMillis as not given
    // (a free port, its default timeout); it refuses other text, and so does this.
    if ((property.key === 'port' || property.key === 'socketTimeoutMillis') && property.value === '') {
      imp.note(
        property.line,
        `peer listener ${property.key}= is empty: Ehcache took it as not given, and so does this (${
          property.key === 'port' ? 'a free port' : 'meshcache’s default, 2000 ms; Ehcache’s was 120000'
        })`,
      );
      continue;
    }
    switch (property.key) {
      case 'hostName':
      case 'hostname': {
        lowercaseHostName(imp, property);
        const host = imp.text('peer listener ', property, property.key);
        if (host === undefined || host === '') break;
        const problem = listenerHostProblem(host);
        if (problem === undefined) listener['hostname'] = host;
        else imp.notConverted(property.line, `peer listener hostName=${host}: ${problem}`);
        break;
      }
      case 'port': {
        const port = imp.wholeNumber('peer listener ', property, property.key, 0, 65535);
        if (port !== undefined) listener['port'] = port;
        break;
      }
      case 'socketTimeoutMillis': {
        const timeout = imp.wholeNumber('peer listener ', property, property.key, 200, MAX_TIMER_MILLIS);
        if (timeout !== undefined) listener['socketTimeoutMillis'] = timeout;
        break;
      }
      case 'remoteObjectPort':
        imp.notConverted(
          property.line,
          `peer listener remoteObjectPort=${property.value}: an RMI-specific port; meshcache takes every link, and the CLI, on the one listener port`,
        );
        break;
      default:
        imp.notConverted(
          property.line,
          `peer listener property ${property.key}=${property.value} is not an RMICacheManagerPeerListenerFactory property`,
        );
    }
  }
  if (listener['hostname'] === undefined) {
    imp.notConverted(
      element.line,
      'peer listener without hostName: Ehcache listened on this host’s default address; meshcache listens on 127.0.0.1 unless told: set peerListener.hostname to the address peers dial',
    );
  }
  return listener;
}
