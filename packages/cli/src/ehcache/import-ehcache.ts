/**
 * From an Ehcache 2 `ehcache.xml` to a meshcache configuration (the file format of docs/configuration.md).
 *
 * The model: every element and attribute of the file ends in exactly one of three places.
 * - Converted: a meshcache field with the same meaning (`maxEntriesLocalHeap` becomes
 *   `maxElementsInMemory`, RMI `rmiUrls` become peer URLs, RMICacheReplicatorFactory properties
 *   become the cache's `replication`, ...).
 * - A note: Ehcache behaviour that meshcache has anyway, or that is carried over in another form
 *   (`transactionalMode="off"`, `copyOnRead="false"`, a `java.io.tmpdir` disk path resolved to
 *   this machine's, the defaultCache written as a named cache). Reported, and the conversion still
 *   counts as complete.
 * - Not converted: behaviour meshcache does not reproduce (the CLOCK policy, JGroups and JMS
 *   replication, Terracotta, `copyOnRead="true"`, RMI-specific ports, a listener without a
 *   hostName, ...). Reported with its line and the reason; the rest of the file still converts.
 * Nothing is dropped without a line saying so. Values Ehcache itself refuses (a negative TTL, a
 * word where a number goes, a malformed RMI URL) are errors naming the file and line, and nothing
 * is produced. Ehcache 2 silently replaced some bad values with defaults (an interval under 10 ms,
 * a chunk size out of range, a sweep interval <= 0, a replicator or bootstrap property that is not
 * a number); the importer writes what Ehcache ran with and says so.
 *
 * What the importer never writes: a secret (the caller tells the user to add one), and `name`
 * unless given (every node needs its own). The result is checked with meshcache's own validation
 * (resolveClusterConfig, and each cache's settings as addCache checks them) before it is returned.
 *
 * Here: the walk of the file, its root and top-level elements, and the config put together. The
 * converters of its parts are convert-cache.ts (caches, their replication and bootstrap),
 * convert-peers.ts (the RMI provider and listener) and convert-disk-store.ts; importer.ts holds
 * the report and the readings they share (properties, numbers, booleans as Ehcache read them).
 */
import { tmpdir } from 'node:os';
import { resolveClusterConfig } from '@meshcache/replication';
import { type ConvertedCache, convertCache } from './convert-cache.js';
import { convertDiskStore, ownDirectoryIn } from './convert-disk-store.js';
import { cacheNameProblem, clusterNameProblem, convertPeerListener, convertPeerProvider } from './convert-peers.js';
import {
  attribute,
  classLine,
  EhcacheImportError,
  type ImportEhcacheOptions,
  Importer,
  type ImportReportKind,
  type ImportReportLine,
  isXmlPlumbing,
  type Json,
  ownValue,
  RMI_PEER_LISTENER,
  RMI_PEER_PROVIDER,
} from './importer.js';
import { parseXml, type XmlElement, XmlSyntaxError } from './xml.js';

export type { ImportEhcacheOptions, ImportReportKind, ImportReportLine } from './importer.js';
export { EhcacheImportError } from './importer.js';

export interface ImportEhcacheResult {
  /** The meshcache configuration, ready for JSON.stringify. */
  readonly config: Record<string, unknown>;
  /** Every note and everything not converted, in file order. */
  readonly report: readonly ImportReportLine[];
  /** True when nothing was left unconverted (notes allowed). */
  readonly complete: boolean;
  readonly caches: number;
  readonly replicatedCaches: number;
}

/** Elements under <ehcache> that meshcache has no equivalent for, and why. */
const TOP_ELEMENTS_NOT_CONVERTED: Readonly<Record<string, string>> = {
  transactionManagerLookup: 'meshcache has no transactions (JTA/XA)',
  terracottaConfig: 'meshcache has no Terracotta server: nodes replicate peer to peer',
};

const ROOT_ATTRIBUTE_NOTES: Readonly<Record<string, (value: string) => { kind: ImportReportKind; reason: string }>> = {
  updateCheck: () => ({ kind: 'note', reason: 'meshcache never checks for updates' }),
  // Ehcache reads monitoring upper-cased (Monitoring.valueOf) and dynamicConfig as a Java boolean:
  // "ON" is on, "FALSE" is false.
  monitoring: (value) =>
    value.toLowerCase() === 'on'
      ? {
          kind: 'not converted',
          reason:
            'the Terracotta Developer Console does not exist here; look at a node with meshcache peers and meshcache stats',
        }
      : { kind: 'note', reason: 'Terracotta monitoring; nothing to monitor here' },
  dynamicConfig: (value) =>
    value.toLowerCase() === 'false'
      ? { kind: 'note', reason: 'meshcache fixes a cache’s settings when it is added, as dynamicConfig="false" does' }
      : {
          kind: 'not converted',
          reason:
            'meshcache fixes a cache’s settings when it is added; code that changed TTL or sizes at run time must add the cache anew',
        },
  defaultTransactionTimeoutInSeconds: () => ({ kind: 'not converted', reason: 'meshcache has no transactions' }),
  maxBytesLocalHeap: () => ({
    kind: 'not converted',
    reason: 'meshcache has no pool of bytes shared by caches: give each cache its own maxBytesLocalHeap',
  }),
  maxBytesLocalOffHeap: () => ({ kind: 'not converted', reason: 'meshcache has no off-heap tier' }),
  maxBytesLocalDisk: () => ({
    kind: 'not converted',
    reason: 'meshcache bounds each cache’s disk tier by entries (maxElementsOnDisk)',
  }),
};

export function importEhcache(xml: string, options: ImportEhcacheOptions = {}): ImportEhcacheResult {
  const file = options.fileName ?? 'ehcache.xml';
  let parsed: ReturnType<typeof parseXml>;
  try {
    parsed = parseXml(xml, file);
  } catch (error) {
    if (error instanceof XmlSyntaxError) throw new EhcacheImportError(`${error.message} (not well-formed XML)`);
    throw error;
  }
  const { root, lines } = parsed;
  const imp = new Importer(file, lines, options);
  if (root.name !== 'ehcache') {
    const ehcache3 = root.name === 'config' || root.name.endsWith(':config');
    imp.fail(
      root.line,
      ehcache3
        ? `<${root.name}> is an Ehcache 3 configuration; this importer reads Ehcache 2's ehcache.xml (Ehcache 3 has no RMI replication to carry over)`
        : `the root element is <${root.name}>, not <ehcache>: not an Ehcache 2 configuration`,
    );
  }

  betweenTags(imp, root);

  let cacheManagerName: string | undefined;
  for (const attr of root.attributes) {
    if (isXmlPlumbing(attr.name)) continue;
    if (attr.name === 'name') {
      cacheManagerName = imp.text('', attr, 'ehcache name') || undefined;
      continue;
    }
    if (attr.name === 'maxBytesLocalHeap') imp.heapPool = true;
    const rule = ownValue(ROOT_ATTRIBUTE_NOTES, attr.name);
    if (rule === undefined) {
      imp.notConverted(attr.line, `<ehcache ${attr.name}="${attr.value}"> is not an attribute this importer knows`);
      continue;
    }
    const { kind, reason } = rule(attr.value.trim());
    if (kind === 'note') imp.note(attr.line, `<ehcache ${attr.name}="${attr.value}">: ${reason}`);
    else imp.notConverted(attr.line, `<ehcache ${attr.name}="${attr.value}">: ${reason}`);
  }

  const caches = new Map<string, ConvertedCache>();
  let defaultCache: { converted: ConvertedCache; element: XmlElement } | undefined;
  let diskStore: { path: string | undefined; line: number } | undefined;
  const rmiListeners: XmlElement[] = [];
  const providers: XmlElement[] = [];
  for (const child of root.children) {
    switch (child.name) {
      case 'diskStore':
        // Ehcache refuses a second one (Configuration.addDiskStore); the later won here, in silence.
        if (diskStore !== undefined) imp.fail(child.line, 'a second diskStore: Ehcache allows one');
        diskStore = { path: convertDiskStore(imp, child), line: child.line };
        break;
      case 'defaultCache':
        if (defaultCache !== undefined) imp.fail(child.line, 'a second defaultCache: Ehcache allows one');
        defaultCache = { converted: convertCache(imp, child, 'defaultCache: '), element: child };
        break;
      case 'cache': {
        const nameAttribute = attribute(child, 'name');
        const name = nameAttribute?.value.trim() ?? '';
        if (name === '') imp.fail(child.line, '<cache> needs a name');
        if (caches.has(name)) imp.fail(child.line, `a second cache named "${name}": Ehcache refuses this`);
        const refused = cacheNameProblem(name);
        if (refused !== undefined) {
          // A name XML can hold (&#9;) and meshcache cannot (it names a database on disk, crosses to peers as UTF-8).
          imp.notConverted(child.line, `${refused}: left out; rename the cache`);
          break;
        }
        if (name.includes('${') && nameAttribute !== undefined) {
          // Ehcache substituted the system property before it read the file: the cache's real name
          // is the property's value, which the file does not hold. Written as it is, and said.
          imp.notConverted(
            nameAttribute.line,
            `cache name="${name}": an Ehcache system-property token, which meshcache does not substitute: the cache is written under this name; rename it in "caches" to the property's value`,
          );
        }
        caches.set(name, convertCache(imp, child, `cache "${name}": `));
        break;
      }
      case 'cacheManagerPeerProviderFactory':
        providers.push(child);
        break;
      case 'cacheManagerPeerListenerFactory': {
        const className = attribute(child, 'class')?.value.trim() ?? '';
        if (className !== RMI_PEER_LISTENER) {
          imp.notConverted(
            classLine(child),
            `cacheManagerPeerListenerFactory ${className || '(no class)'}: meshcache listens on its own WebSocket listener (peerListener)`,
          );
        } else rmiListeners.push(child);
        break;
      }
      case 'cacheManagerEventListenerFactory': {
        const className = attribute(child, 'class')?.value.trim() ?? '';
        if (className === '')
          imp.note(child.line, 'cacheManagerEventListenerFactory without a class: no listener, as in Ehcache');
        else
          imp.notConverted(
            classLine(child),
            `cacheManagerEventListenerFactory ${className}: meshcache has no cache-manager events; caches are fixed by the configuration`,
          );
        break;
      }
      case 'managementRESTService': {
        const enabled = attribute(child, 'enabled');
        if (enabled !== undefined && imp.boolean('', enabled, 'managementRESTService enabled') === false) {
          imp.note(child.line, 'managementRESTService enabled="false": nothing to serve');
        } else {
          imp.notConverted(
            child.line,
            'managementRESTService: meshcache has no REST management service; look at a node with meshcache peers and meshcache stats',
          );
        }
        break;
      }
      case 'sizeOfPolicy':
        imp.note(child.line, '<sizeOfPolicy>: meshcache does not size values (it bounds caches by entries)');
        break;
      default: {
        const reason = ownValue(TOP_ELEMENTS_NOT_CONVERTED, child.name);
        imp.notConverted(child.line, `<${child.name}>: ${reason ?? 'not an Ehcache 2 element this importer knows'}`);
      }
    }
  }

  // Ehcache keeps its peer listeners, as its peer providers, in a map keyed by scheme
  // (ConfigurationHelper.createCachePeerListeners): of two RMI ones, the later replaced the earlier.
  // The first was converted here, and the node listened where Ehcache never did.
  const lastListener = rmiListeners.at(-1);
  for (const earlier of rmiListeners.slice(0, -1)) {
    imp.notConverted(
      earlier.line,
      `an RMI peer listener replaced by the one on line ${lastListener?.line}: Ehcache keeps the last (its listeners are keyed by scheme, RMI), and so does this`,
    );
  }
  const listener = lastListener === undefined ? undefined : convertPeerListener(imp, lastListener);

  // The defaultCache is a template in Ehcache (CacheManager.add(name)); meshcache names every cache.
  const defaultNames = options.defaultCacheNames ?? ['default'];
  if (defaultCache === undefined && options.defaultCacheNames !== undefined) {
    // Asked for by name (--default-cache), and nothing to write it from: it was left out in silence.
    for (const name of options.defaultCacheNames) {
      imp.notConverted(
        root.line,
        `--default-cache ${JSON.stringify(name)}: the file has no <defaultCache> to write it from, so the config has no such cache; give it its settings in "caches"`,
      );
    }
  }
  if (defaultCache !== undefined) {
    for (const name of defaultNames) {
      if (caches.has(name)) {
        imp.fail(
          defaultCache.element.line,
          `defaultCache: a cache named "${name}" exists already; choose another --default-cache name`,
        );
      }
      caches.set(name, { ...defaultCache.converted, config: structuredClone(defaultCache.converted.config) });
    }
    imp.note(
      defaultCache.element.line,
      defaultNames.length === 0
        ? 'defaultCache: left out (no --default-cache name); meshcache creates no cache from a template at run time'
        : `defaultCache written as ${defaultNames.map((n) => `"${n}"`).join(', ')}: meshcache creates no cache from a template at run time; a cache your code made with CacheManager.add(name) must be named in "caches" (--default-cache NAME, repeatable)`,
    );
  }

  const replicated = new Map([...caches].filter(([, cache]) => cache.replicated));
  let discovery: Json | undefined;
  let multicast: string | undefined;
  let rmiProvider = false;
  const isRmi = (provider: XmlElement) => (attribute(provider, 'class')?.value.trim() ?? '') === RMI_PEER_PROVIDER;
  // The later of two RMI providers replaced the earlier in Ehcache (a map keyed by scheme,
  // ConfigurationHelper.createCachePeerProviders); the first was converted here: manual peers where
  // Ehcache ran multicast, say.
  const lastRmiProvider = providers.filter(isRmi).at(-1);
  for (const provider of providers) {
    const className = attribute(provider, 'class')?.value.trim() ?? '';
    if (isRmi(provider) && provider !== lastRmiProvider) {
      imp.notConverted(
        provider.line,
        `an RMI peer provider replaced by the one on line ${lastRmiProvider?.line}: Ehcache keeps the last (its providers are keyed by scheme, RMI), and so does this`,
      );
    } else if (className !== RMI_PEER_PROVIDER) {
      imp.notConverted(
        classLine(provider),
        `cacheManagerPeerProviderFactory ${className || '(no class)'}: meshcache finds peers by a manual list, DNS or mDNS (peerDiscovery), not ${/jgroups/i.test(className) ? 'JGroups' : /jms/i.test(className) ? 'JMS' : 'this provider'}`,
      );
    } else {
      rmiProvider = true;
      ({ discovery, multicast } = convertPeerProvider(imp, provider, replicated, {
        caches: new Set(caches.keys()),
        defaultReplicated: defaultCache?.converted.replicated === true,
      }));
    }
  }
  if (replicated.size > 0 && !rmiProvider) {
    const first = [...replicated.values()][0];
    imp.notConverted(
      first?.line ?? root.line,
      'replicated caches but no RMI cacheManagerPeerProviderFactory: no peer is configured; add peerDiscovery',
    );
  }
  if (replicated.size > 0 && listener === undefined) {
    const first = [...replicated.values()][0];
    imp.note(
      first?.line ?? root.line,
      'replicated caches but no cacheManagerPeerListenerFactory: Ehcache received nothing from peers; meshcache always listens (127.0.0.1, a free port, unless peerListener says otherwise)',
    );
  }

  const usesDisk = [...caches.values()].some(
    (c) => c.config['overflowToDisk'] === true || c.config['diskPersistent'] === true,
  );
  let diskStorePath = diskStore?.path;
  if (usesDisk && diskStorePath === undefined) {
    diskStorePath = ownDirectoryIn(options.tmpdir ?? tmpdir(), options.name);
    imp.note(
      diskStore?.line ?? root.line,
      diskStore === undefined
        ? `caches use the disk but there is no diskStore: Ehcache used java.io.tmpdir, here "${diskStorePath}" (a directory of its own in it)`
        : `caches use the disk and the diskStore path could not be converted: "${diskStorePath}" for now, as Ehcache without a diskStore`,
    );
  }

  let cluster = options.cluster ?? (multicast !== undefined ? `ehcache-${multicast}` : (cacheManagerName ?? 'ehcache'));
  const clusterProblem = options.cluster === undefined ? clusterNameProblem(cluster) : undefined;
  if (clusterProblem !== undefined) {
    // A CacheManager name (or multicast group) meshcache cannot take as a cluster name (past 256
    // bytes, a control character): it was exit 1, "a bug in the importer", with nothing written.
    imp.notConverted(
      root.line,
      `cluster ${JSON.stringify(cluster.length > 60 ? `${cluster.slice(0, 60)}...` : cluster)}: ${clusterProblem}; "ehcache" is written instead: choose one with --cluster`,
    );
    cluster = 'ehcache';
  } else if (options.cluster === undefined) {
    imp.note(
      root.line,
      `cluster "${cluster}" (${multicast !== undefined ? 'from the multicast group, which kept Ehcache clusters apart' : cacheManagerName !== undefined ? 'the CacheManager name' : 'no name in the file'}): every node of one cluster needs the same; --cluster to choose`,
    );
  }

  const config: Json = {};
  if (options.name !== undefined) config['name'] = options.name;
  config['cluster'] = cluster;
  if (diskStorePath !== undefined) config['diskStorePath'] = diskStorePath;
  if (listener !== undefined && Object.keys(listener).length > 0) config['peerListener'] = listener;
  if (discovery !== undefined) config['peerDiscovery'] = discovery;
  config['caches'] = Object.fromEntries([...caches].map(([name, cache]) => [name, cache.config]));

  checkWithMeshcache(config);
  const report = [...imp.report].sort((a, b) => a.line - b.line);
  return {
    config,
    report,
    complete: !report.some((line) => line.kind === 'not converted'),
    caches: caches.size,
    replicatedCaches: replicated.size,
  };
}

/**
 * Elements whose settings are all attributes (a factory's class and properties, a path, a
 * strategy): one nested in them is read by nothing here, and was dropped in silence.
 */
const TAKES_NO_ELEMENTS: ReadonlySet<string> = new Set([
  'diskStore',
  'cacheManagerPeerProviderFactory',
  'cacheManagerPeerListenerFactory',
  'cacheManagerEventListenerFactory',
  'cacheEventListenerFactory',
  'bootstrapCacheLoaderFactory',
  'cacheExceptionHandlerFactory',
  'cacheLoaderFactory',
  'cacheExtensionFactory',
  'cacheDecoratorFactory',
  'persistence',
]);

/**
 * Text between an element's tags (`<cache name="a">maxEntriesLocalHeap=100</cache>`): Ehcache's
 * BeanHandler reads attributes and child elements only, and ignores text, so the file ran without
 * it; so does the conversion, with a note on the text's line (it was left out in silence). Every
 * element of the file, at any depth, iteratively (a deep file is no stack overflow), but the
 * Terracotta configuration in <terracottaConfig><tc-config>, which Ehcache hands on as text and
 * which is reported as not converted whole. And an element nested in one that takes none
 * (TAKES_NO_ELEMENTS), as not converted.
 */
function betweenTags(imp: Importer, root: XmlElement): void {
  const pending: XmlElement[] = [root];
  for (let element = pending.pop(); element !== undefined; element = pending.pop()) {
    if (element.name === 'tc-config') continue;
    if (TAKES_NO_ELEMENTS.has(element.name)) {
      for (const child of element.children) {
        imp.notConverted(
          child.line,
          `<${child.name}> inside <${element.name}>: Ehcache's <${element.name}> takes its settings as attributes and no nested elements; left out`,
        );
      }
    }
    if (element.text !== '') {
      const shown = element.text.length > 60 ? `${element.text.slice(0, 60)}...` : element.text;
      imp.note(
        element.textLine ?? element.line,
        `text inside <${element.name}>, ${JSON.stringify(shown)}: Ehcache ignores text between tags (it reads attributes and elements), and so does this`,
      );
    }
    for (let i = element.children.length - 1; i >= 0; i--) {
      const child = element.children[i];
      if (child !== undefined) pending.push(child);
    }
  }
}

/** The result must be what meshcache accepts; anything else is a bug here, said plainly. */
function checkWithMeshcache(config: Json): void {
  try {
    // A stand-in secret, long enough for a listener off loopback (32 bytes): the user adds the real one.
    resolveClusterConfig({ name: 'import-check', ...config }, { MESHCACHE_SECRET: 'x'.repeat(64) });
  } catch (error) {
    throw new Error(
      `import-ehcache produced a configuration meshcache refuses (a bug in the importer): ${(error as Error).message}`,
    );
  }
}
