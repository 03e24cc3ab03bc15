/**
 * `meshcache import-ehcache`, in process (run(argv, io)), on Ehcache 2's own ehcache-failsafe.xml
 * and reference ehcache.xml (fixtures written from the documented format), an API gateway's
 * config with a replicated "Response Cache", a file full of features meshcache does not have,
 * and malformed files. Every produced config must be one meshcache accepts: resolveClusterConfig,
 * and each cache added to a real CacheManager with a disk store.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CacheManager, resolveCacheConfig } from '@meshcache/core';
import { resolveClusterConfig } from '@meshcache/replication';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { importEhcache, run } from '../src/index.js';
import { recordingIo } from './recording-io.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/ehcache/', import.meta.url));
const fixture = (name: string) => join(FIXTURES, name);
const dir = mkdtempSync(join(tmpdir(), 'meshcache-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The line of the first occurrence of `needle` in a fixture (so fixtures can change without renumbering). */
/** An ehcache.xml given inline, converted as a file named inline.xml for node n1, no default-cache names. */
const inline = (xml: string) => importEhcache(xml, { fileName: 'inline.xml', name: 'n1', defaultCacheNames: [] });

/** A file whose RMI peer provider has these properties and this propertySeparator (on line 4). */
const withSeparator = (separator: string, properties: string) =>
  [
    '<ehcache>', // 1
    '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"', // 2
    `    properties="${properties}"`, // 3
    `    propertySeparator="${separator}"/>`, // 4
    '  <cache name="a" maxEntriesLocalHeap="10">',
    '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
    '  </cache>',
    '</ehcache>',
  ].join('\n');

function lineOf(file: string, needle: string): number {
  const text = readFileSync(file.includes('/') ? file : fixture(file), 'utf8');
  const at = text.indexOf(needle);
  if (at === -1) throw new Error(`${needle} is not in ${file}`);
  return text.slice(0, at).split('\n').length;
}

async function cli(args: string[]) {
  const io = recordingIo({});
  const code = await run(args, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

/** The report lines of one kind, as [line, message]. */
function reported(err: string, file: string, kind: 'not converted' | 'note'): Array<[number, string]> {
  const pattern = new RegExp(`^${file.replace('.', '\\.')}:(\\d+): ${kind}: (.*)$`);
  return err.split('\n').flatMap((line) => {
    const match = pattern.exec(line);
    return match === null ? [] : [[Number(match[1]), match[2] ?? ''] as [number, string]];
  });
}

/** meshcache accepts it: the cluster config resolves, and every cache opens in a real CacheManager. */
async function acceptedByMeshcache(config: Record<string, unknown>): Promise<void> {
  const diskStorePath = mkdtempSync(join(dir, 'disk-'));
  const resolved = resolveClusterConfig(
    { ...config, diskStorePath },
    { MESHCACHE_SECRET: 'the secret the user adds, 32 bytes or more' },
  );
  const manager = new CacheManager({ diskStorePath });
  try {
    for (const cache of resolved.caches) manager.addCache(cache.name, cache.config);
  } finally {
    await manager.shutdown();
  }
}

describe('meshcache import-ehcache', () => {
  it('ehcache-failsafe.xml converts completely (exit 0): the defaultCache becomes a cache, java.io.tmpdir this machine’s', async () => {
    const { code, out, err } = await cli(['import-ehcache', fixture('ehcache-failsafe.xml'), '--name', 'gw-1']);
    expect(code).toBe(0);
    const config = JSON.parse(out);
    expect(config).toEqual({
      name: 'gw-1',
      cluster: 'ehcache',
      diskStorePath: join(tmpdir(), 'meshcache-gw-1'),
      caches: {
        default: {
          maxElementsInMemory: 10000,
          eternal: false,
          timeToIdleSeconds: 120,
          timeToLiveSeconds: 120,
          maxElementsOnDisk: 10000000,
          diskExpiryThreadIntervalSeconds: 120,
          memoryStoreEvictionPolicy: 'LRU',
          overflowToDisk: true,
        },
      },
    });
    expect(reported(err, 'ehcache-failsafe.xml', 'not converted')).toEqual([]);
    expect(reported(err, 'ehcache-failsafe.xml', 'note')).toEqual([
      [1, expect.stringMatching(/^cluster "ehcache" \(no name in the file\)/)],
      [
        lineOf('ehcache-failsafe.xml', '<diskStore'),
        `diskStore path="java.io.tmpdir" becomes "${join(tmpdir(), 'meshcache-gw-1')}" (a directory of its own in java.io.tmpdir on this machine); give every node on one host its own diskStorePath`,
      ],
      [
        lineOf('ehcache-failsafe.xml', '<defaultCache'),
        expect.stringMatching(/^defaultCache written as "default": meshcache creates no cache from a template/),
      ],
      [
        lineOf('ehcache-failsafe.xml', 'maxElementsOnDisk'),
        expect.stringMatching(
          /maxElementsOnDisk="10000000": a bounded disk tier keeps its write order in memory, about 100 bytes a key \(~1,000 MB at this bound\)/,
        ),
      ],
    ]);
    expect(err).toContain('meshcache: no secret was written: before serving, add "secretFile"');
    expect(err).not.toContain('no "name" was written');
    expect(err.trim().split('\n').at(-1)).toBe(
      'meshcache: ehcache-failsafe.xml: 1 cache (0 replicated); everything converted',
    );
    await acceptedByMeshcache(config);
  });

  it('Ehcache 2’s reference ehcache.xml: every cache converted, multicast becomes mDNS, three things reported as not converted (exit 3)', async () => {
    const { code, out, err } = await cli(['import-ehcache', fixture('ehcache.xml'), '--name', 'gw-1']);
    expect(code).toBe(3);
    const config = JSON.parse(out);
    expect(config.cluster).toBe('ehcache-230.0.0.1-4446');
    expect(config.peerDiscovery).toEqual({ mode: 'automatic', multicastTtl: 1 });
    expect(config.peerListener).toBeUndefined();
    expect(Object.keys(config.caches)).toEqual([
      'sampleCache1',
      'sampleCache2',
      'sampleCache3',
      'sampleReplicatedCache1',
      'sampleRepicatedCache2',
      'sampleReplicatedCache3',
      'default',
    ]);
    expect(config.caches.sampleCache1).toEqual({
      maxElementsInMemory: 10000,
      maxElementsOnDisk: 1000,
      eternal: false,
      diskSpoolBufferSizeMB: 20,
      timeToIdleSeconds: 300,
      timeToLiveSeconds: 600,
      memoryStoreEvictionPolicy: 'LFU',
      overflowToDisk: true,
    });
    expect(config.caches.sampleCache3).toMatchObject({
      overflowToDisk: true,
      diskPersistent: true,
      diskExpiryThreadIntervalSeconds: 1,
    });
    expect(config.caches.sampleReplicatedCache1).toMatchObject({
      replication: { replicateExpiries: false },
      bootstrap: {},
    });
    expect(config.caches.sampleRepicatedCache2.replication).toEqual({
      replicateAsynchronously: false,
      replicatePuts: false,
      replicatePutsViaCopy: false,
      replicateUpdates: true,
      replicateUpdatesViaCopy: true,
      replicateRemovals: false,
      replicateExpiries: false,
    });
    expect(config.caches.sampleReplicatedCache3.replication).toEqual({
      asynchronousReplicationIntervalMillis: 200,
      replicateExpiries: false,
    });
    expect(reported(err, 'ehcache.xml', 'not converted')).toEqual([
      [
        lineOf('ehcache.xml', 'dynamicConfig="true"'),
        expect.stringMatching(/^<ehcache dynamicConfig="true">: meshcache fixes a cache’s settings/),
      ],
      [
        lineOf('ehcache.xml', '<transactionManagerLookup'),
        '<transactionManagerLookup>: meshcache has no transactions (JTA/XA)',
      ],
      [
        lineOf('ehcache.xml', '<cacheManagerPeerListenerFactory'),
        expect.stringMatching(
          /^peer listener without hostName: .* set peerListener.hostname to the address peers dial$/,
        ),
      ],
    ]);
    const notes = reported(err, 'ehcache.xml', 'note').map(([line, message]) => `${line} ${message}`);
    for (const [needle, message] of [
      ['updateCheck="true"', /<ehcache updateCheck="true">: meshcache never checks for updates/],
      ['monitoring="autodetect"', /<ehcache monitoring="autodetect">: Terracotta monitoring/],
      ['<cacheManagerEventListenerFactory', /cacheManagerEventListenerFactory without a class: no listener/],
      ['multicastGroupAddress', /multicast group 230\.0\.0\.1:4446: meshcache's automatic discovery is mDNS/],
      ['transactionalMode="off"', /cache "sampleCache1": transactionalMode="off": meshcache has no transactions/],
    ] as const) {
      expect(notes).toContainEqual(
        expect.stringMatching(new RegExp(`^${lineOf('ehcache.xml', needle)} ${message.source}`)),
      );
    }
    expect(err.trim().split('\n').at(-1)).toBe(
      'meshcache: ehcache.xml: 7 caches (3 replicated); 3 items not converted (listed above)',
    );
    await acceptedByMeshcache(config);
  });

  it('an API gateway’s config: the replicated "Response Cache", RMI peers as URLs, the listener, bootstrap; complete (exit 0)', async () => {
    const out = join(dir, 'gw-1.json');
    const result = await cli(['import-ehcache', fixture('api-gateway.xml'), '--name', 'gw-1', '--out', out]);
    expect(result.code).toBe(0);
    expect(result.out).toBe('');
    expect(reported(result.err, 'api-gateway.xml', 'not converted')).toEqual([]);
    expect(result.err).toContain('meshcache: api-gateway.xml: 4 caches (2 replicated), written to');
    const config = JSON.parse(readFileSync(out, 'utf8'));
    expect(config).toEqual({
      name: 'gw-1',
      cluster: 'gateways',
      diskStorePath: '/var/lib/gateway/cache',
      peerListener: { hostname: 'gw-1.internal', port: 40001, socketTimeoutMillis: 2000 },
      // gw-2 is listed for both replicated caches: one link for all; gw-3 for the Response Cache only
      peerDiscovery: {
        mode: 'manual',
        peers: ['ws://gw-2.internal:40001', 'ws://gw-3.internal:40001/Response%20Cache'],
      },
      caches: {
        'Response Cache': {
          maxElementsInMemory: 10000,
          maxElementsOnDisk: 0,
          eternal: false,
          overflowToDisk: false,
          timeToIdleSeconds: 0,
          timeToLiveSeconds: 300,
          diskPersistent: false,
          diskExpiryThreadIntervalSeconds: 120,
          diskSpoolBufferSizeMB: 30,
          memoryStoreEvictionPolicy: 'LRU',
          replication: {
            replicatePuts: true,
            replicateUpdates: true,
            replicateRemovals: true,
            replicateAsynchronously: true,
            replicateUpdatesViaCopy: true,
            asynchronousReplicationIntervalMillis: 1000,
            replicateExpiries: false,
          },
          bootstrap: { bootstrapAsynchronously: true, maximumChunkSizeBytes: 5000000 },
        },
        'OAuth Tokens': {
          maxElementsInMemory: 1000,
          eternal: false,
          overflowToDisk: true,
          diskPersistent: true,
          timeToLiveSeconds: 3300,
          memoryStoreEvictionPolicy: 'LFU',
          replication: { replicateAsynchronously: false, replicatePutsViaCopy: true, replicateExpiries: false },
          bootstrap: { bootstrapAsynchronously: false },
        },
        'Rate Limits': {
          maxElementsInMemory: 50000,
          eternal: false,
          timeToIdleSeconds: 60,
          memoryStoreEvictionPolicy: 'FIFO',
        },
        default: {
          maxElementsInMemory: 1000,
          eternal: false,
          timeToLiveSeconds: 60,
          overflowToDisk: false,
          memoryStoreEvictionPolicy: 'LRU',
        },
      },
    });
    await acceptedByMeshcache(config);

    const again = await cli(['import-ehcache', fixture('api-gateway.xml'), '--name', 'gw-1', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.err).toBe(`meshcache: cannot write ${out}: it exists (--force to replace it)\n`);
    const forced = await cli(['import-ehcache', fixture('api-gateway.xml'), '--name', 'gw-9', '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8')).name).toBe('gw-9');
  });

  it('reports everything meshcache does not have, each on its own line; the rest still converts (exit 3)', async () => {
    const file = 'legacy-features.xml';
    const { code, out, err } = await cli(['import-ehcache', fixture(file), '--name', 'app-1']);
    expect(code).toBe(3);
    const missing = reported(err, file, 'not converted');
    const expected: Array<[string, RegExp]> = [
      [
        'maxBytesLocalHeap="400M"',
        /^<ehcache maxBytesLocalHeap="400M">: meshcache has no pool of bytes shared by caches/,
      ],
      [
        'defaultTransactionTimeoutInSeconds',
        /^<ehcache defaultTransactionTimeoutInSeconds="15">: meshcache has no transactions$/,
      ],
      [
        '<diskStore',
        /^diskStore path="ehcache.disk.store.dir\/legacy": ehcache.disk.store.dir is a Java system property/,
      ],
      [
        'JGroupsCacheManagerPeerProviderFactory',
        /^cacheManagerPeerProviderFactory .*JGroupsCacheManagerPeerProviderFactory: .* not JGroups$/,
      ],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Ehcache's own token syntax, as written in the file
      ['port=${rmi.port}', /^peer listener port="\$\{rmi.port\}": an Ehcache system-property token/],
      ['remoteObjectPort', /^peer listener remoteObjectPort=40002: an RMI-specific port/],
      ['<terracottaConfig', /^<terracottaConfig>: meshcache has no Terracotta server/],
      [
        'memoryStoreEvictionPolicy="CLOCK"',
        /^cache "orders": memoryStoreEvictionPolicy="CLOCK": meshcache has no CLOCK policy/,
      ],
      ['copyOnRead="true"', /^cache "orders": copyOnRead="true": meshcache never copies values/],
      [
        'replicateOnlyOnTuesdays',
        /^cache "orders": replicator property replicateOnlyOnTuesdays=true is not an RMICacheReplicatorFactory property$/,
      ],
      [
        'AuditListenerFactory',
        /^cache "orders": cacheEventListenerFactory com.example.AuditListenerFactory: meshcache takes listeners in code/,
      ],
      ['<searchable', /^cache "orders": <searchable>: meshcache has no search/],
      [
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Ehcache's own token syntax, as written in the file
        'timeToIdleSeconds="${idle}"',
        /^cache "customers": timeToIdleSeconds="\$\{idle\}": an Ehcache system-property token/,
      ],
      [
        'JGroupsCacheReplicatorFactory',
        /^cache "customers": cacheEventListenerFactory .*JGroupsCacheReplicatorFactory: meshcache replicates over its own links/,
      ],
      ['<terracotta/>', /^cache "customers": <terracotta>: meshcache has no Terracotta server/],
      ['<cacheWriter', /^cache "customers": <cacheWriter>: meshcache has no write-through or write-behind/],
      ['<cacheLoaderFactory', /^cache "customers": <cacheLoaderFactory>: .*getOrLoad/],
      [
        'flavour="vanilla"',
        /^cache "reports": flavour="vanilla" is not an Ehcache 2 cache attribute this importer knows$/,
      ],
      [
        'synchronousWrites="true"',
        /^cache "reports": synchronousWrites="true": meshcache commits disk writes once per event-loop turn/,
      ],
      ['<hibernateRegionFactory', /^<hibernateRegionFactory>: not an Ehcache 2 element this importer knows$/],
    ];
    expect(missing).toHaveLength(expected.length);
    for (const [needle, message] of expected) {
      expect(missing).toContainEqual([lineOf(file, needle), expect.stringMatching(message)]);
    }
    const notes = reported(err, file, 'note');
    for (const [needle, message] of [
      ['maxEntriesLocalHeap="200"', /both maxElementsInMemory and maxEntriesLocalHeap: Ehcache takes the later/],
      ['copyOnWrite="false"', /copyOnWrite="false": meshcache never copies values$/],
      [
        'asynchronousReplicationIntervalMillis=5',
        /asynchronousReplicationIntervalMillis=5: Ehcache replaces a value under 10 with 1000/,
      ],
      ['maximumChunkSizeBytes=100', /maximumChunkSizeBytes=100: Ehcache replaces a value outside 5000\.\.100000000/],
      ['//app-2:40001/customers', /\/\/app-2:40001\/customers names a cache that is not replicated here/],
      ['eternal="true"', /eternal="true" with a TTL or TTI: Ehcache ignores both/],
      ['localRestartable', /persistence "localRestartable" becomes overflowToDisk and diskPersistent/],
      ['<diskStore', /the diskStore path could not be converted: ".+" for now/],
    ] as const) {
      expect(notes).toContainEqual([lineOf(file, needle), expect.stringMatching(message)]);
    }
    const config = JSON.parse(out);
    expect(config.caches.orders).toEqual({
      maxElementsInMemory: 200,
      timeToLiveSeconds: 600,
      replication: { replicateExpiries: false },
      bootstrap: {},
    });
    expect(config.caches.customers).toEqual({ eternal: true, maxBytesLocalHeap: '10m' });
    expect(config.caches.reports).toMatchObject({ overflowToDisk: true, diskPersistent: true });
    expect(config.peerListener).toEqual({ hostname: 'app-1' });
    // every replicated cache is listed for app-2 (customers is not replicated here): one link for all
    expect(config.peerDiscovery).toEqual({ mode: 'manual', peers: ['ws://app-2:40001'] });
    await acceptedByMeshcache(config);
  });

  it('--cluster, --default-cache (repeatable) and --no-default-cache; without --name the config has none and stderr says so', async () => {
    const named = await cli([
      'import-ehcache',
      fixture('api-gateway.xml'),
      '--cluster',
      'edge',
      '--default-cache',
      'Partner Cache',
      '--default-cache',
      'Quota Cache',
    ]);
    expect(named.code).toBe(0);
    const config = JSON.parse(named.out);
    expect(config.name).toBeUndefined();
    expect(config.cluster).toBe('edge');
    expect(Object.keys(config.caches)).toEqual([
      'Response Cache',
      'OAuth Tokens',
      'Rate Limits',
      'Partner Cache',
      'Quota Cache',
    ]);
    expect(config.caches['Quota Cache']).toEqual(config.caches['Partner Cache']);
    expect(named.err).toContain(
      'meshcache: no "name" was written: every node needs its own (--name gw-1, or add "name")',
    );
    expect(named.err).not.toContain('note: cluster');

    // A file without a <defaultCache>: a name asked for is said to be missing (it was left out in silence, exit 0).
    const nothingToCopy = join(dir, 'no-default.xml');
    writeFileSync(nothingToCopy, '<ehcache name="x">\n  <cache name="c" maxEntriesLocalHeap="1"/>\n</ehcache>');
    const asked = await cli(['import-ehcache', nothingToCopy, '--name', 'n1', '--default-cache', 'orders']);
    expect(asked.code).toBe(3);
    expect(asked.err).toContain(
      'no-default.xml:1: not converted: --default-cache "orders": the file has no <defaultCache> to write it from, so the config has no such cache; give it its settings in "caches"\n',
    );
    expect(Object.keys(JSON.parse(asked.out).caches)).toEqual(['c']);
    expect((await cli(['import-ehcache', nothingToCopy, '--name', 'n1'])).code).toBe(0);
    const without = await cli(['import-ehcache', fixture('api-gateway.xml'), '--no-default-cache']);
    expect(Object.keys(JSON.parse(without.out).caches)).toEqual(['Response Cache', 'OAuth Tokens', 'Rate Limits']);
    expect(without.err).toMatch(/note: defaultCache: left out \(no --default-cache name\)/);

    const clash = await cli(['import-ehcache', fixture('api-gateway.xml'), '--default-cache', 'Rate Limits']);
    expect(clash.code).toBe(2);
    expect(clash.err).toMatch(
      /^meshcache: api-gateway\.xml:\d+: defaultCache: a cache named "Rate Limits" exists already/,
    );
  });

  it('a file that cannot be used is exit 2 with one line naming the file, the line and what is wrong; nothing is written', async () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        'unclosed.xml',
        '<ehcache>\n  <cache name="a">\n</ehcache>\n',
        /^meshcache: unclosed\.xml:3:\d+: unexpected close tag\. \(not well-formed XML\)$/,
      ],
      [
        'attr.xml',
        '<ehcache>\n  <cache name="a" name="b"/>\n</ehcache>',
        /^meshcache: attr\.xml:2:\d+: duplicate attribute: name\. \(not well-formed XML\)$/,
      ],
      ['empty.xml', '', /^meshcache: empty\.xml:1:0: document must contain a root element\. \(not well-formed XML\)$/],
      [
        'entity.xml',
        '<?xml version="1.0"?>\n<!DOCTYPE ehcache [<!ENTITY ttl "60"><!ENTITY lol "&ttl;&ttl;&ttl;">]>\n<ehcache>\n  <cache name="a" timeToLiveSeconds="&lol;"/>\n</ehcache>',
        /^meshcache: entity\.xml:4:\d+: undefined entity.*Entities declared in the DOCTYPE are not read .*write their text in place/,
      ],
      [
        'xxe.xml',
        '<?xml version="1.0"?>\n<!DOCTYPE ehcache [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n<ehcache>\n  <cache name="&secret;"/>\n</ehcache>',
        /^meshcache: xxe\.xml:4:\d+: undefined entity.*are not read \(nor any DTD: no external files/,
      ],
      [
        'ttl.xml',
        '<ehcache>\n\n  <cache name="a"\n         timeToLiveSeconds="ten"/>\n</ehcache>',
        /^meshcache: ttl\.xml:4: cache "a": timeToLiveSeconds="ten" must be a whole number$/,
      ],
      [
        'negative.xml',
        '<ehcache>\n  <defaultCache timeToIdleSeconds="-1"/>\n</ehcache>',
        /^meshcache: negative\.xml:2: defaultCache: timeToIdleSeconds="-1" must be >= 0$/,
      ],
      [
        'bool.xml',
        '<ehcache>\n  <cache name="a" eternal="yes"/>\n</ehcache>',
        /^meshcache: bool\.xml:2: cache "a": eternal="yes" must be true or false \(Ehcache 2\.4 and later refuse any other word; 2\.3 and earlier read it as false: write false if that is what ran\)$/,
      ],
      [
        'root.xml',
        '<beans>\n</beans>',
        /^meshcache: root\.xml:1: the root element is <beans>, not <ehcache>: not an Ehcache 2 configuration$/,
      ],
      [
        'v3.xml',
        '<?xml version="1.0"?>\n<config xmlns="http://www.ehcache.org/v3"/>',
        /^meshcache: v3\.xml:2: <config> is an Ehcache 3 configuration/,
      ],
      [
        'twice.xml',
        '<ehcache>\n  <cache name="a"/>\n  <cache name="a"/>\n</ehcache>',
        /^meshcache: twice\.xml:3: a second cache named "a": Ehcache refuses this$/,
      ],
      [
        'disks.xml',
        '<ehcache>\n  <diskStore path="/var/a"/>\n  <diskStore path="/var/b"/>\n</ehcache>',
        /^meshcache: disks\.xml:3: a second diskStore: Ehcache allows one$/,
      ],
      [
        'noname.xml',
        '<ehcache>\n  <cache maxElementsInMemory="1"/>\n</ehcache>',
        /^meshcache: noname\.xml:2: <cache> needs a name$/,
      ],
      [
        'url.xml',
        '<ehcache>\n  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"\n    properties="peerDiscovery=manual,\n      rmiUrls=server2/a"/>\n</ehcache>',
        /^meshcache: url\.xml:4: rmiUrls: "server2\/a" is not an RMI URL \/\/host:port\/cacheName \(or rmi:\/\/host:port\/cacheName; a port left out is 1099\)$/,
      ],
      [
        'both.xml',
        '<ehcache>\n  <diskStore path="/tmp"/>\n  <cache name="a" overflowToDisk="true">\n    <persistence strategy="localTempSwap"/>\n  </cache>\n</ehcache>',
        /^meshcache: both\.xml:4: cache "a": <persistence> and overflowToDisk together: Ehcache refuses this; keep one$/,
      ],
      [
        'heap-bytes.xml',
        '<ehcache>\n  <cache name="a" maxBytesLocalHeap="10M" maxElementsInMemory="5"/>\n</ehcache>',
        /^meshcache: heap-bytes\.xml:2: cache "a": maxElementsInMemory and maxBytesLocalHeap together: Ehcache refuses this/,
      ],
      [
        'heap.xml',
        '<ehcache>\n  <cache name="a" maxEntriesLocalHeap="10"\n    maxBytesLocalHeap="10M"/>\n</ehcache>',
        /^meshcache: heap\.xml:3: cache "a": maxEntriesLocalHeap and maxBytesLocalHeap together: Ehcache refuses this \(a cache's heap is sized by entries or by bytes\); keep one$/,
      ],
      [
        'timeout.xml',
        '<ehcache>\n  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory"\n    properties="hostName=10.0.0.1, socketTimeoutMillis=50"/>\n</ehcache>',
        /^meshcache: timeout\.xml:3: peer listener socketTimeoutMillis="50" must be >= 200$/,
      ],
    ];
    for (const [name, text, message] of cases) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const out = join(dir, `${name}.json`);
      const result = await cli(['import-ehcache', file, '--out', out]);
      expect({ name, code: result.code }).toEqual({ name, code: 2 });
      expect(result.err.trim().split('\n')).toEqual([expect.stringMatching(message)]);
      expect(existsSync(out)).toBe(false);
    }
    const absent = await cli(['import-ehcache', join(dir, 'nothing-here.xml')]);
    expect(absent.code).toBe(2);
    expect(absent.err).toMatch(/^meshcache: cannot read .*nothing-here\.xml: ENOENT/);
    expect((await cli(['import-ehcache'])).code).toBe(2);
    expect((await cli(['import-ehcache', fixture('api-gateway.xml'), '--name', ' '])).err).toBe(
      'meshcache: --name must not be empty\n',
    );
    // What serve would refuse is bad usage here, named by its option: not written, not blamed on the importer.
    for (const [args, message] of [
      [['--default-cache', ''], /^meshcache: --default-cache must not be empty/],
      // Both, in either order: the one after the other crashed (a stack trace, exit 1), or won in silence.
      [
        ['--no-default-cache', '--default-cache', 'x'],
        /^meshcache: give --default-cache NAME or --no-default-cache, not both\n$/,
      ],
      [
        ['--default-cache', 'x', '--no-default-cache'],
        /^meshcache: give --default-cache NAME or --no-default-cache, not both\n$/,
      ],
      // Said as given twice, not as a cache of the file that "exists already".
      [['--default-cache', 'x', '--default-cache', 'x'], /^meshcache: --default-cache "x" is given twice\n$/],
      [
        ['--name', 'gw\u001b[31m'],
        /^meshcache: --name: option "name" must have at most 256 bytes and no control characters/,
      ],
      [['--name', 'x'.repeat(300)], /^meshcache: --name: option "name"/],
      [['--cluster', 'c'.repeat(300)], /^meshcache: --cluster: option "cluster"/],
    ] as const) {
      const result = await cli(['import-ehcache', fixture('ehcache-failsafe.xml'), ...args]);
      expect(result.code).toBe(2);
      expect(result.out).toBe('');
      expect(result.err).toMatch(message);
    }
    const intoDirectory = await cli(['import-ehcache', fixture('ehcache-failsafe.xml'), '--out', dir]);
    expect(intoDirectory.code).toBe(1);
    expect(intoDirectory.err).toBe(
      `meshcache: cannot write ${dir}: it is a directory (--out names the file to write)\n`,
    );
  });

  it('reads a replicator or bootstrap boolean property as Ehcache did: anything but true (any case) is false, with a note (it was exit 2); a boolean attribute stays exit 2', () => {
    const xml = [
      '<ehcache>',
      '  <cache name="a" maxEntriesLocalHeap="10">',
      '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"',
      '      properties="replicatePuts=yes, replicateUpdates=TRUE, replicateRemovals=1,',
      '                  replicateAsynchronously=, replicatePutsViaCopy=False"/>',
      '    <bootstrapCacheLoaderFactory class="net.sf.ehcache.distribution.RMIBootstrapCacheLoaderFactory"',
      '      properties="bootstrapAsynchronously=no"/>',
      '  </cache>',
      '</ehcache>',
    ].join('\n');
    const result = importEhcache(xml, { fileName: 'lenient.xml', defaultCacheNames: [] });
    expect((result.config['caches'] as Record<string, unknown>)['a']).toEqual({
      maxElementsInMemory: 10,
      replication: {
        replicatePuts: false,
        replicateUpdates: true,
        replicateRemovals: false,
        replicateAsynchronously: false,
        replicatePutsViaCopy: false,
        replicateExpiries: false,
      },
      bootstrap: { bootstrapAsynchronously: false },
    });
    const notes = result.report.filter((line) => line.message.includes('PropertyUtil.parseBoolean'));
    expect(notes.map((line) => [line.line, line.message])).toEqual([
      [
        4,
        'cache "a": replicatePuts=yes: Ehcache reads anything but true as false (PropertyUtil.parseBoolean), and ran with false; so does this',
      ],
      [
        4,
        'cache "a": replicateRemovals=1: Ehcache reads anything but true as false (PropertyUtil.parseBoolean), and ran with false; so does this',
      ],
      [
        5,
        'cache "a": replicateAsynchronously=: Ehcache reads anything but true as false (PropertyUtil.parseBoolean), and ran with false; so does this',
      ],
      [
        7,
        'cache "a": bootstrapAsynchronously=no: Ehcache reads anything but true as false (PropertyUtil.parseBoolean), and ran with false; so does this',
      ],
    ]);
    expect(() =>
      importEhcache('<ehcache>\n  <cache name="a" maxEntriesLocalHeap="1" overflowToDisk="yes"/>\n</ehcache>'),
    ).toThrow(/^ehcache\.xml:2: cache "a": overflowToDisk="yes" must be true or false \(Ehcache 2\.4 and later refuse/);
  });

  it('notes text between an element’s tags on its line, at any depth: Ehcache ignores it, and the rest converts (it was left out in silence)', () => {
    const xml = [
      '<ehcache>', // 1
      '  <cache name="a" maxEntriesLocalHeap="10">maxEntriesLocalHeap=100</cache>', // 2
      '  <cache name="b" maxEntriesLocalHeap="10">', // 3
      '    <!-- a comment is not text -->', // 4
      '', // 5
      '    <![CDATA[timeToLiveSeconds=60]]>', // 6
      '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory">', // 7
      `      ${'x'.repeat(70)}`, // 8
      '    </cacheEventListenerFactory>', // 9
      '  </cache>', // 10
      '  stray &amp; words', // 11
      '  <terracottaConfig><tc-config><servers>text Terracotta reads</servers></tc-config></terracottaConfig>', // 12
      '</ehcache>', // 13
    ].join('\n');
    const result = importEhcache(xml, { fileName: 'text.xml', defaultCacheNames: [] });
    const notes = result.report.filter((line) => line.message.startsWith('text inside'));
    expect(notes).toEqual([
      {
        line: 2,
        kind: 'note',
        message:
          'text inside <cache>, "maxEntriesLocalHeap=100": Ehcache ignores text between tags (it reads attributes and elements), and so does this',
      },
      {
        line: 6,
        kind: 'note',
        message:
          'text inside <cache>, "timeToLiveSeconds=60": Ehcache ignores text between tags (it reads attributes and elements), and so does this',
      },
      {
        line: 8,
        kind: 'note',
        message: `text inside <cacheEventListenerFactory>, "${'x'.repeat(60)}...": Ehcache ignores text between tags (it reads attributes and elements), and so does this`,
      },
      {
        line: 11,
        kind: 'note',
        message:
          'text inside <ehcache>, "stray & words": Ehcache ignores text between tags (it reads attributes and elements), and so does this',
      },
    ]);
    expect(result.config['caches']).toEqual({
      a: { maxElementsInMemory: 10 },
      b: { maxElementsInMemory: 10, replication: { replicateExpiries: false } },
    });
    // Not converted: the replicated cache's missing peer provider, and the Terracotta config; no text.
    expect(result.report.filter((line) => line.kind === 'not converted').map((line) => line.line)).toEqual([7, 12]);
  });

  it('reports an element nested in one that takes none (a factory, <diskStore>, <persistence>): it was dropped without a line', () => {
    const xml = [
      '<ehcache>', // 1
      '  <diskStore path="java.io.tmpdir"><path>/var/cache</path></diskStore>', // 2
      '  <cache name="a" maxEntriesLocalHeap="10">', // 3
      '    <persistence strategy="localTempSwap">', // 4
      '      <synchronousWrites/>', // 5
      '    </persistence>', // 6
      '    <cacheEventListenerFactory class="com.example.Listener">', // 7
      '      <properties>key=value</properties>', // 8
      '    </cacheEventListenerFactory>', // 9
      '  </cache>', // 10
      '</ehcache>', // 11
    ].join('\n');
    const result = importEhcache(xml, { fileName: 'nested.xml', defaultCacheNames: [] });
    const nested = result.report.filter((line) => line.kind === 'not converted' && line.message.includes(' inside <'));
    expect(nested.map((line) => [line.line, line.kind, line.message])).toEqual([
      [
        2,
        'not converted',
        "<path> inside <diskStore>: Ehcache's <diskStore> takes its settings as attributes and no nested elements; left out",
      ],
      [
        5,
        'not converted',
        "<synchronousWrites> inside <persistence>: Ehcache's <persistence> takes its settings as attributes and no nested elements; left out",
      ],
      [
        8,
        'not converted',
        "<properties> inside <cacheEventListenerFactory>: Ehcache's <cacheEventListenerFactory> takes its settings as attributes and no nested elements; left out",
      ],
    ]);
    expect(result.complete).toBe(false);
  });

  it('says an internal failure is a bug in the importer, with its own exit code (4), and writes nothing (it was exit 1, documented as "the output cannot be written")', async () => {
    vi.resetModules();
    vi.doMock('../src/ehcache/import-ehcache.js', async (original) => ({
      ...(await original<typeof import('../src/ehcache/import-ehcache.js')>()),
      importEhcache: () => {
        throw new TypeError("Cannot read properties of undefined (reading 'line')");
      },
    }));
    try {
      const fresh = await import('../src/index.js');
      const out = join(dir, 'internal.json');
      const io = recordingIo({});
      const code = await fresh.run(['import-ehcache', fixture('ehcache-failsafe.xml'), '--out', out], io);
      expect(code).toBe(4);
      expect(io.stdout()).toBe('');
      expect(existsSync(out)).toBe(false);
      const [first, second] = io.stderr().split('\n');
      expect(first).toBe(
        `meshcache: internal error: import-ehcache failed on ${fixture('ehcache-failsafe.xml')} (a bug in the importer, not a fault of the file; nothing was written): Cannot read properties of undefined (reading 'line')`,
      );
      expect(second).toBe('meshcache: please report it with this stack:');
      expect(io.stderr()).toContain('TypeError: Cannot read properties of undefined');
    } finally {
      vi.doUnmock('../src/ehcache/import-ehcache.js');
      vi.resetModules();
    }
  });

  it('refuses an --out that is the file being converted, with --force too, by any path to it (exit 2; it replaced the ehcache.xml)', async () => {
    const own = mkdtempSync(join(dir, 'same-'));
    const input = join(own, 'ehcache.xml');
    const original = readFileSync(fixture('api-gateway.xml'), 'utf8');
    writeFileSync(input, original);
    symlinkSync(input, join(own, 'link.xml'));
    for (const out of [input, join(own, '.', '..', basename(own), 'ehcache.xml'), join(own, 'link.xml')]) {
      for (const force of [['--force'], []]) {
        const result = await cli(['import-ehcache', input, '--name', 'gw-1', '--out', out, ...force]);
        expect(result.code).toBe(2);
        expect(result.out).toBe('');
        expect(result.err).toBe(
          `meshcache: --out ${out} is the file being converted (${input}); it is left as it is: write the config to another file\n`,
        );
        expect(readFileSync(input, 'utf8')).toBe(original);
      }
    }
    // Another file in the same directory is written as before.
    const beside = await cli(['import-ehcache', input, '--name', 'gw-1', '--out', join(own, 'gw-1.json'), '--force']);
    expect(beside.code).toBe(0);
    expect(readFileSync(input, 'utf8')).toBe(original);
  });

  it('reads a file in the encoding it is in: a byte order mark, else its declaration, else UTF-8; bytes that are not are exit 2 (found by the review)', async () => {
    const xml = (encoding: string) =>
      `<?xml version="1.0" encoding="${encoding}"?>\n<ehcache name="caf\u00e9">\n<cache name="r\u00e9sum\u00e9s" maxElementsInMemory="10"/>\n</ehcache>\n`;
    const utf16be = (text: string) => Buffer.from(text, 'utf16le').swap16();
    for (const [name, bytes] of [
      ['latin1.xml', Buffer.from(xml('ISO-8859-1'), 'latin1')],
      ['cp1252.xml', Buffer.from(xml('windows-1252'), 'latin1')],
      ['utf8.xml', Buffer.from(xml('UTF-8'), 'utf8')],
      ['bom8.xml', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(xml('UTF-8'), 'utf8')])],
      ['utf16le.xml', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml('UTF-16'), 'utf16le')])],
      ['utf16be.xml', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(xml('UTF-16'))])],
      ['utf16-unmarked.xml', Buffer.from(xml('UTF-16'), 'utf16le')],
      ['java-name.xml', Buffer.from(xml('ISO8859_1'), 'latin1')],
      ['cp1252-java.xml', Buffer.from(xml('Cp1252'), 'latin1')],
      // A declaration copied from another file: the bytes say ASCII-compatible, and win.
      ['mislabelled.xml', Buffer.from(xml('UTF-16'), 'utf8')],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, bytes);
      const result = await cli(['import-ehcache', file, '--name', 'n']);
      expect({ name, code: result.code }).toEqual({ name, code: 0 });
      const config = JSON.parse(result.out) as { cluster: string; caches: Record<string, unknown> };
      expect([config.cluster, Object.keys(config.caches)]).toEqual(['caf\u00e9', ['r\u00e9sum\u00e9s']]);
    }
    // Latin-1 bytes in a file that declares nothing (so UTF-8): refused, not turned into U+FFFD.
    const undeclared = join(dir, 'undeclared.xml');
    writeFileSync(undeclared, Buffer.from('<ehcache name="caf\u00e9"/>\n', 'latin1'));
    const refused = await cli(['import-ehcache', undeclared, '--name', 'n']);
    expect([refused.code, refused.out]).toEqual([2, '']);
    expect(refused.err).toMatch(
      /^meshcache: cannot read .*undeclared\.xml: it is not valid UTF-8 \(line 1, by byte 19\): save the file/,
    );
    const unknown = join(dir, 'ebcdic.xml');
    writeFileSync(
      unknown,
      Buffer.concat([
        Buffer.from('<?xml version="1.0" encoding="EBCDIC-CP-US"?>\n<ehcache name="'),
        Buffer.from([0xc1, 0xc2]),
        Buffer.from('"/>\n'),
      ]),
    );
    expect((await cli(['import-ehcache', unknown])).err).toMatch(
      /^meshcache: cannot read .*ebcdic\.xml: its encoding "ebcdic-cp-us" is not one this converter reads: save the file as UTF-8\n$/,
    );
    // An encoding TextDecoder does not know means nothing to a file of ASCII alone.
    const ascii = join(dir, 'ibm.xml');
    writeFileSync(ascii, '<?xml version="1.0" encoding="IBM037"?>\n<ehcache name="plain"/>\n');
    expect((await cli(['import-ehcache', ascii, '--name', 'n'])).code).toBe(0);
    // The line of a bad byte counts lines as XML does (a CR alone ends one too).
    const crBad = join(dir, 'cr-bad.xml');
    writeFileSync(crBad, Buffer.from('<ehcache>\r<!-- one -->\r<cache name="caf\u00e9"/>\r</ehcache>\r', 'latin1'));
    expect((await cli(['import-ehcache', crBad])).err).toMatch(/it is not valid UTF-8 \(line 3, by byte \d+\)/);
    // Lines end at CR alone too (XML 1.0 section 2.11): what is reported stands on its own line.
    const classic = join(dir, 'classic-mac.xml');
    writeFileSync(classic, '<ehcache name="c">\r<cache name="a"\r  memoryStoreEvictionPolicy="CLOCK"/>\r</ehcache>\r');
    expect(
      reported((await cli(['import-ehcache', classic, '--name', 'n'])).err, 'classic-mac.xml', 'not converted'),
    ).toEqual([[3, expect.stringMatching(/CLOCK/)]]);
  });

  it('the converter is also a function: importEhcache(xml, options) returns the config and the report', () => {
    const result = importEhcache(
      '<ehcache name="x">\n  <cache name="c" maxEntriesLocalHeap="5" copyOnRead="true"/>\n</ehcache>',
      { fileName: 'inline.xml', name: 'n1', defaultCacheNames: [] },
    );
    expect(result.config).toEqual({ name: 'n1', cluster: 'x', caches: { c: { maxElementsInMemory: 5 } } });
    expect(result.complete).toBe(false);
    expect(result.report).toEqual([
      {
        line: 1,
        kind: 'note',
        message: 'cluster "x" (the CacheManager name): every node of one cluster needs the same; --cluster to choose',
      },
      { line: 2, kind: 'not converted', message: expect.stringMatching(/^cache "c": copyOnRead="true"/) },
    ]);
  });

  it('takes a bound of 0 (none, in Ehcache) beside the other bound, as Ehcache does; keeps entries under a pool, and says so', () => {
    // maxEntriesLocalHeap="0" is none; maxBytesLocalHeap="0" Ehcache refuses (see the test of sizes).
    for (const [entries, bytes] of [['0', '10m']] as const) {
      const result = inline(
        `<ehcache name="x">\n  <cache name="c" maxEntriesLocalHeap="${entries}" maxBytesLocalHeap="${bytes}"/>\n</ehcache>`,
      );
      expect(result.config['caches']).toEqual({
        c: { maxElementsInMemory: Number(entries), maxBytesLocalHeap: bytes },
      });
    }
    const pooled = inline(
      '<ehcache name="x" maxBytesLocalHeap="1g">\n  <cache name="c" maxEntriesLocalHeap="100"/>\n</ehcache>',
    );
    expect(pooled.config['caches']).toEqual({ c: { maxElementsInMemory: 100 } });
    expect(pooled.report).toContainEqual({
      line: 2,
      kind: 'note',
      message: expect.stringMatching(
        /^cache "c": maxEntriesLocalHeap="100" under <ehcache maxBytesLocalHeap>: Ehcache 2\.5/,
      ),
    });
  });

  it('says so of a cache sized by neither entries nor bytes: meshcache’s default applies, which neither Ehcache reading was (found by the review)', () => {
    const noBound = (root: string) =>
      inline(`<ehcache name="x"${root}>\n  <cache name="c" timeToLiveSeconds="60"/>\n</ehcache>`);
    const alone = noBound('');
    expect(alone.config).toMatchObject({ caches: { c: { timeToLiveSeconds: 60 } } });
    expect(alone.complete).toBe(true);
    expect(alone.report).toContainEqual({
      line: 2,
      kind: 'note',
      message:
        'cache "c": no maxEntriesLocalHeap (maxElementsInMemory) nor maxBytesLocalHeap: Ehcache 2.5 and later refuse this, and earlier ones held any number of entries; meshcache holds at most 10,000 (its default): give it maxElementsInMemory (0 = no bound) or maxBytesLocalHeap',
    });
    const pooled = noBound(' maxBytesLocalHeap="1g"');
    expect(pooled.report).toContainEqual({
      line: 2,
      kind: 'note',
      message: expect.stringMatching(
        /^cache "c": no maxEntriesLocalHeap .*: Ehcache sized it from the CacheManager’s maxBytesLocalHeap pool, which meshcache has not; meshcache holds at most 10,000/,
      ),
    });
  });

  it('reads a factory’s properties as java.util.Properties does: key:value, key value, a bare key, comments, escapes, a backslash joining lines (they were exit 2, or an unknown property)', () => {
    const xml = [
      '<ehcache>', // 1
      '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"', // 2
      '    properties="peerDiscovery:manual,', // 3
      '      # the peers, one URL a cache,', // 4 (its comma ends the comment: Ehcache read one=URL a cache)
      '      rmiUrls  //h2\\:40001/a|//h2:40001/\\u0062"/>', // 5
      '  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory"', // 6
      '    properties="hostName = 10.0.0.1; port\t40001; ! socketTimeoutMillis=5" propertySeparator=";"/>', // 7
      '  <cache name="a" maxEntriesLocalHeap="10">', // 8
      '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"', // 9
      '      properties="replicatePuts:false, replicateUpdates false,', // 10
      '                  replicateRemovals, replicateUpdatesViaCopy\\,', // 11
      '                  =false, asynchronousReplicationIntervalMillis = : 500"/>', // 12
      '  </cache>', // 13
      '  <cache name="b" maxEntriesLocalHeap="10">', // 14
      '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>', // 15
      '  </cache>', // 16
      '</ehcache>', // 17
    ].join('\n');
    const result = importEhcache(xml, { fileName: 'props.xml', defaultCacheNames: [] });
    expect(result.config['peerDiscovery']).toEqual({ mode: 'manual', peers: ['ws://h2:40001'] });
    expect(result.config['peerListener']).toEqual({ hostname: '10.0.0.1', port: 40001 });
    expect((result.config['caches'] as Record<string, Record<string, unknown>>)['a']?.['replication']).toEqual({
      replicatePuts: false,
      replicateUpdates: false,
      replicateRemovals: false,
      replicateUpdatesViaCopy: false,
      replicateExpiries: false,
    });
    // The bare key is an empty value. "= : 500": the separator is the first = (white space around
    // it skipped), the value ": 500", which Integer.parseInt refuses: the default, as Ehcache ran it.
    // A comment is no property, as an XML comment is none; a comma in one ends it, as in Ehcache.
    expect(result.report.filter((line) => line.kind === 'not converted' || /=/.test(line.message))).toEqual([
      {
        line: 4,
        kind: 'not converted',
        message: 'peer provider property one=URL a cache has no meaning with peerDiscovery=manual here',
      },
      {
        line: 11,
        kind: 'note',
        message:
          'cache "a": replicateRemovals=: Ehcache reads anything but true as false (PropertyUtil.parseBoolean), and ran with false; so does this',
      },
      {
        line: 12,
        kind: 'note',
        message:
          'cache "a": asynchronousReplicationIntervalMillis=: 500: not a number Ehcache reads (a Java int), so Ehcache ran with 1000, the default; so does this',
      },
    ]);

    // A malformed \\uXXXX escape makes Properties.load throw: Ehcache refuses the file.
    expect(() =>
      importEhcache(
        '<ehcache>\n  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"\n    properties="peerDiscovery=manual,\n      rmiUrls=//h2:40001/\\u00zz"/>\n</ehcache>',
      ),
    ).toThrow(
      'ehcache.xml:4: the property "rmiUrls=//h2:40001/\\u00zz" in properties has a malformed \\uXXXX escape: Ehcache refuses it (java.util.Properties throws)',
    );
  });

  it('reads propertySeparator as Ehcache did, as a regular expression (String.replaceAll): one that matches the empty string, cannot be read or backtracks without end is exit 2 (found by the review: it was split as text)', () => {
    // White space around a ";" taken by the pattern itself: separated at its matches, with a note.
    const spaced = importEhcache(withSeparator('\\s*;\\s*', 'peerDiscovery=manual ; rmiUrls=//h2:40001/a'));
    expect(spaced.config['peerDiscovery']).toEqual({ mode: 'manual', peers: ['ws://h2:40001'] });
    expect(spaced.report.filter((line) => line.message.includes('propertySeparator'))).toEqual([
      {
        line: 4,
        kind: 'note',
        message:
          'cacheManagerPeerProviderFactory propertySeparator="\\s*;\\s*" is a regular expression to Ehcache (String.replaceAll): it separated the properties at its 1 match, where the text "\\s*;\\s*" occurs 0 times; so does this',
      },
    ]);
    // Pattern.quote's form is the text it quotes; a "|" inside it separates, and nothing else.
    const quoted = importEhcache(withSeparator('\\Q|\\E', 'peerDiscovery=manual|rmiUrls=//h2:40001/a'));
    expect(quoted.config['peerDiscovery']).toEqual({ mode: 'manual', peers: ['ws://h2:40001'] });
    expect(quoted.report.filter((line) => line.message.includes('propertySeparator'))).toEqual([]);
    // "|" and "" match the empty string: Ehcache cut between every character and ran without them.
    expect(() => importEhcache(withSeparator('|', 'peerDiscovery=manual|rmiUrls=//h2:40001/a'))).toThrow(
      'ehcache.xml:4: cacheManagerPeerProviderFactory propertySeparator="|" is a regular expression to Ehcache (String.replaceAll), and it matches the empty string: Ehcache broke the properties where nothing separates them (between every character, for "|" or ""), and did not run with them as written; write "\\|" to separate at |',
    );
    expect(() => importEhcache(withSeparator('', 'peerDiscovery=manual,rmiUrls=//h2:40001/a'))).toThrow(
      /ehcache\.xml:4: cacheManagerPeerProviderFactory propertySeparator="" .* matches the empty string: .*; leave propertySeparator out for ","$/,
    );
    // A pattern that backtracks without end on the text would hold the importer for ever.
    expect(() => importEhcache(withSeparator('(a+)+$', `peerDiscovery=manual,${'a'.repeat(40)}!`))).toThrow(
      'ehcache.xml:4: cacheManagerPeerProviderFactory propertySeparator="(a+)+$" took more than 1000 ms to match the properties',
    );
    // Alternatives backtrack so too, without a quantifier: forty groups (a|a) try 2^40 ways.
    const alternatives = `${'(a|a)'.repeat(40)}b`;
    expect(() => importEhcache(withSeparator(alternatives, `peerDiscovery=manual,${'a'.repeat(45)}`))).toThrow(
      `ehcache.xml:4: cacheManagerPeerProviderFactory propertySeparator="${alternatives}" took more than 1000 ms to match the properties`,
    );
    expect(() => importEhcache(withSeparator('(', 'peerDiscovery=manual(rmiUrls=//h2:40001/a'))).toThrow(
      /ehcache\.xml:4: cacheManagerPeerProviderFactory propertySeparator="\(" is a regular expression to Ehcache \(String\.replaceAll\), and not one this importer reads \(.+\); write a plain separator such as ";"$/,
    );
  });

  it('refuses a propertySeparator with an escape JavaScript reads otherwise than Java (\\h, \\p{Punct}, \\R, \\e: a plain letter to JavaScript), and reads \\\\Q and Java octal as Java does (found by the review: they split where Ehcache did not)', () => {
    // To JavaScript, \h* is any run of "h": it ate the h of hostName.
    expect(() =>
      importEhcache(withSeparator(';\\h*', 'peerDiscovery=manual;hostName=h1;rmiUrls=//h2:40001/a')),
    ).toThrow(
      'ehcache.xml:4: cacheManagerPeerProviderFactory propertySeparator=";\\h*" is a regular expression to Ehcache (String.replaceAll), and not one this importer reads (\\h is a horizontal white space to Java, and a plain "h" to JavaScript); write a plain separator such as ";"',
    );
    for (const separator of ['\\p{Punct}', '\\R', '\\e', '\\Z', '\\y', '\\x{3b}']) {
      expect(() => importEhcache(withSeparator(separator, 'peerDiscovery=manual;rmiUrls=//h2:40001/a'))).toThrow(
        `propertySeparator="${separator}" is a regular expression to Ehcache (String.replaceAll), and not one this importer reads (${separator.slice(0, 2)} is `,
      );
    }
    // \\ is a backslash, so \\Q quotes nothing: the separator is the text \Q; (a backslash, Q, ;).
    const escaped = importEhcache(withSeparator('\\\\Q;', 'peerDiscovery=manual\\Q;rmiUrls=//h2:40001/a'));
    expect(escaped.config['peerDiscovery']).toEqual({ mode: 'manual', peers: ['ws://h2:40001'] });
    // Java's octal: \0073 is ";" (JavaScript's \007 then 3 would be BEL and a "3").
    const octal = importEhcache(withSeparator('\\0073', 'peerDiscovery=manual;rmiUrls=//h2:40001/a'));
    expect(octal.config['peerDiscovery']).toEqual({ mode: 'manual', peers: ['ws://h2:40001'] });
    // The escapes both read alike are taken.
    const alike = importEhcache(withSeparator('\\s*\\x3b\\s*', 'peerDiscovery=manual ; rmiUrls=//h2:40001/a'));
    expect(alike.config['peerDiscovery']).toEqual({ mode: 'manual', peers: ['ws://h2:40001'] });
  });

  it("reads \\s in propertySeparator as Java's ASCII white space: a no-break space (U+00A0) between properties separated nothing for Ehcache, where JavaScript's \\s took it", () => {
    // One property to Ehcache, whose peerDiscovery it refused; JavaScript's \s made two of it.
    expect(() => importEhcache(withSeparator('\\s+', 'peerDiscovery=manual\u00a0rmiUrls=//h2:40001/a'))).toThrow(
      'ehcache.xml:3: peerDiscovery=manual\u00a0rmiUrls=//h2:40001/a must be manual or automatic',
    );
    const spaced = importEhcache(withSeparator('[,\\s]+', 'peerDiscovery=manual, rmiUrls=//h2:40001/a'));
    expect(spaced.config['peerDiscovery']).toEqual({ mode: 'manual', peers: ['ws://h2:40001'] });
    const notSpace = importEhcache(withSeparator(';\\S?;', 'peerDiscovery=manual;x;rmiUrls=//h2:40001/a'));
    expect(notSpace.config['peerDiscovery']).toEqual({ mode: 'manual', peers: ['ws://h2:40001'] });
    expect(() => importEhcache(withSeparator('[\\S;]', 'peerDiscovery=manual;rmiUrls=//h2:40001/a'))).toThrow(
      '(\\S inside a character class is not written here as Java reads it)',
    );
  });

  it('matches propertySeparator in the properties trimmed, as Ehcache did: \\s+ over properties on lines of their own counts the one match between them, and each keeps its line; empty properties are none, whatever the separator (found by the review)', () => {
    const xml = (separator: string, properties: string[]) =>
      [
        '<ehcache>', // 1
        '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"', // 2
        `    propertySeparator="${separator}"`, // 3
        '    properties="', // 4
        ...properties.map((property) => `      ${property}`), // 5, 6
        '    "/>',
        '  <cache name="a" maxEntriesLocalHeap="10">',
        '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
        '  </cache>',
        '</ehcache>',
      ].join('\n');
    const spaced = importEhcache(xml('\\s+', ['peerDiscovery=manual', 'rmiUrls=//h2:40001/a|//h2:40001/b']));
    expect(spaced.config['peerDiscovery']).toEqual({ mode: 'manual', peers: ['ws://h2:40001'] });
    expect(spaced.report.filter((line) => line.message.includes('propertySeparator'))).toEqual([
      {
        line: 3,
        kind: 'note',
        message:
          'cacheManagerPeerProviderFactory propertySeparator="\\s+" is a regular expression to Ehcache (String.replaceAll): it separated the properties at its 1 match, where the text "\\s+" occurs 0 times; so does this',
      },
    ]);
    // The rmiUrls entry for b, a cache not replicated here, is noted at the line rmiUrls is on.
    expect(spaced.report.filter((line) => line.message.includes('/b')).map((line) => line.line)).toEqual([6]);
    // No properties to break: "|" is refused only where it broke some.
    expect(() => importEhcache(xml('|', []))).not.toThrow();
  });

  it('says of an rmiUrls host that java.net.URI refuses (an underscore, a dotted name ending in a number) that Ehcache never replicated to it, and converts it where meshcache can dial it', () => {
    const result = inline(
      [
        '<ehcache>',
        '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
        '    properties="peerDiscovery=manual, rmiUrls=//my_host:40001/a|//10.0.0.300:40001/a|//h-1.example.com:40001/a|//1host:40001/a|//10.0.0.3:40001/a"/>',
        '  <cache name="a" maxEntriesLocalHeap="10">',
        '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
        '  </cache>',
        '</ehcache>',
      ].join('\n'),
    );
    expect(result.config['peerDiscovery']).toEqual({
      mode: 'manual',
      peers: ['ws://my_host:40001', 'ws://h-1.example.com:40001', 'ws://1host:40001', 'ws://10.0.0.3:40001'],
    });
    // No IPv4 address either to meshcache's URL reader: not converted.
    expect(result.report.filter((line) => line.kind === 'not converted').map((line) => line.message)).toEqual([
      'rmiUrls: //10.0.0.300:40001 is not a peer meshcache can dial as ws://10.0.0.300:40001: is not a URL: "ws://10.0.0.300:40001"',
    ]);
    expect(
      result.report
        .filter((line) => line.message.includes('never replicated'))
        .map((line) => [line.line, line.kind, line.message.split(':')[1]]),
    ).toEqual([
      [3, 'note', ' //my_host'],
      [3, 'note', ' //10.0.0.300'],
    ]);
  });

  it('reports an attribute no factory knows, on each factory, and the default Ehcache ran with for a disk attribute <= 0', () => {
    const result = inline(
      [
        '<ehcache>',
        '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory" properties="peerDiscovery=manual, rmiUrls=//h2:40001/a" odd="1"/>',
        '  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory" properties="hostName=h1, port=40001" weird="2"/>',
        '  <cache name="a" maxElementsInMemory="10" diskExpiryThreadIntervalSeconds="0" diskSpoolBufferSizeMB="-3">',
        '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory" listenFor="all" strange="3"/>',
        '    <bootstrapCacheLoaderFactory class="net.sf.ehcache.distribution.RMIBootstrapCacheLoaderFactory" other="4"/>',
        '  </cache>',
        '</ehcache>',
      ].join('\n'),
    );
    expect(
      result.report.filter((line) => !line.message.startsWith('cluster ')).map((l) => [l.line, l.kind, l.message]),
    ).toEqual([
      [2, 'not converted', 'cacheManagerPeerProviderFactory odd="1" is not an attribute this importer knows'],
      [3, 'not converted', 'cacheManagerPeerListenerFactory weird="2" is not an attribute this importer knows'],
      [
        4,
        'note',
        'cache "a": diskExpiryThreadIntervalSeconds="0": Ehcache replaces a value <= 0 with 120, the default; so does this',
      ],
      [
        4,
        'note',
        'cache "a": diskSpoolBufferSizeMB="-3": Ehcache replaces a value <= 0 with 30, the default; so does this',
      ],
      [5, 'note', 'cache "a": listenFor="all" on the replicator: meshcache never sends a change it received back out'],
      [5, 'not converted', 'cache "a": cacheEventListenerFactory strange="3" is not an attribute this importer knows'],
      [6, 'not converted', 'cache "a": bootstrapCacheLoaderFactory other="4" is not an attribute this importer knows'],
    ]);
  });

  it('reads rmiUrls as java.rmi.Naming did: rmi://host:port/cache, no port (or an empty or 0 one) as 1099 with a note, no host as not converted (they were exit 2)', () => {
    const xml = [
      '<ehcache>',
      '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
      '    properties="peerDiscovery=manual,',
      '      rmiUrls=rmi://h2:40001/a|rmi://h2:40001/b|//h3/a|//h4:/a|//h5:0/a|//:40001/a"/>',
      '  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory"',
      '    properties="hostName=10.0.0.1, port=40001"/>',
      '  <cache name="a" maxEntriesLocalHeap="10">',
      '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
      '  </cache>',
      '  <cache name="b" maxEntriesLocalHeap="10">',
      '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
      '  </cache>',
      '</ehcache>',
    ].join('\n');
    const result = importEhcache(xml, { fileName: 'rmi.xml', defaultCacheNames: [] });
    expect(result.config['peerDiscovery']).toEqual({
      mode: 'manual',
      peers: ['ws://h2:40001', 'ws://h3:1099/a', 'ws://h4:1099/a', 'ws://h5:1099/a'],
    });
    expect(
      result.report.filter((line) => line.message.startsWith('rmiUrls')).map((l) => [l.line, l.kind, l.message]),
    ).toEqual([
      [
        4,
        'note',
        "rmiUrls: //h3/a gives no port: Ehcache (java.rmi.Naming) dialled 1099, the RMI registry's; so does this (the peer's meshcache listener must be on that port)",
      ],
      [
        4,
        'note',
        'rmiUrls: //h4:/a gives port "": Ehcache (java.rmi.Naming) dialled 1099, the RMI registry\'s; so does this (the peer\'s meshcache listener must be on that port)',
      ],
      [
        4,
        'note',
        'rmiUrls: //h5:0/a gives port "0": Ehcache (java.rmi.Naming) dialled 1099, the RMI registry\'s; so does this (the peer\'s meshcache listener must be on that port)',
      ],
      [
        4,
        'not converted',
        'rmiUrls: //:40001/a has no host: Ehcache (java.rmi.Naming) dialled the address of the machine it ran on; left out: write that host in the URL, or add the peer to peerDiscovery.peers',
      ],
    ]);
    // Another scheme Naming refused, as it refuses a URL that is not one.
    for (const url of ['http://h2:40001/a', 'RMI://h2:40001/a', '//h2:99999/a', 'h2:40001/a']) {
      expect(() => importEhcache(xml.replace('rmi://h2:40001/a|', `${url}|`))).toThrow(
        `ehcache.xml:4: rmiUrls: "${url}" is not an RMI URL`,
      );
    }
  });

  it('says of a replicated cache that no rmiUrls URL names that it has no peer, and that a peer dialling it gets its changes, which Ehcache never sent (found by the review)', () => {
    // As astra-zhao/jeesite's src/main/resources/cache/ehcache-rmi.xml (sysCache and the defaultCache
    // replicate, rmiUrls lists five other caches). Ehcache's manual replication was one-way; a
    // meshcache link is two-way (a node with no peers serves those that dial it).
    const result = importEhcache(
      [
        '<ehcache name="x">',
        '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
        '    properties="peerDiscovery=manual, rmiUrls=//h2:40001/a"/>',
        '  <defaultCache maxElementsInMemory="100">',
        '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
        '  </defaultCache>',
        '  <cache name="a" maxElementsInMemory="10">',
        '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
        '  </cache>',
        '</ehcache>',
      ].join('\n'),
      { fileName: 'inline.xml', name: 'n1' },
    );
    expect(result.config).toMatchObject({ peerDiscovery: { mode: 'manual', peers: ['ws://h2:40001/a'] } });
    expect(result.report.filter((line) => line.message.includes('no rmiUrls URL names it'))).toEqual([
      {
        line: 3,
        kind: 'note',
        message:
          'cache "default" replicates, but no rmiUrls URL names it: this node dials no peer for it. Ehcache sent its changes to no one; a meshcache link is two-way, so a peer whose rmiUrls name this node and cache receives them (one-way replication is not kept). Name it in rmiUrls (//host:port/default) to dial a peer for it',
      },
    ]);
  });

  it('reports an rmiUrls URL naming no <cache> of the file as not converted when the defaultCache replicates: a cache the code made from it replicated there', () => {
    const xml = [
      '<ehcache name="x">',
      '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
      '    properties="peerDiscovery=manual, rmiUrls=//h2:40001/com.example.Order|//h2:40001/a"/>',
      '  <defaultCache maxElementsInMemory="100">',
      '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
      '  </defaultCache>',
      '  <cache name="a" maxElementsInMemory="10">',
      '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
      '  </cache>',
      '</ehcache>',
    ].join('\n');
    // It was a note saying "Ehcache sent it nothing either", and the import "everything converted".
    const unnamed = importEhcache(xml, { fileName: 'inline.xml', name: 'n1' });
    expect(unnamed.complete).toBe(false);
    expect(unnamed.report).toContainEqual({
      line: 3,
      kind: 'not converted',
      message:
        'rmiUrls: //h2:40001/com.example.Order names no <cache> of this file: a cache your code made from the replicated defaultCache replicated to it in Ehcache; meshcache names every cache: add --default-cache "com.example.Order" to convert it',
    });
    // Named as the hint says, it converts, with the peer as one link for every replicated cache.
    const named = importEhcache(xml, { fileName: 'inline.xml', name: 'n1', defaultCacheNames: ['com.example.Order'] });
    expect(named.complete).toBe(true);
    expect(named.config).toMatchObject({
      peerDiscovery: { mode: 'manual', peers: ['ws://h2:40001'] },
      caches: { 'com.example.Order': { maxElementsInMemory: 100 }, a: { maxElementsInMemory: 10 } },
    });
    // Without a replicated defaultCache, the code made the cache and may have given it a
    // replicator itself (Spring's EhCacheFactoryBean): not converted, with what to add.
    const local = importEhcache(xml.replace(/ {2}<defaultCache[\s\S]*<\/defaultCache>\n/, ''), {
      fileName: 'inline.xml',
      name: 'n1',
    });
    expect(local.complete).toBe(false);
    expect(local.report).toContainEqual({
      line: 3,
      kind: 'not converted',
      message: expect.stringMatching(
        /^rmiUrls: \/\/h2:40001\/com\.example\.Order names no cache of this file: in Ehcache it was a cache your code made/,
      ),
    });
    // A <cache> of the file without a replicator is not replicated here: a note, as before.
    const unreplicated = importEhcache(
      xml
        .replace('maxElementsInMemory="100">', 'maxElementsInMemory="100"/>')
        .replace(/ {4}<cacheEventListenerFactory[^\n]*\n {2}<\/defaultCache>\n/, ''),
      {
        fileName: 'inline.xml',
        name: 'n1',
        defaultCacheNames: ['com.example.Order'],
      },
    );
    expect(unreplicated.report).toContainEqual({
      line: 3,
      kind: 'note',
      message: expect.stringMatching(
        /^rmiUrls: \/\/h2:40001\/com\.example\.Order names a cache that is not replicated here/,
      ),
    });
  });

  it('reports rmiUrls naming caches the code made with their own replicator as not converted: CAS’s ehcache-replicated.xml (found by the outside attack)', () => {
    // CAS's documented replicated ticket registry: cas_st and cas_tgt are made by Spring's
    // EhCacheFactoryBean with RMI replicators; the ehcache.xml names them only in rmiUrls. The
    // importer said "Ehcache sent it nothing either", and wrote a config that replicates nothing.
    const cas = importEhcache(
      [
        '<ehcache name="ehCacheTicketRegistryCache" updateCheck="false">',
        '  <diskStore path="/var/cas"/>',
        '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
        '    properties="peerDiscovery=manual,rmiUrls=//peer-2:41001/cas_st|//peer-3:41001/cas_st|//peer-2:41001/cas_tgt|//peer-3:41001/cas_tgt"/>',
        '  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory"',
        '    properties="hostName=peer-1, port=41001"/>',
        '</ehcache>',
      ].join('\n'),
      { fileName: 'ehcache-replicated.xml', name: 'peer-1' },
    );
    expect(cas.complete).toBe(false);
    expect(cas.report.filter((line) => line.message.startsWith('rmiUrls'))).toEqual(
      ['//peer-2:41001/cas_st', '//peer-3:41001/cas_st', '//peer-2:41001/cas_tgt', '//peer-3:41001/cas_tgt'].map(
        (url) => ({
          line: 4,
          kind: 'not converted',
          message: `rmiUrls: ${url} names no cache of this file: in Ehcache it was a cache your code made, and if the code gave it a replicator (Spring's EhCacheFactoryBean cacheEventListeners, say) it replicated to this peer; meshcache names every cache: add "${url.split('/').at(-1)}" to "caches" with "replication": {} to replicate it`,
        }),
      ),
    );
  });

  it('reports an rmiUrls URL meshcache would not dial as not converted on its line; the rest converts (it was exit 1, "a bug in the importer")', () => {
    const result = inline(
      [
        '<ehcache name="x">',
        '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
        '    properties="peerDiscovery=manual, rmiUrls=//1.2.3:40001/a|//h2:40001/a"/>',
        '  <cache name="a" maxElementsInMemory="10">',
        '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
        '  </cache>',
        '</ehcache>',
      ].join('\n'),
    );
    expect(result.config).toMatchObject({ peerDiscovery: { mode: 'manual', peers: ['ws://h2:40001'] } });
    expect(result.complete).toBe(false);
    expect(result.report).toContainEqual({
      line: 3,
      kind: 'not converted',
      message: expect.stringMatching(
        /^rmiUrls: \/\/1\.2\.3:40001 is not a peer meshcache can dial as ws:\/\/1\.2\.3:40001: has a host of digits and dots that is not an IPv4 address of four numbers/,
      ),
    });
  });

  it('reports a CacheManager name meshcache cannot take as a cluster name as not converted, and writes "ehcache" (it was exit 1, "a bug in the importer")', () => {
    for (const name of ['n'.repeat(300), 'é'.repeat(129)]) {
      const result = inline(`<ehcache name="${name}">\n  <cache name="c" maxEntriesLocalHeap="1"/>\n</ehcache>`);
      expect(result.config['cluster']).toBe('ehcache');
      expect(result.report).toContainEqual({
        line: 1,
        kind: 'not converted',
        message: expect.stringMatching(
          /^cluster ".*": must have at most 256 bytes and no control characters: every peer would refuse it; "ehcache" is written instead: choose one with --cluster$/,
        ),
      });
    }
  });

  it('takes hostname, as the API gateway guide spells it, as hostName, and says that Ehcache ignored it', () => {
    const result = importEhcache(
      '<ehcache name="x">\n  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory"\n    properties="hostname=10.0.0.7, port=40001"/>\n  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"\n    properties="peerDiscovery=automatic, multicastGroupAddress=230.0.0.1, multicastGroupPort=4446, hostname=10.0.0.7"/>\n</ehcache>',
      { fileName: 'guide.xml', name: 'n1', defaultCacheNames: [] },
    );
    expect(result.config['peerListener']).toEqual({ hostname: '10.0.0.7', port: 40001 });
    expect(result.config['peerDiscovery']).toMatchObject({ mode: 'automatic', interface: '10.0.0.7' });
    const hostnameNotes = result.report.filter((item) => /^hostname taken as hostName/.test(item.message));
    expect(hostnameNotes.map((item) => [item.line, item.kind])).toEqual([
      [3, 'note'],
      [5, 'note'],
    ]);
    expect(result.report.filter((item) => item.kind === 'not converted')).toEqual([]);
  });

  it('reports a listener hostName a URL reads as more than a host as not converted (127.0.0.1/ listened on port 80; found by the outside attack)', () => {
    const result = importEhcache(
      '<ehcache name="x">\n  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory"\n    properties="hostName=127.0.0.1/, port=40001"/>\n</ehcache>',
      { fileName: 'slash.xml', name: 'n1', defaultCacheNames: [] },
    );
    expect(result.complete).toBe(false);
    expect(result.report).toContainEqual({
      line: 3,
      kind: 'not converted',
      message: expect.stringMatching(/^peer listener hostName=127\.0\.0\.1\/: must be a host name or address/),
    });
    expect(result.config['peerListener']).toEqual({ port: 40001 });
  });

  it('leaves out, as not converted on its line, a cache whose name XML holds and meshcache refuses (a tab): the rest converts (found by the review)', () => {
    const result = importEhcache(
      '<ehcache name="x">\n  <cache name="sessions&#9;tmp"/>\n  <cache name="tokens"/>\n</ehcache>',
      { fileName: 'tab.xml', name: 'n1', defaultCacheNames: [] },
    );
    expect(result.complete).toBe(false);
    expect(result.report).toContainEqual({
      line: 2,
      kind: 'not converted',
      message:
        'cache "sessions\\ttmp": field "name" has a control character: a cache name is stored on disk, sent to peers and logged, and must not hold one: left out; rename the cache',
    });
    expect(Object.keys(result.config['caches'] as object)).toEqual(['tokens']);
  });

  it('gives a bare java.io.tmpdir a directory of its own named after the node, whatever the name holds', () => {
    const xml =
      '<ehcache>\n  <diskStore path="java.io.tmpdir"/>\n  <cache name="c" overflowToDisk="true"/>\n</ehcache>';
    const pathFor = (name?: string) =>
      importEhcache(xml, {
        fileName: 'tmp.xml',
        tmpdir: '/tmp',
        defaultCacheNames: [],
        ...(name === undefined ? {} : { name }),
      }).config['diskStorePath'];
    expect(pathFor('gw-1')).toBe('/tmp/meshcache-gw-1');
    expect(pathFor()).toBe('/tmp/meshcache-store');
    expect(pathFor('a/../../var/lib')).toBe('/tmp/meshcache-a-..-..-var-lib');
  });

  it('a cache’s maxBytesLocalHeap converts as it is written; a share of a pool does not', () => {
    const result = inline(
      '<ehcache name="x">\n  <cache name="bytes" maxBytesLocalHeap="256M"/>\n  <cache name="share" maxBytesLocalHeap="20%"/>\n</ehcache>',
    );
    const caches = result.config['caches'] as Record<string, unknown>;
    expect(caches).toEqual({ bytes: { maxBytesLocalHeap: '256M' }, share: {} });
    expect(result.report).toContainEqual({
      line: 3,
      kind: 'not converted',
      message: expect.stringMatching(/^cache "share": maxBytesLocalHeap="20%": a share of the CacheManager’s pool/),
    });
    expect(resolveCacheConfig('bytes', caches['bytes']).maxBytesLocalHeap).toBe(256 * 1024 * 1024);
  });

  it('reads a cache’s maxBytesLocalHeap as Ehcache’s MemoryUnit does: 0, a "t" or "100MB" are exit 2, as Ehcache refused them ("0" was written and ran unbounded)', () => {
    const size = (value: string) =>
      inline(
        `<ehcache name="x">\n  <cache name="c" maxEntriesLocalHeap="0" maxBytesLocalHeap="${value}"/>\n</ehcache>`,
      );
    // CacheConfiguration: "has to be larger than 0"; meshcache reads 0 as no byte bound.
    for (const zero of ['0', '0m', '-5m']) {
      expect(() => size(zero)).toThrow(
        `inline.xml:2: cache "c": maxBytesLocalHeap="${zero}": Ehcache refuses this: a size has to be larger than 0`,
      );
    }
    // MemoryUnit has b, k, m and g; meshcache takes a "t" too, so "1T" became a terabyte.
    expect(() => size('1T')).toThrow(
      `inline.xml:2: cache "c": maxBytesLocalHeap="1T": Ehcache refuses this: its units are b, k, m and g ("'T' suffix doesn't match any SizeUnit")`,
    );
    // Refused by Long.parseLong: it was "not converted" (exit 3), the cache written without its bound.
    for (const unreadable of ['100MB', '1.5g']) {
      expect(() => size(unreadable)).toThrow(
        `inline.xml:2: cache "c": maxBytesLocalHeap="${unreadable}": Ehcache refuses this: not a whole number of bytes, or one with a unit ("512k", "256m", "2g")`,
      );
    }
    // A sign Long.parseLong takes: 5 MB in Ehcache, left out before; written as Ehcache read it, with a note.
    const signed = size('+5m');
    expect(signed.config['caches']).toEqual({ c: { maxElementsInMemory: 0, maxBytesLocalHeap: '5m' } });
    expect(signed.report).toContainEqual({
      line: 2,
      kind: 'note',
      message: 'cache "c": maxBytesLocalHeap="+5m": Ehcache read it as 5m; so does this',
    });
    // What both read alike is written as it is, without a line.
    for (const same of ['256M', '100 M', '512k', '1048576', '2g']) {
      const result = size(same);
      expect(result.config['caches']).toEqual({ c: { maxElementsInMemory: 0, maxBytesLocalHeap: same } });
      expect(result.report.filter((item) => item.message.includes('maxBytesLocalHeap'))).toEqual([]);
    }
  });

  it('takes <persistence> beside overflowToDisk="false", as Ehcache does; refuses it beside overflowToDisk="true" or any diskPersistent', () => {
    // Ehcache's addPersistence refuses a diskPersistent of any value and an overflowToDisk="true"
    // only: an overflowToDisk="false" left over beside <persistence> (a common template) runs.
    const swap = importEhcache(
      '<ehcache name="x">\n  <diskStore path="/tmp/x"/>\n  <defaultCache maxEntriesLocalHeap="100" overflowToDisk="false">\n    <persistence strategy="localTempSwap"/>\n  </defaultCache>\n</ehcache>',
      { fileName: 'inline.xml', name: 'n1' },
    );
    expect(swap.config['caches']).toEqual({ default: { maxElementsInMemory: 100, overflowToDisk: true } });
    expect(swap.complete).toBe(true);
    const none = inline(
      '<ehcache name="x">\n  <cache name="c" maxEntriesLocalHeap="100" overflowToDisk="false">\n    <persistence strategy="none"/>\n  </cache>\n</ehcache>',
    );
    expect(none.config['caches']).toEqual({ c: { maxElementsInMemory: 100, overflowToDisk: false } });
    for (const attributes of ['overflowToDisk="true"', 'diskPersistent="false"', 'diskPersistent="true"']) {
      expect(() =>
        inline(
          `<ehcache name="x">\n  <diskStore path="/tmp/x"/>\n  <cache name="c" maxEntriesLocalHeap="1" ${attributes}>\n    <persistence strategy="localTempSwap"/>\n  </cache>\n</ehcache>`,
        ),
      ).toThrow(
        `inline.xml:4: cache "c": <persistence> and ${attributes.split('=')[0]} together: Ehcache refuses this; keep one`,
      );
    }
  });

  it('reports an element or attribute named like a member of Object.prototype as unknown, like any other (found by the outside attack: exit 1, "rule is not a function")', async () => {
    const file = join(dir, 'prototype-names.xml');
    writeFileSync(
      file,
      [
        '<ehcache name="x" __proto__="1" hasOwnProperty="2" constructor="3">',
        '  <toString/>',
        '  <cache name="c" maxElementsInMemory="1">',
        '    <constructor/>',
        '    <__proto__/>',
        '  </cache>',
        '</ehcache>',
      ].join('\n'),
    );
    const result = await cli(['import-ehcache', file, '--name', 'n']);
    expect(result.code).toBe(3);
    expect(reported(result.err, 'prototype-names.xml', 'not converted')).toEqual([
      [1, '<ehcache __proto__="1"> is not an attribute this importer knows'],
      [1, '<ehcache hasOwnProperty="2"> is not an attribute this importer knows'],
      [1, '<ehcache constructor="3"> is not an attribute this importer knows'],
      [2, '<toString>: not an Ehcache 2 element this importer knows'],
      [4, 'cache "c": <constructor>: not an Ehcache 2 cache element this importer knows'],
      [5, 'cache "c": <__proto__>: not an Ehcache 2 cache element this importer knows'],
    ]);
    expect(JSON.parse(result.out)).toMatchObject({ caches: { c: { maxElementsInMemory: 1 } } });
    // The encoding declaration's name, too: not Object.prototype's "constructor" as a Java name.
    const declared = join(dir, 'prototype-encoding.xml');
    writeFileSync(
      declared,
      Buffer.concat([
        Buffer.from('<?xml version="1.0" encoding="constructor"?>\n<ehcache name="'),
        Buffer.from([0xe9, 0x22, 0x2f, 0x3e]),
      ]),
    );
    expect((await cli(['import-ehcache', declared])).err).toBe(
      `meshcache: cannot read ${declared}: its encoding "constructor" is not one this converter reads: save the file as UTF-8\n`,
    );
  });

  it('takes a replicator or bootstrap property Java cannot read as an int as Ehcache did: the default, with a note, not exit 2 (found by the outside attack)', () => {
    // RMICacheReplicatorFactory and RMIBootstrapCacheLoaderFactory read these with Integer.parseInt
    // and, on a NumberFormatException, warn and use the default: the file ran under Ehcache.
    const replicated = (replicator: string, bootstrap: string) =>
      inline(
        [
          '<ehcache name="x">',
          '  <cache name="c" maxElementsInMemory="10">',
          `    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory" properties="${replicator}"/>`,
          `    <bootstrapCacheLoaderFactory class="net.sf.ehcache.distribution.RMIBootstrapCacheLoaderFactory" properties="${bootstrap}"/>`,
          '  </cache>',
          '</ehcache>',
        ].join('\n'),
      );
    const words = replicated(
      'asynchronousReplicationIntervalMillis=1000ms, asynchronousReplicationMaximumBatchSize=',
      'bootstrapAsynchronously=false, maximumChunkSizeBytes=5MB',
    );
    expect(words.config['caches']).toEqual({
      c: {
        maxElementsInMemory: 10,
        replication: { replicateExpiries: false },
        bootstrap: { bootstrapAsynchronously: false },
      },
    });
    expect(words.report.filter((line) => line.message.includes('Java int'))).toEqual([
      {
        line: 3,
        kind: 'note',
        message:
          'cache "c": asynchronousReplicationIntervalMillis=1000ms: not a number Ehcache reads (a Java int), so Ehcache ran with 1000, the default; so does this',
      },
      {
        line: 3,
        kind: 'note',
        message:
          'cache "c": asynchronousReplicationMaximumBatchSize=: not a number Ehcache reads (a Java int), so Ehcache ran with 1000, the default; so does this',
      },
      {
        line: 4,
        kind: 'note',
        message:
          'cache "c": maximumChunkSizeBytes=5MB: not a number Ehcache reads (a Java int), so Ehcache ran with 5000000, the default; so does this',
      },
    ]);
    // Past a Java int is the same NumberFormatException; a sign and leading zeros Java reads.
    const java = replicated(
      'asynchronousReplicationIntervalMillis=3000000000, asynchronousReplicationMaximumBatchSize=+0500',
      'maximumChunkSizeBytes=0010000',
    );
    expect(java.config['caches']).toMatchObject({
      c: {
        replication: { asynchronousReplicationMaximumBatchSize: 500, replicateExpiries: false },
        bootstrap: { maximumChunkSizeBytes: 10000 },
      },
    });
    expect(java.report).toContainEqual({
      line: 3,
      kind: 'note',
      message: expect.stringMatching(
        /^cache "c": asynchronousReplicationIntervalMillis=3000000000: not a number Ehcache reads/,
      ),
    });
    // Said as a note, as Ehcache ran it: not "not converted" (meshcache's longest interval).
    expect(
      java.report.filter((line) => line.kind === 'not converted' && /asynchronous|Chunk/.test(line.message)),
    ).toEqual([]);
  });

  it('reads a property given twice in a factory’s properties as Ehcache did, the later value, and says so (found by the outside attack)', () => {
    // Ehcache loads the properties into a java.util.Properties: the later value of a key wins.
    const result = inline(
      [
        '<ehcache name="x">',
        '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
        '    properties="peerDiscovery=automatic, rmiUrls=//h1:40001/a,',
        '      peerDiscovery=manual, rmiUrls=//h2:40001/a"/>',
        '  <cache name="a" maxElementsInMemory="10">',
        '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"',
        '      properties="replicatePuts=false, replicatePuts=true"/>',
        '  </cache>',
        '</ehcache>',
      ].join('\n'),
    );
    expect(result.config['peerDiscovery']).toEqual({ mode: 'manual', peers: ['ws://h2:40001'] });
    expect(result.config['caches']).toMatchObject({ a: { replication: { replicatePuts: true } } });
    expect(result.report.filter((line) => line.message.includes('given twice'))).toEqual([
      {
        line: 4,
        kind: 'note',
        message:
          "peerDiscovery is given twice in cacheManagerPeerProviderFactory's properties: Ehcache (java.util.Properties) takes the later, peerDiscovery=manual; so does this",
      },
      {
        line: 4,
        kind: 'note',
        message:
          "rmiUrls is given twice in cacheManagerPeerProviderFactory's properties: Ehcache (java.util.Properties) takes the later, rmiUrls=//h2:40001/a; so does this",
      },
      {
        line: 7,
        kind: 'note',
        message:
          "replicatePuts is given twice in cacheEventListenerFactory's properties: Ehcache (java.util.Properties) takes the later, replicatePuts=true; so does this",
      },
    ]);
  });

  it('takes transactionalMode in any case, as Ehcache upper-cases it: "OFF" is off, a note (found by the outside attack)', () => {
    for (const mode of ['off', 'OFF', 'Off']) {
      const result = inline(
        `<ehcache name="x">\n  <cache name="c" maxElementsInMemory="10" transactionalMode="${mode}"/>\n</ehcache>`,
      );
      expect(result.complete).toBe(true);
      expect(result.report).toContainEqual({
        line: 2,
        kind: 'note',
        message: `cache "c": transactionalMode="${mode}": meshcache has no transactions`,
      });
    }
    const xa = inline(
      '<ehcache name="x">\n  <cache name="c" maxElementsInMemory="10" transactionalMode="XA"/>\n</ehcache>',
    );
    expect(xa.report).toContainEqual({
      line: 2,
      kind: 'not converted',
      message: 'cache "c": transactionalMode="XA": meshcache has no transactions',
    });
  });

  it('takes an empty listener port or socketTimeoutMillis as not given, as Ehcache did, with a note; other text is still exit 2 (found by the outside attack)', () => {
    const listener = (properties: string) =>
      inline(
        `<ehcache name="x">\n  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory"\n    properties="${properties}"/>\n</ehcache>`,
      );
    const empty = listener('hostName=10.0.0.1, port=, socketTimeoutMillis=');
    expect(empty.config['peerListener']).toEqual({ hostname: '10.0.0.1' });
    expect(empty.complete).toBe(true);
    expect(empty.report.filter((line) => line.message.includes('is empty'))).toEqual([
      {
        line: 3,
        kind: 'note',
        message: 'peer listener port= is empty: Ehcache took it as not given, and so does this (a free port)',
      },
      {
        line: 3,
        kind: 'note',
        message:
          'peer listener socketTimeoutMillis= is empty: Ehcache took it as not given, and so does this (meshcache’s default, 2000 ms; Ehcache’s was 120000)',
      },
    ]);
    // Integer.valueOf refuses a word there: Ehcache did not start.
    expect(() => listener('hostName=10.0.0.1, port=forty')).toThrow(
      'inline.xml:3: peer listener port="forty" must be a whole number',
    );
  });

  it('reads a persistence strategy in any case, as Ehcache upper-cases it (found by the outside attack: "LOCALTEMPSWAP" was exit 2)', () => {
    const persistence = (strategy: string) =>
      inline(
        `<ehcache name="x">\n  <diskStore path="/tmp/x"/>\n  <cache name="c" maxEntriesLocalHeap="100">\n    <persistence strategy="${strategy}"/>\n  </cache>\n</ehcache>`,
      );
    for (const strategy of ['LOCALTEMPSWAP', 'localtempswap', 'LocalTempSwap']) {
      expect(persistence(strategy).config['caches']).toEqual({ c: { maxElementsInMemory: 100, overflowToDisk: true } });
    }
    expect(persistence('LOCALRESTARTABLE').config['caches']).toEqual({
      c: { maxElementsInMemory: 100, overflowToDisk: true, diskPersistent: true },
    });
    expect(persistence('NONE').config['caches']).toEqual({ c: { maxElementsInMemory: 100 } });
    expect(persistence('DISTRIBUTED').report).toContainEqual({
      line: 4,
      kind: 'not converted',
      message: 'cache "c": persistence "distributed" defers to Terracotta, which meshcache has not',
    });
    // A name Strategy.valueOf does not know is still refused, as Ehcache refuses it.
    expect(() => persistence('tempSwap')).toThrow(
      'inline.xml:4: cache "c": persistence strategy="tempSwap" must be localTempSwap, localRestartable, none or distributed',
    );
  });

  it('reads peerDiscovery in any case, as Ehcache compares it ignoring case (found by the outside attack: "Manual" was exit 2)', () => {
    const provider = (properties: string) =>
      inline(
        [
          '<ehcache name="x">',
          '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
          `    properties="${properties}"/>`,
          '  <cache name="a" maxElementsInMemory="10">',
          '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
          '  </cache>',
          '</ehcache>',
        ].join('\n'),
      );
    for (const mode of ['Manual', 'MANUAL']) {
      expect(provider(`peerDiscovery=${mode}, rmiUrls=//h2:40001/a`).config['peerDiscovery']).toEqual({
        mode: 'manual',
        peers: ['ws://h2:40001'],
      });
    }
    expect(
      provider('peerDiscovery=AUTOMATIC, multicastGroupAddress=230.0.0.1, multicastGroupPort=4446').config[
        'peerDiscovery'
      ],
    ).toEqual({ mode: 'automatic' });
    expect(() => provider('peerDiscovery=Static')).toThrow(
      'inline.xml:3: peerDiscovery=Static must be manual or automatic',
    );
  });

  it('reports multicast timeToLive=0 (this host only, in Ehcache) as not converted and writes multicastTtl 1 (it was exit 4, "a bug in the importer")', () => {
    // As in Hands_On_Ehcache's ehcache-replication.xml (MathildeLemee/Hands_On_Ehcache) and Ehcache 2's
    // own distribution/ehcache-distributed.xml (ehcache/ehcache2): timeToLive is 0 to 255 there.
    const result = inline(
      [
        '<ehcache name="x">',
        '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
        '      properties="peerDiscovery=automatic,',
        '                  multicastGroupAddress=230.0.0.1,',
        '                  multicastGroupPort=4446, timeToLive=0"',
        '      propertySeparator=","/>',
        '  <cache name="a" maxElementsInMemory="10">',
        '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
        '  </cache>',
        '</ehcache>',
      ].join('\n'),
    );
    expect(result.complete).toBe(false);
    expect(result.config['peerDiscovery']).toEqual({ mode: 'automatic', multicastTtl: 1 });
    expect(result.report.filter((item) => item.kind === 'not converted')).toEqual([
      {
        line: 5,
        kind: 'not converted',
        message: expect.stringMatching(
          /^peer provider timeToLive=0: Ehcache's multicast stayed on this host; meshcache's mDNS takes 1 to 255, and 1 \(written\)/,
        ),
      },
    ]);
    // 1 to 255 convert as they are, without a line.
    const one = inline(
      '<ehcache name="x">\n  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"\n    properties="peerDiscovery=automatic, multicastGroupAddress=230.0.0.1, multicastGroupPort=4446, timeToLive=255"/>\n</ehcache>',
    );
    expect(one.config['peerDiscovery']).toEqual({ mode: 'automatic', multicastTtl: 255 });
    expect(one.report.filter((item) => item.message.includes('timeToLive'))).toEqual([]);
  });

  it('keeps the last of two RMI peer providers, and of two RMI listeners, as Ehcache did (it kept the first: manual peers where Ehcache ran multicast)', () => {
    // Ehcache keys its peer providers and listeners by scheme (ConfigurationHelper.createCachePeerProviders
    // and createCachePeerListeners, ehcache/ehcache2): a second RMI one replaces the first.
    const result = inline(
      [
        '<ehcache name="x">',
        '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
        '     properties="peerDiscovery=manual, rmiUrls=//h2:40001/a"/>',
        '  <cacheManagerPeerProviderFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerProviderFactory"',
        '     properties="peerDiscovery=automatic, multicastGroupAddress=230.0.0.1, multicastGroupPort=4446"/>',
        '  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory"',
        '     properties="hostName=10.0.0.1, port=40001"/>',
        '  <cacheManagerPeerListenerFactory class="net.sf.ehcache.distribution.RMICacheManagerPeerListenerFactory"',
        '     properties="hostName=10.0.0.1, port=40003"/>',
        '  <cache name="a" maxElementsInMemory="10">',
        '    <cacheEventListenerFactory class="net.sf.ehcache.distribution.RMICacheReplicatorFactory"/>',
        '  </cache>',
        '</ehcache>',
      ].join('\n'),
    );
    expect(result.config['peerDiscovery']).toEqual({ mode: 'automatic' });
    expect(result.config['peerListener']).toEqual({ hostname: '10.0.0.1', port: 40003 });
    expect(result.report.filter((item) => item.kind === 'not converted')).toEqual([
      {
        line: 2,
        kind: 'not converted',
        message:
          'an RMI peer provider replaced by the one on line 4: Ehcache keeps the last (its providers are keyed by scheme, RMI), and so does this',
      },
      {
        line: 6,
        kind: 'not converted',
        message:
          'an RMI peer listener replaced by the one on line 8: Ehcache keeps the last (its listeners are keyed by scheme, RMI), and so does this',
      },
    ]);
    // The one replaced says nothing else: its rmiUrls were not read.
    expect(result.report.filter((item) => item.message.includes('rmiUrls'))).toEqual([]);
  });

  it('says of a replicator over a transport of its own that it is one, not a listener to write in code (it said "takes listeners in code")', () => {
    // jamescarr/ehcache-amqpreplication's src/test/resources/ehcache.xml: replication over AMQP.
    const result = inline(
      [
        '<ehcache name="x">',
        '  <cache name="sampleCacheAsync" maxElementsInMemory="10000">',
        '    <cacheEventListenerFactory class="net.sf.ehcache.amqp.AMQCacheReplicatorFactory"',
        '                               properties="replicatePuts=true, host=dev.rabbitmq.com"/>',
        '    <cacheEventListenerFactory class="com.example.AuditListenerFactory"/>',
        '  </cache>',
        '</ehcache>',
      ].join('\n'),
    );
    expect(result.config['caches']).toEqual({ sampleCacheAsync: { maxElementsInMemory: 10000 } });
    expect(result.report.filter((item) => item.kind === 'not converted')).toEqual([
      {
        line: 3,
        kind: 'not converted',
        message:
          'cache "sampleCacheAsync": cacheEventListenerFactory net.sf.ehcache.amqp.AMQCacheReplicatorFactory: a replicator meshcache does not have; meshcache replicates over its own links: to replicate this cache, give it "replication": {"replicatePuts":true}',
      },
      {
        line: 5,
        kind: 'not converted',
        message: expect.stringMatching(
          /^cache "sampleCacheAsync": cacheEventListenerFactory com\.example\.AuditListenerFactory: meshcache takes listeners in code/,
        ),
      },
    ]);
  });

  it('suggests for a JGroups-replicated cache the replication its properties say, not {} (which copied puts where it invalidated)', () => {
    // uPortal-Project/uPortal's uPortal-webapp/src/main/resources/properties/ehcache.xml: replicated by invalidation.
    const result = inline(
      [
        '<ehcache name="x">',
        '    <cache name="org.apereo.portal.layout.dlm.FragmentActivator.userViews"',
        '        eternal="false" maxElementsInMemory="100" timeToLiveSeconds="600">',
        '        <cacheEventListenerFactory',
        '            class="net.sf.ehcache.distribution.jgroups.JGroupsCacheReplicatorFactory"',
        '            properties="replicateAsynchronously=true,',
        '                replicatePuts=false,',
        '                replicateUpdates=true, replicateUpdatesViaCopy=false,',
        '                replicateRemovals=true "/>',
        '    </cache>',
        '    <cache name="b" maxElementsInMemory="100">',
        '        <cacheEventListenerFactory class="net.sf.ehcache.distribution.jms.JMSCacheReplicatorFactory"/>',
        '    </cache>',
        '</ehcache>',
      ].join('\n'),
    );
    expect(result.report.filter((item) => item.kind === 'not converted')).toEqual([
      {
        line: 5,
        kind: 'not converted',
        message:
          'cache "org.apereo.portal.layout.dlm.FragmentActivator.userViews": cacheEventListenerFactory net.sf.ehcache.distribution.jgroups.JGroupsCacheReplicatorFactory: meshcache replicates over its own links, not JGroups or JMS; to replicate this cache, give it "replication": {"replicateAsynchronously":true,"replicatePuts":false,"replicateUpdates":true,"replicateUpdatesViaCopy":false,"replicateRemovals":true}',
      },
      {
        line: 12,
        kind: 'not converted',
        message:
          'cache "b": cacheEventListenerFactory net.sf.ehcache.distribution.jms.JMSCacheReplicatorFactory: meshcache replicates over its own links, not JGroups or JMS; to replicate this cache, give it "replication": {}',
      },
    ]);
    expect(result.config['caches']).toEqual({
      'org.apereo.portal.layout.dlm.FragmentActivator.userViews': {
        eternal: false,
        maxElementsInMemory: 100,
        timeToLiveSeconds: 600,
      },
      b: { maxElementsInMemory: 100 },
    });
  });

  it('reads <ehcache monitoring> and dynamicConfig in any case, as Ehcache does: "FALSE" is false, "ON" is on (found by the outside attack)', () => {
    const root = (attributes: string) =>
      inline(`<ehcache name="x" ${attributes}>\n  <cache name="a" maxElementsInMemory="10"/>\n</ehcache>`);
    const off = root('dynamicConfig="FALSE" monitoring="OFF"');
    expect(off.complete).toBe(true);
    expect(
      off.report.filter((line) => line.message.startsWith('<ehcache')).map((line) => [line.kind, line.message]),
    ).toEqual([
      [
        'note',
        '<ehcache dynamicConfig="FALSE">: meshcache fixes a cache’s settings when it is added, as dynamicConfig="false" does',
      ],
      ['note', '<ehcache monitoring="OFF">: Terracotta monitoring; nothing to monitor here'],
    ]);
    const on = root('monitoring="ON"');
    expect(on.report).toContainEqual({
      line: 1,
      kind: 'not converted',
      message: expect.stringMatching(
        /^<ehcache monitoring="ON">: the Terracotta Developer Console does not exist here/,
      ),
    });
  });

  it('reports a cache name holding a system-property token as not converted: Ehcache named the cache by the property’s value (found by the outside attack)', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Ehcache's own token syntax, as written in the file
    const name = '${region}.orders';
    const result = inline(`<ehcache name="x">\n  <cache name="${name}"\n    maxElementsInMemory="10"/>\n</ehcache>`);
    expect(result.complete).toBe(false);
    expect(result.report).toContainEqual({
      line: 2,
      kind: 'not converted',
      message: `cache name="${name}": an Ehcache system-property token, which meshcache does not substitute: the cache is written under this name; rename it in "caches" to the property's value`,
    });
    expect(result.config['caches']).toEqual({ [name]: { maxElementsInMemory: 10 } });
  });

  it('reads a number in a cache attribute as Ehcache’s Long.decode does: a leading 0 is octal, 0x and # hexadecimal, with a note (found by the outside attack: "0600" became 600 in silence)', () => {
    const cache = (attributes: string) => inline(`<ehcache name="x">\n  <cache name="c" ${attributes}/>\n</ehcache>`);
    const radixes = cache('maxElementsInMemory="0x10" timeToLiveSeconds="0600" timeToIdleSeconds="#3C"');
    expect(radixes.config['caches']).toEqual({
      c: { maxElementsInMemory: 16, timeToLiveSeconds: 384, timeToIdleSeconds: 60 },
    });
    expect(radixes.report.filter((line) => line.message.includes('Long.decode'))).toEqual([
      {
        line: 2,
        kind: 'note',
        message:
          'cache "c": maxElementsInMemory="0x10": Ehcache reads it as hexadecimal (Long.decode), 16; so does this',
      },
      {
        line: 2,
        kind: 'note',
        message: 'cache "c": timeToLiveSeconds="0600": Ehcache reads it as octal (Long.decode), 384; so does this',
      },
      {
        line: 2,
        kind: 'note',
        message: 'cache "c": timeToIdleSeconds="#3C": Ehcache reads it as hexadecimal (Long.decode), 60; so does this',
      },
    ]);
    // A sign Long.decode takes; plain decimals and 0 are read as before, without a note.
    const plain = cache('maxElementsInMemory="+100" timeToLiveSeconds="0" timeToIdleSeconds="60"');
    expect(plain.config['caches']).toEqual({
      c: { maxElementsInMemory: 100, timeToLiveSeconds: 0, timeToIdleSeconds: 60 },
    });
    expect(plain.report.filter((line) => line.message.includes('Long.decode'))).toEqual([]);
    // Octal with an 8 or 9 is a NumberFormatException in Ehcache: refused here too. A negative one is < 0.
    expect(() => cache('maxElementsInMemory="10" timeToLiveSeconds="090"')).toThrow(
      'inline.xml:2: cache "c": timeToLiveSeconds="090": Ehcache reads a number led by 0 as octal (Long.decode), and refuses this one',
    );
    expect(() => cache('maxElementsInMemory="-0x1"')).toThrow(
      'inline.xml:2: cache "c": maxElementsInMemory="-0x1" must be >= 0',
    );
  });

  it('reads at most 64 MiB: a larger file is exit 2 saying so, read no further (found by the outside attack: /dev/zero took all memory)', async () => {
    const file = join(dir, 'too-large.xml');
    writeFileSync(
      file,
      Buffer.concat([Buffer.from('<ehcache>'), Buffer.alloc(64 * 1024 * 1024, 0x20), Buffer.from('</ehcache>')]),
    );
    const result = await cli(['import-ehcache', file, '--name', 'n']);
    expect([result.code, result.out]).toEqual([2, '']);
    expect(result.err).toBe(
      `meshcache: cannot read ${file}: it is larger than 64 MiB, which no ehcache.xml is (is it the right file?)\n`,
    );
    rmSync(file);
  });
});
