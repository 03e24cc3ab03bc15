/**
 * The configuration of a node, as in CONTRACT.md's configuration file: validated field by field,
 * with errors that name the field (`peerListener.port`, `caches.Response Cache.replication.x`)
 * and say what is allowed.
 */
import { readFileSync } from 'node:fs';
import { type CacheConfig, ConfigError } from '@meshcache/core';
import { type DiscoveryConfig, type ResolvedDiscoveryConfig, resolveDiscoveryConfig } from '@meshcache/discovery';
import {
  type BootstrapConfig,
  type ReplicationConfig,
  type ResolvedBootstrapConfig,
  type ResolvedReplicationConfig,
  resolveBootstrapConfig,
  resolveReplicationConfig,
} from './settings.js';

export interface PeerListenerConfig {
  /** @default '127.0.0.1' */
  hostname?: string;
  /** 0 picks a free port. @default 0 */
  port?: number;
  /** Handshake and acknowledgement timeout, ms. @default 2000 */
  socketTimeoutMillis?: number;
}

/** TLS for the listener and for dialling peers (wss://). Paths to PEM files. */
export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** CA that peers' certificates must chain to; the system roots when absent. */
  caFile?: string;
  /** Also require and verify peers' client certificates (mutual TLS). @default false */
  mutual?: boolean;
}

export type ClusterCacheConfig = CacheConfig & { replication?: ReplicationConfig; bootstrap?: BootstrapConfig };

export interface ClusterConfig {
  name: string;
  cluster: string;
  /** The cluster secret; env MESHCACHE_SECRET when absent. */
  secret?: string;
  /** Allow a listener on a non-loopback address without a secret. @default false */
  insecure?: boolean;
  diskStorePath?: string;
  peerListener?: PeerListenerConfig;
  tls?: TlsConfig;
  /** How peers are found: manual list (the default, empty), automatic (mDNS) or dns. */
  peerDiscovery?: DiscoveryConfig;
  caches?: Record<string, ClusterCacheConfig>;
}

export interface ResolvedCache {
  readonly name: string;
  readonly config: CacheConfig;
  /** Undefined for a cache that stays local. */
  readonly replication: ResolvedReplicationConfig | undefined;
  readonly bootstrap: ResolvedBootstrapConfig;
}

export interface ResolvedClusterConfig {
  readonly name: string;
  readonly cluster: string;
  readonly secret: string | undefined;
  readonly diskStorePath: string | undefined;
  readonly hostname: string;
  readonly port: number;
  readonly socketTimeoutMillis: number;
  /** The certificate material, read from the files at start; undefined for plain ws://. */
  readonly tls: { cert: Buffer; key: Buffer; ca: Buffer | undefined; mutual: boolean } | undefined;
  readonly discovery: ResolvedDiscoveryConfig;
  readonly caches: readonly ResolvedCache[];
}

const TOP_FIELDS = [
  'name',
  'cluster',
  'secret',
  'insecure',
  'diskStorePath',
  'peerListener',
  'tls',
  'peerDiscovery',
  'caches',
];
const LISTENER_FIELDS = ['hostname', 'port', 'socketTimeoutMillis'];

function fail(field: string, problem: string): never {
  throw new ConfigError(undefined, field, problem);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function checkKnown(where: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const field of Object.keys(value)) {
    if (!known.includes(field))
      fail(where === '' ? field : `${where}.${field}`, `is not an option here; known: ${known.join(', ')}`);
  }
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '::1' || hostname.startsWith('127.');
}

function resolveTls(raw: unknown): ResolvedClusterConfig['tls'] {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) fail('tls', 'must be an object: { certFile, keyFile, caFile?, mutual? }');
  checkKnown('tls', raw, ['certFile', 'keyFile', 'caFile', 'mutual']);
  const read = (field: string, required: boolean): Buffer | undefined => {
    const path = raw[field];
    if (path === undefined && !required) return undefined;
    if (typeof path !== 'string' || path === '') fail(`tls.${field}`, 'must be the path of a PEM file');
    try {
      return readFileSync(path);
    } catch (error) {
      fail(`tls.${field}`, `cannot be read: ${(error as Error).message}`);
    }
  };
  const mutual = raw['mutual'] ?? false;
  if (typeof mutual !== 'boolean') fail('tls.mutual', 'must be true or false');
  const ca = read('caFile', false);
  if (mutual && ca === undefined) fail('tls.caFile', 'is required with mutual TLS (the CA that signs peers)');
  return { cert: read('certFile', true) as Buffer, key: read('keyFile', true) as Buffer, ca, mutual };
}

/** @throws ConfigError naming the field. */
export function resolveClusterConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedClusterConfig {
  if (!isObject(raw)) fail('(config)', 'must be an object');
  checkKnown('', raw, TOP_FIELDS);
  const { name, cluster, secret, insecure, diskStorePath, peerListener, tls, peerDiscovery, caches } = raw;
  if (typeof name !== 'string' || name === '') fail('name', 'must be a non-empty string (this node’s name)');
  if (typeof cluster !== 'string' || cluster === '') fail('cluster', 'must be a non-empty string');
  if (secret !== undefined && (typeof secret !== 'string' || secret === ''))
    fail('secret', 'must be a non-empty string');
  if (insecure !== undefined && typeof insecure !== 'boolean') fail('insecure', 'must be true or false');
  if (diskStorePath !== undefined && (typeof diskStorePath !== 'string' || diskStorePath === '')) {
    fail('diskStorePath', 'must be a non-empty path');
  }
  const listener = peerListener ?? {};
  if (!isObject(listener)) fail('peerListener', 'must be an object');
  checkKnown('peerListener', listener, LISTENER_FIELDS);
  const hostname = listener['hostname'] ?? '127.0.0.1';
  if (typeof hostname !== 'string' || hostname === '') fail('peerListener.hostname', 'must be a host name or address');
  const port = listener['port'] ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    fail('peerListener.port', `must be a port number from 0 to 65535 (0 = pick one), got ${JSON.stringify(port)}`);
  }
  const timeout = listener['socketTimeoutMillis'] ?? 2000;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 200) {
    fail('peerListener.socketTimeoutMillis', `must be a whole number of ms >= 200, got ${JSON.stringify(timeout)}`);
  }
  const effectiveSecret = (secret as string | undefined) ?? (env['MESHCACHE_SECRET'] || undefined);
  if (effectiveSecret === undefined && !isLoopback(hostname) && insecure !== true) {
    fail(
      'secret',
      `is required for a listener on ${hostname} (not loopback); set it, or MESHCACHE_SECRET, or "insecure": true`,
    );
  }
  const resolvedTls = resolveTls(tls);
  const discovery = resolveDiscoveryConfig(peerDiscovery, resolvedTls === undefined ? 'ws' : 'wss');
  const cacheList: ResolvedCache[] = [];
  if (caches !== undefined) {
    if (!isObject(caches)) fail('caches', 'must be an object of cache name to cache options');
    for (const [cacheName, cacheRaw] of Object.entries(caches)) {
      if (!isObject(cacheRaw)) fail(`caches.${cacheName}`, 'must be an object');
      const { replication, bootstrap, ...config } = cacheRaw;
      cacheList.push({
        name: cacheName,
        config: config as CacheConfig,
        replication: replication === undefined ? undefined : resolveReplicationConfig(cacheName, replication),
        bootstrap: resolveBootstrapConfig(cacheName, bootstrap),
      });
    }
  }
  for (const peer of discovery.mode === 'manual' ? discovery.peers : []) {
    if (peer.cache !== undefined && !cacheList.some((c) => c.name === peer.cache && c.replication !== undefined)) {
      fail('peerDiscovery.peers', `names cache "${peer.cache}", which is not a replicated cache of this node`);
    }
  }
  return {
    name,
    cluster,
    secret: effectiveSecret,
    diskStorePath: diskStorePath as string | undefined,
    hostname,
    port,
    socketTimeoutMillis: timeout,
    tls: resolvedTls,
    discovery,
    caches: cacheList,
  };
}
