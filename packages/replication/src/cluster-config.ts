/**
 * The configuration of a node, as in docs/configuration.md's cluster file: validated field by field,
 * with errors that name the field (`peerListener.port`, `caches.Response Cache.replication.x`)
 * and say what is allowed.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { type CacheConfig, ConfigError, resolveCacheConfig } from '@meshcache/core';
import { diskStorePathProblem, isWellFormed, MAX_TIMER_MILLIS, shownValue } from '@meshcache/core/internal';
import { type DiscoveryConfig, type ResolvedDiscoveryConfig, resolveDiscoveryConfig } from '@meshcache/discovery';
import {
  type BackplaneConfig,
  type ResolvedBackplaneConfig,
  resolveBackplaneConfig,
} from './backplane/backplane-config.js';
import { DEFAULT_MAX_DRIFT_MILLIS } from './hlc.js';
import { fitsHandshake, MAX_NAME_BYTES } from './security/handshake-messages.js';
import { secretFileText } from './security/secret-file.js';
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
  /** Connections that have not authenticated yet, in all; past it new ones are refused. @default 64 */
  maxPendingConnections?: number;
  /** Connections that have not authenticated yet, from one address (an IPv6 /64 counts as one). @default 8 */
  maxPendingPerAddress?: number;
  /**
   * Origins whose WebSocket requests are accepted (a browser sends one; peers and the CLI do not).
   * Any request with an Origin header not listed is refused. @default []
   */
  allowedOrigins?: string[];
}

/** TLS for the listener and for dialling peers (wss://). Paths to PEM files. */
export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** CA that peers' certificates must chain to; the system roots when absent. */
  caFile?: string;
  /** Also require and verify peers' client certificates (mutual TLS). @default false */
  mutual?: boolean;
  /**
   * The name every peer's certificate is checked against when this node dials, instead of the
   * address it dials: for peers found by DNS at their IP addresses, whose certificates name the
   * service (`gateways.prod.svc.cluster.local`) rather than each pod's address. Sent as SNI.
   */
  serverName?: string;
}

/**
 * The operator endpoint `meshcache serve` opens (metrics, health, the live page): an operator
 * port, never the peer port. Off unless configured; ClusterNode.start validates it but opens
 * nothing (an embedder serves metrics with @meshcache/replication/metrics).
 */
export interface HttpEndpointConfig {
  /** Loopback unless said otherwise: the endpoint has no authentication. @default '127.0.0.1' */
  hostname?: string;
  /** 0 picks a free port. @default 9464 */
  port?: number;
}

export type ClusterCacheConfig = CacheConfig & { replication?: ReplicationConfig; bootstrap?: BootstrapConfig };

export interface ClusterConfig {
  name: string;
  cluster: string;
  /**
   * The cluster secret: the one this node dials with, and accepts. At least 32 bytes unless the
   * listener is on loopback. Env MESHCACHE_SECRET when neither this nor secretFile is given.
   */
  secret?: string;
  /** A file holding the cluster secret (a trailing newline is ignored); instead of `secret`. */
  secretFile?: string;
  /** Older cluster secrets still accepted, during a rotation (docs/security.md). @default [] */
  acceptedSecrets?: string[];
  /** Admits admin clients (every operation); once set, the cluster secret admits peers only. */
  adminSecret?: string;
  /** A file holding the admin secret, as `secretFile` holds the cluster's; instead of `adminSecret`. */
  adminSecretFile?: string;
  /** Admits admin clients that only read: peers, stats, get. */
  readOnlySecret?: string;
  /** A file holding the read-only secret; instead of `readOnlySecret`. */
  readOnlySecretFile?: string;
  /** Allow a listener on a non-loopback address without a secret. @default false */
  insecure?: boolean;
  diskStorePath?: string;
  /**
   * How long a removed key remembers its removal's version, so a late, older write from a peer
   * cannot bring it back (docs/configuration.md, "Tombstones"). @default 300
   */
  tombstoneRetentionSeconds?: number;
  /** Most tombstones each cache keeps; past it the oldest is forgotten first. @default 100000 */
  maxTombstones?: number;
  peerListener?: PeerListenerConfig;
  tls?: TlsConfig;
  /** How peers are found: manual list (the default, empty), automatic (mDNS) or dns. */
  peerDiscovery?: DiscoveryConfig;
  /** The operator endpoint of `meshcache serve` (docs/observability.md). Off when absent. */
  http?: HttpEndpointConfig;
  /** Replication through Redis Streams instead of peer links (docs/backplane.md); not with peerDiscovery. */
  backplane?: BackplaneConfig;
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
  readonly acceptedSecrets: readonly string[];
  readonly adminSecret: string | undefined;
  readonly readOnlySecret: string | undefined;
  readonly diskStorePath: string | undefined;
  /** Undefined: CacheManager's default. */
  readonly tombstoneRetentionSeconds: number | undefined;
  readonly maxTombstones: number | undefined;
  readonly hostname: string;
  readonly port: number;
  readonly socketTimeoutMillis: number;
  readonly maxPendingConnections: number;
  readonly maxPendingPerAddress: number;
  readonly allowedOrigins: readonly string[];
  /** The certificate material, read from the files at start; undefined for plain ws://. */
  readonly tls:
    | { cert: Buffer; key: Buffer; ca: Buffer | undefined; mutual: boolean; serverName: string | undefined }
    | undefined;
  readonly discovery: ResolvedDiscoveryConfig;
  /** Undefined when the configuration has no `http`. */
  readonly http: { readonly hostname: string; readonly port: number } | undefined;
  /** Replication through Redis instead of peer links; undefined for the mesh. */
  readonly backplane: ResolvedBackplaneConfig | undefined;
  readonly caches: readonly ResolvedCache[];
}

const TOP_FIELDS = [
  'name',
  'cluster',
  'secret',
  'secretFile',
  'acceptedSecrets',
  'adminSecret',
  'adminSecretFile',
  'readOnlySecret',
  'readOnlySecretFile',
  'insecure',
  'diskStorePath',
  'tombstoneRetentionSeconds',
  'maxTombstones',
  'peerListener',
  'tls',
  'peerDiscovery',
  'http',
  'backplane',
  'caches',
];
const LISTENER_FIELDS = [
  'hostname',
  'port',
  'socketTimeoutMillis',
  'maxPendingConnections',
  'maxPendingPerAddress',
  'allowedOrigins',
];
/** The least a secret must have, in UTF-8 bytes, on a listener that is not loopback. */
export const MIN_SECRET_BYTES = 32;

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

/**
 * What a configuration leaves open off loopback for want of a secret (`"insecure": true` allows
 * it), each said as the warning the node logs once it listens: the flag lets the node start, and an
 * operator reading its log should still see what it exposes. Empty for every other configuration.
 */
export function insecureExposures(config: ResolvedClusterConfig): string[] {
  if (config.secret !== undefined) return [];
  const exposures: string[] = [];
  // A client certificate is asked of every dialler with mutual TLS: the certificate admits, not a secret.
  if (!isLoopback(config.hostname) && config.tls?.mutual !== true) {
    exposures.push(
      `the listener on ${config.hostname} has no secret ("insecure": true): anything that reaches it is admitted, as a peer or as an admin client, and can read, overwrite and clear every cache`,
    );
  }
  if (config.backplane !== undefined && !isLoopback(config.backplane.host)) {
    exposures.push(
      `the backplane on ${config.backplane.host} has no secret ("insecure": true): entries go through Redis unsealed, and any client of that Redis can read them and write changes every node applies`,
    );
  }
  return exposures;
}

function isLoopback(hostname: string): boolean {
  return (
    hostname.toLowerCase() === 'localhost' || hostname === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/**
 * The value given, or the default when the field is absent. Not `??`: a field given as null is a
 * mistake to name (`"mutual": null` read as false switched mutual TLS off without a word), as it
 * is for every cache field.
 */
function given<T>(value: unknown, fallback: T): unknown {
  return value === undefined ? fallback : value;
}

/**
 * A host to listen on: a name or an address, an IPv6 address with or without brackets (taken
 * without). The listener's URL is built around it, so anything a URL would read as something else
 * (`127.0.0.1/x` listened on port 80, `[::1]` or a space threw "Invalid URL" at start) is refused
 * here, naming the field.
 */
function hostField(field: string, value: unknown): string {
  const host = given(value, '127.0.0.1');
  if (typeof host === 'string') {
    const bare = /^\[(.*)\]$/.exec(host)?.[1] ?? host;
    // A zone id (fe80::1%eth0) is an address to Node, but no URL holds one: the listener's threw "Invalid URL".
    if (isIP(bare) !== 0 && !bare.includes('%')) return bare;
    if (/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$/.test(host) && URL.canParse(`ws://${host}:1/`)) return host;
  }
  fail(
    field,
    `must be a host name or address (such as 127.0.0.1, ::1, 0.0.0.0 or node-a.internal; an internationalised name in its xn-- form; an IPv6 address without a zone id), got ${shownValue(host)}`,
  );
}

function wholeNumber(field: string, value: unknown, fallback: number, min: number): number {
  const resolved = given(value, fallback);
  if (typeof resolved !== 'number' || !Number.isInteger(resolved) || resolved < min) {
    fail(field, `must be a whole number >= ${min}, got ${shownValue(resolved)}`);
  }
  return resolved;
}

/** The secrets of a node, each checked; off loopback each must have at least 32 bytes. */
function resolveSecrets(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, loopback: boolean) {
  const { secret, secretFile, acceptedSecrets } = raw;
  const checked = (field: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') fail(field, 'must be a non-empty string');
    // A key is derived from the UTF-8 bytes, where every lone surrogate is U+FFFD: two secrets
    // that differ only there were one key (a read-only secret opened the admin role).
    if (!isWellFormed(value)) fail(field, 'has a lone surrogate (half of a UTF-16 character); secrets are UTF-8');
    if (!loopback && Buffer.byteLength(value) < MIN_SECRET_BYTES) {
      fail(
        field,
        `is ${Buffer.byteLength(value)} bytes; off loopback a secret must have at least ${MIN_SECRET_BYTES} (e.g. openssl rand -base64 32)`,
      );
    }
    return value;
  };
  // Set but empty is a secret that came out empty (`MESHCACHE_SECRET=$(cat a-missing-file)`),
  // not a wish for none: read as unset, it opened a loopback node to anything without a word.
  const fromEnvironment = (value: string | undefined) =>
    value === ''
      ? fail(
          'secret (from MESHCACHE_SECRET)',
          'is empty: put the secret in MESHCACHE_SECRET, or unset it for a node without one (loopback only)',
        )
      : checked('secret (from MESHCACHE_SECRET)', value);
  /**
   * A secret given as `field` or in a file as `field`File (Kubernetes mounts secrets as files, and
   * a secret kept out of the config file is kept out of everything that copies it), checked.
   */
  const secretOf = (field: string): string | undefined => {
    const file = raw[`${field}File`];
    if (file === undefined) return checked(field, raw[field]);
    if (raw[field] !== undefined) fail(field, `and ${field}File are both set; give one`);
    return checked(`${field}File`, readSecretFile(`${field}File`, file));
  };
  const cluster =
    secretFile !== undefined || secret !== undefined ? secretOf('secret') : fromEnvironment(env['MESHCACHE_SECRET']);
  if (acceptedSecrets !== undefined && !Array.isArray(acceptedSecrets)) {
    fail('acceptedSecrets', 'must be a list of older secrets');
  }
  const accepted = ((acceptedSecrets === undefined ? [] : acceptedSecrets) as unknown[]).map(
    (value, i) => checked(`acceptedSecrets[${i}]`, value) as string,
  );
  if (accepted.length > 0 && cluster === undefined) fail('acceptedSecrets', 'needs a secret to dial with');
  const admin = secretOf('adminSecret');
  const readOnly = secretOf('readOnlySecret');
  /** The field a secret came from: an error names the one the config has. */
  const named = (field: string) =>
    raw[field] === undefined && raw[`${field}File`] !== undefined ? `${field}File` : field;
  if ((admin !== undefined || readOnly !== undefined) && cluster === undefined) {
    fail(
      named(admin !== undefined ? 'adminSecret' : 'readOnlySecret'),
      'needs a cluster secret (secret, secretFile or MESHCACHE_SECRET): without one, anything that reaches the listener is admitted as a peer, and a peer can clear every cache',
    );
  }
  const clusterSecrets = [cluster, ...accepted];
  if (admin !== undefined && clusterSecrets.includes(admin)) {
    fail(named('adminSecret'), 'must differ from the cluster secret and acceptedSecrets');
  }
  if (readOnly !== undefined && (clusterSecrets.includes(readOnly) || readOnly === admin)) {
    fail(named('readOnlySecret'), 'must differ from the cluster secret, acceptedSecrets and adminSecret');
  }
  return { secret: cluster, acceptedSecrets: accepted, adminSecret: admin, readOnlySecret: readOnly };
}

/** The secret in the file at `path`, named `field` in every error: UTF-8 text, a trailing newline ignored. */
function readSecretFile(field: string, path: unknown): string {
  if (typeof path !== 'string' || path === '') fail(field, 'must be the path of a file');
  let bytes: Buffer | undefined;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    fail(field, `cannot be read: ${(error as Error).message}`);
  }
  const text = secretFileText(bytes);
  if (text === undefined) {
    fail(
      field,
      `is not UTF-8 text (${path}): a secret is text, compared as UTF-8; write one as text, e.g. openssl rand -base64 32`,
    );
  }
  if (text === '') fail(field, `is empty (${path}): it must hold the secret`);
  return text;
}

function resolveTls(raw: unknown): ResolvedClusterConfig['tls'] {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) fail('tls', 'must be an object: { certFile, keyFile, caFile?, mutual?, serverName? }');
  checkKnown('tls', raw, ['certFile', 'keyFile', 'caFile', 'mutual', 'serverName']);
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
  const mutual = given(raw['mutual'], false);
  if (typeof mutual !== 'boolean') fail('tls.mutual', 'must be true or false');
  const ca = read('caFile', false);
  if (mutual && ca === undefined) fail('tls.caFile', 'is required with mutual TLS (the CA that signs peers)');
  const cert = read('certFile', true) as Buffer;
  const key = read('keyFile', true) as Buffer;
  checkPem(raw, cert, key, ca);
  return { cert, key, ca, mutual, serverName: resolveServerName(raw['serverName']) };
}

/** tls.serverName: a DNS name a certificate can carry (an IP address is not sent as SNI, and is checked as dialled anyway). */
function resolveServerName(raw: unknown): string | undefined {
  if (raw === undefined) return undefined;
  const name = typeof raw === 'string' ? raw.replace(/\.$/, '') : '';
  const label = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
  if (name === '' || name.length > 253 || isIP(name) !== 0 || !name.split('.').every((part) => label.test(part))) {
    fail(
      'tls.serverName',
      `must be a DNS name that peers' certificates carry, such as "gateways.prod.svc.cluster.local" (got ${JSON.stringify(raw)})`,
    );
  }
  return name;
}

/**
 * The files' contents, checked here so that a wrong one is named by its field and path rather than
 * by OpenSSL's "PEM routines::no start line" when the listener starts.
 */
function checkPem(raw: Record<string, unknown>, cert: Buffer, key: Buffer, ca: Buffer | undefined): void {
  const parsed = <T>(field: string, what: string, parse: () => T): T => {
    try {
      return parse();
    } catch (error) {
      return fail(`tls.${field}`, `does not hold ${what} (${String(raw[field])}): ${(error as Error).message}`);
    }
  };
  const certificate = parsed('certFile', 'a PEM certificate', () => new X509Certificate(cert));
  const privateKey = parsed('keyFile', 'a PEM private key', () => createPrivateKey(key));
  if (ca !== undefined) parsed('caFile', 'a PEM certificate', () => new X509Certificate(ca));
  if (!certificate.checkPrivateKey(privateKey)) {
    fail(
      'tls.keyFile',
      `is not the key of tls.certFile's certificate (${String(raw['keyFile'])}, ${String(raw['certFile'])})`,
    );
  }
}

/** The default port of the operator endpoint (the port Prometheus exporters of OpenTelemetry use). */
export const DEFAULT_HTTP_PORT = 9464;

function resolveHttp(raw: unknown, peerPort: number): ResolvedClusterConfig['http'] {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) fail('http', 'must be an object: { hostname?, port? }');
  checkKnown('http', raw, ['hostname', 'port']);
  const hostname = hostField('http.hostname', raw['hostname']);
  const port = given(raw['port'], DEFAULT_HTTP_PORT);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    fail('http.port', `must be a port number from 0 to 65535 (0 = pick one), got ${shownValue(port)}`);
  }
  if (port !== 0 && port === peerPort) {
    fail(
      'http.port',
      `is the peer port (peerListener.port ${peerPort}): the operator endpoint needs a port of its own`,
    );
  }
  return { hostname, port };
}

/** @throws ConfigError naming the field. */
export function resolveClusterConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): ResolvedClusterConfig {
  if (!isObject(raw)) fail('(config)', 'must be an object');
  checkKnown('', raw, TOP_FIELDS);
  const { name, cluster, insecure, diskStorePath, peerListener, tls, peerDiscovery, http, backplane, caches } = raw;
  // Blank is empty: "   " is a name no operator can tell apart from none in a log or `meshcache peers`.
  if (typeof name !== 'string' || name.trim() === '') fail('name', 'must be a non-empty string (this node’s name)');
  if (typeof cluster !== 'string' || cluster.trim() === '') fail('cluster', 'must be a non-empty string');
  for (const [field, value] of [
    ['name', name],
    ['cluster', cluster],
  ] as const) {
    if (!fitsHandshake(value)) {
      fail(field, `must have at most ${MAX_NAME_BYTES} bytes and no control characters: every peer would refuse it`);
    }
  }
  if (insecure !== undefined && typeof insecure !== 'boolean') fail('insecure', 'must be true or false');
  const pathProblem = diskStorePath === undefined ? undefined : diskStorePathProblem(diskStorePath);
  if (pathProblem !== undefined) fail('diskStorePath', pathProblem);
  // Absent, CacheManager's own defaults apply; present, checked here so that `meshcache serve`
  // refuses the file naming the field before anything starts.
  const { tombstoneRetentionSeconds, maxTombstones } = raw;
  if (
    tombstoneRetentionSeconds !== undefined &&
    (typeof tombstoneRetentionSeconds !== 'number' ||
      !Number.isFinite(tombstoneRetentionSeconds) ||
      tombstoneRetentionSeconds < 0)
  ) {
    fail('tombstoneRetentionSeconds', `must be a number of seconds >= 0, got ${shownValue(tombstoneRetentionSeconds)}`);
  }
  if (maxTombstones !== undefined) wholeNumber('maxTombstones', maxTombstones, 1, 1);
  const listener = given(peerListener, {});
  if (!isObject(listener)) fail('peerListener', 'must be an object');
  checkKnown('peerListener', listener, LISTENER_FIELDS);
  const hostname = hostField('peerListener.hostname', listener['hostname']);
  const port = given(listener['port'], 0);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
    fail('peerListener.port', `must be a port number from 0 to 65535 (0 = pick one), got ${shownValue(port)}`);
  }
  const timeout = given(listener['socketTimeoutMillis'], 2000);
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 200 || timeout > MAX_TIMER_MILLIS) {
    fail(
      'peerListener.socketTimeoutMillis',
      `must be a whole number of ms from 200 to ${MAX_TIMER_MILLIS} (a timer's longest), got ${shownValue(timeout)}`,
    );
  }
  const maxPendingConnections = wholeNumber(
    'peerListener.maxPendingConnections',
    listener['maxPendingConnections'],
    64,
    1,
  );
  const maxPendingPerAddress = wholeNumber('peerListener.maxPendingPerAddress', listener['maxPendingPerAddress'], 8, 1);
  const origins = given(listener['allowedOrigins'], []);
  if (!Array.isArray(origins) || !origins.every((origin) => typeof origin === 'string' && origin !== '')) {
    fail('peerListener.allowedOrigins', 'must be a list of origins such as "https://ops.example.com"');
  }
  // Compared with a browser's Origin header as it is sent, so an entry written any other way
  // ("https://ops.example.com/", "ops.example.com", an upper-case host, ":443") matched nothing,
  // and that page's upgrades were refused with 403 without a word about the entry.
  for (const [index, origin] of (origins as string[]).entries()) {
    const url = URL.canParse(origin) ? new URL(origin) : undefined;
    const parsed = url?.origin ?? 'null';
    // A page of another scheme with a host (a browser extension's chrome-extension://ID) sends its
    // origin as the browser spells it, which URL cannot normalise (its origin reads "null"): taken
    // as given. "localhost:3000" parses too, as scheme "localhost:": no host, refused.
    const other = url !== undefined && url.protocol !== 'http:' && url.protocol !== 'https:' && url.host !== '';
    if (origin === 'null' || parsed === origin || other) continue;
    fail(
      `peerListener.allowedOrigins[${index}]`,
      `must be an origin as a browser sends it: scheme://host[:port], lower case, no path or default port (such as "https://ops.example.com"), got ${JSON.stringify(origin)}${parsed === 'null' ? '' : `; did you mean ${JSON.stringify(parsed)}?`}`,
    );
  }
  if (backplane !== undefined && peerDiscovery !== undefined) {
    fail(
      'backplane',
      'and peerDiscovery are both set: a cluster replicates either through peer links (peerDiscovery) or through Redis (backplane); remove one',
    );
  }
  const resolvedBackplane = resolveBackplaneConfig(backplane);
  // The backplane's replay rule holds only while a removal's tombstone outlives the window plus the
  // drift bound (docs/backplane.md): a copied put replayed after its key's tombstone is gone
  // would bring a revoked key back.
  if (resolvedBackplane !== undefined && typeof tombstoneRetentionSeconds === 'number') {
    const least = resolvedBackplane.replayWindowMillis / 1000 + DEFAULT_MAX_DRIFT_MILLIS / 1000;
    if (tombstoneRetentionSeconds < least) {
      fail(
        'tombstoneRetentionSeconds',
        `must be at least ${least} with a backplane (backplane.replayWindowSeconds ${resolvedBackplane.replayWindowMillis / 1000} plus 60 s of clock drift): a removal's tombstone must outlive any entry a replay could bring back; got ${tombstoneRetentionSeconds}`,
      );
    }
  }
  // A secret seals what goes through Redis too: off loopback there, the same 32-byte floor.
  const onLoopback = isLoopback(hostname) && (resolvedBackplane === undefined || isLoopback(resolvedBackplane.host));
  const secrets = resolveSecrets(raw, env, onLoopback);
  const effectiveSecret = secrets.secret;
  if (effectiveSecret === undefined && !isLoopback(hostname) && insecure !== true) {
    fail(
      'secret',
      `is required for a listener on ${hostname} (not loopback); set it, or MESHCACHE_SECRET, or "insecure": true`,
    );
  }
  const resolvedHttp = resolveHttp(http, port);
  if (
    resolvedBackplane !== undefined &&
    effectiveSecret === undefined &&
    !isLoopback(resolvedBackplane.host) &&
    insecure !== true
  ) {
    fail(
      'secret',
      `is required with a backplane on ${resolvedBackplane.host} (not loopback): it seals every entry in Redis; set it, or MESHCACHE_SECRET, or "insecure": true`,
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
      // Checked here, not first at start: `meshcache serve` refuses a bad file naming the field
      // (exit 2) before it opens anything.
      const checked = resolveCacheConfig(cacheName, config);
      if (bootstrap !== undefined && replication === undefined) {
        fail(
          `caches.${cacheName}.bootstrap`,
          'needs "replication": a cache that does not replicate has no peers to bootstrap from (replicated caches bootstrap by default)',
        );
      }
      if ((checked.overflowToDisk || checked.diskPersistent) && diskStorePath === undefined) {
        fail('diskStorePath', `is required: cache "${cacheName}" uses the disk (overflowToDisk or diskPersistent)`);
      }
      cacheList.push({
        name: cacheName,
        config: config as CacheConfig,
        replication: replication === undefined ? undefined : resolveReplicationConfig(cacheName, replication),
        bootstrap: resolveBootstrapConfig(cacheName, bootstrap),
      });
    }
  }
  // A set, not a search of the cache list per peer: a file of 60,000 replicated caches, each named
  // by a peer URL, took 9 s here (peers x caches).
  const replicatedNames = new Set(cacheList.filter((c) => c.replication !== undefined).map((c) => c.name));
  for (const [index, peer] of (discovery.mode === 'manual' ? discovery.peers : []).entries()) {
    if (peer.cache !== undefined && !replicatedNames.has(peer.cache)) {
      fail(
        `peerDiscovery.peers[${index}]`,
        `names cache ${JSON.stringify(peer.cache)}, which is not a replicated cache of this node${
          peer.cache.includes('://')
            ? ': peers are a list, each URL its own entry (Ehcache\'s rmiUrls joined them with "|")'
            : ''
        }`,
      );
    }
  }
  return {
    name,
    cluster,
    ...secrets,
    diskStorePath: diskStorePath as string | undefined,
    tombstoneRetentionSeconds: tombstoneRetentionSeconds as number | undefined,
    maxTombstones: maxTombstones as number | undefined,
    hostname,
    port,
    socketTimeoutMillis: timeout,
    maxPendingConnections,
    maxPendingPerAddress,
    allowedOrigins: origins as string[],
    tls: resolvedTls,
    discovery,
    http: resolvedHttp,
    backplane: resolvedBackplane,
    caches: cacheList,
  };
}
