/**
 * A <cache> or <defaultCache> element to a meshcache cache: its bounds, lifespans, eviction
 * policy and disk tier (persistence strategies included), and its RMICacheReplicatorFactory and
 * bootstrapCacheLoaderFactory properties as the cache's `replication` and `bootstrap`, each value
 * as Ehcache ran it.
 */
import { parseBytes } from '@meshcache/core';
import {
  attribute,
  classLine,
  DISK_BOOTSTRAP,
  type Importer,
  isXmlPlumbing,
  type Json,
  ownValue,
  RMI_BOOTSTRAP,
  RMI_REPLICATOR,
} from './importer.js';
import { javaTrim } from './properties.js';
import type { XmlAttribute, XmlElement } from './xml.js';

/** A disk bound past which the importer notes what it costs in memory (100 MB at 100 bytes a key). */
export const LARGE_DISK_BOUND = 1_000_000;

/** Elements under <cache> that meshcache has no equivalent for, and why. */
export const CACHE_ELEMENTS_NOT_CONVERTED: Readonly<Record<string, string>> = {
  cacheLoaderFactory: 'meshcache has no configured CacheLoader: load in code with cache.getOrLoad(key, loader)',
  cacheExtensionFactory: 'meshcache has no cache extensions: run such code beside the cache',
  cacheExceptionHandlerFactory: 'meshcache has no exception handlers: its calls throw errors with a stable code',
  cacheDecoratorFactory: 'meshcache has no cache decorators: wrap the cache in code',
  copyStrategy: 'meshcache never copies values (copyOnRead/copyOnWrite)',
  elementValueComparator: 'meshcache has no compare-and-set operations (removeElement, replace)',
  searchable: 'meshcache has no search: keep an index of your own',
  pinning: 'meshcache has no pinning: size the cache (maxElementsInMemory 0 = unlimited) so entries stay',
  cacheWriter: 'meshcache has no write-through or write-behind: write to the system of record in code',
};

export interface ConvertedCache {
  readonly config: Json;
  readonly replicated: boolean;
  /** Line of the cacheEventListenerFactory that made it replicated. */
  readonly line: number;
}

// ------------------------------------------------------------------------------- caches

/**
 * Ehcache sizes a cache's heap by entries or by bytes, never both: from 2.5 it refuses a cache
 * with a bound of each above 0, and one with entries above 0 when <ehcache> has a byte pool
 * (CacheConfiguration.validateCachePools; 0 is no bound); and it refuses a cache with neither
 * unless there is a pool (validate; up to 2.4 such a cache held any number of entries). meshcache
 * holds both bounds together and defaults to 10,000 entries: both on one cache is refused here
 * too; entries under the pool (reported as not converted) are kept, and said; a cache with
 * neither gets meshcache's default, and is said to, since neither of Ehcache's readings is what
 * it will do now.
 */
export function heapBound(
  imp: Importer,
  element: XmlElement,
  where: string,
  config: Json,
  entriesFrom: XmlAttribute | undefined,
): void {
  const bytesFrom = attribute(element, 'maxBytesLocalHeap');
  // The bounds as converted (each checked there, or reported and left out), not read again.
  const entries = Number(config['maxElementsInMemory'] ?? 0);
  const bytes = typeof config['maxBytesLocalHeap'] === 'string' ? (parseBytes(config['maxBytesLocalHeap']) ?? 0) : 0;
  if (entriesFrom !== undefined && entries > 0 && bytesFrom !== undefined && bytes > 0) {
    imp.fail(
      Math.max(entriesFrom.line, bytesFrom.line),
      `${where}${entriesFrom.name} and maxBytesLocalHeap together: Ehcache refuses this (a cache's heap is sized by entries or by bytes); keep one`,
    );
  }
  if (entriesFrom !== undefined && entries > 0 && imp.heapPool) {
    // The pool itself is reported as not converted; what the cache says of itself is kept.
    imp.note(
      entriesFrom.line,
      `${where}${entriesFrom.name}="${entriesFrom.value}" under <ehcache maxBytesLocalHeap>: Ehcache 2.5 and later refuse a cache bound by entries in a byte pool; meshcache has no pool, and keeps this bound`,
    );
  }
  if (entriesFrom !== undefined || bytesFrom !== undefined) return;
  imp.note(
    element.line,
    `${where}no maxEntriesLocalHeap (maxElementsInMemory) nor maxBytesLocalHeap: ${
      imp.heapPool
        ? 'Ehcache sized it from the CacheManager’s maxBytesLocalHeap pool, which meshcache has not'
        : 'Ehcache 2.5 and later refuse this, and earlier ones held any number of entries'
    }; meshcache holds at most 10,000 (its default): give it maxElementsInMemory (0 = no bound) or maxBytesLocalHeap`,
  );
}

/**
 * A cache's maxBytesLocalHeap as Ehcache 2.5 and later read it: MemoryUnit.parseSizeInBytes (a
 * last char that is not a digit is the unit, b, k, m or g in any case; the amount before it,
 * trimmed, is Long.parseLong's, so a sign too), then CacheConfiguration's "has to be larger than
 * 0". meshcache reads "0" as no byte bound and takes a "t", so the file Ehcache refused was
 * converted to an unbounded cache, or a terabyte; "+5m", which Ehcache ran as 5 MB, was left out.
 */
function ehcacheSize(text: string): { written: string; bytes: number } | { refused: string } {
  const last = text.at(-1) ?? '';
  const unit = last !== '' && (last < '0' || last > '9') ? last.toLowerCase() : '';
  const factor = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit];
  if (factor === undefined) {
    return {
      refused: `Ehcache refuses this: its units are b, k, m and g ("'${last}' suffix doesn't match any SizeUnit")`,
    };
  }
  const amount = unit === '' ? text : javaTrim(text.slice(0, -1));
  if (!/^[+-]?\d+$/.test(amount) || BigInt(amount) > 2n ** 63n - 1n) {
    return { refused: 'Ehcache refuses this: not a whole number of bytes, or one with a unit ("512k", "256m", "2g")' };
  }
  const value = BigInt(amount);
  if (value < 1n) return { refused: 'Ehcache refuses this: a size has to be larger than 0' };
  const bytes = value * BigInt(factor);
  return {
    written: `${value}${unit}`,
    bytes: bytes <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(bytes) : Number.POSITIVE_INFINITY,
  };
}

/**
 * The replicator's whole-number properties (default 1000 in both): what Ehcache replaced with its
 * default (under `below`), and what meshcache cannot take (over `above`, and why).
 */
const REPLICATION_INTS: Readonly<Record<string, { below: number; above: number; why: string }>> = {
  asynchronousReplicationIntervalMillis: {
    below: 10,
    above: 3_600_000,
    why: "meshcache's longest interval is 3600000 (1 h)",
  },
  asynchronousReplicationMaximumBatchSize: {
    below: 1,
    above: 100_000,
    why: 'meshcache sends at most 100000 changes a frame',
  },
};

/** What Ehcache ran with where these attributes were not above 0 (CacheConfiguration's defaults). */
const DEFAULT_WHEN_NOT_POSITIVE = { diskExpiryThreadIntervalSeconds: 120, diskSpoolBufferSizeMB: 30 } as const;

export function convertCache(imp: Importer, element: XmlElement, where: string): ConvertedCache {
  const config: Json = {};
  let eternal: { value: boolean; line: number } | undefined;
  let heapFrom: XmlAttribute | undefined;
  // What <persistence> may not be given with (CacheConfiguration.addPersistence): a diskPersistent
  // attribute of any value, an overflowToDisk="true". An overflowToDisk="false" it takes.
  let diskAttributes: XmlAttribute | undefined;
  for (const attr of element.attributes) {
    const name = attr.name;
    if (name === 'name' || isXmlPlumbing(name)) continue;
    switch (name) {
      case 'maxElementsInMemory':
      case 'maxEntriesLocalHeap': {
        if (heapFrom !== undefined) {
          imp.note(
            attr.line,
            `${where}both ${heapFrom.name} and ${name}: Ehcache takes the later, ${name}; so does this`,
          );
        }
        heapFrom = attr;
        const value = imp.attributeNumber(where, attr, name, 0, 2_147_483_647);
        if (value !== undefined) config['maxElementsInMemory'] = value;
        break;
      }
      case 'maxElementsOnDisk':
      case 'maxEntriesLocalDisk': {
        const value = imp.attributeNumber(where, attr, name, 0, 2_147_483_647);
        if (value !== undefined) config['maxElementsOnDisk'] = value;
        // Ehcache kept a disk bound's order on disk; meshcache keeps it in memory (about 100
        // bytes a key), so a bound that Ehcache configs set high for comfort costs real heap.
        if (value !== undefined && value > LARGE_DISK_BOUND) {
          imp.note(
            attr.line,
            `${where}${name}="${attr.value}": a bounded disk tier keeps its write order in memory, about 100 bytes a key (~${Math.round((value * 100) / 1e6).toLocaleString('en')} MB at this bound); 0 means unbounded and keeps none`,
          );
        }
        break;
      }
      case 'eternal': {
        const value = imp.boolean(where, attr, name);
        if (value !== undefined) {
          config['eternal'] = value;
          eternal = { value, line: attr.line };
        }
        break;
      }
      case 'timeToIdleSeconds':
      case 'timeToLiveSeconds': {
        const value = imp.attributeNumber(where, attr, name);
        if (value !== undefined) config[name] = value;
        break;
      }
      case 'overflowToDisk':
      case 'diskPersistent': {
        const value = imp.boolean(where, attr, name);
        if (name === 'diskPersistent' || value === true) diskAttributes ??= attr;
        if (value !== undefined) config[name] = value;
        break;
      }
      case 'diskExpiryThreadIntervalSeconds':
      case 'diskSpoolBufferSizeMB': {
        const value = imp.attributeNumber(where, attr, name, Number.MIN_SAFE_INTEGER);
        if (value !== undefined && value <= 0) {
          imp.note(
            attr.line,
            `${where}${name}="${value}": Ehcache replaces a value <= 0 with ${DEFAULT_WHEN_NOT_POSITIVE[name]}, the default; so does this`,
          );
        } else if (value !== undefined) config[name] = value;
        break;
      }
      case 'memoryStoreEvictionPolicy': {
        const value = imp.text(where, attr, name);
        if (value === undefined) break;
        const policy = value.toUpperCase();
        if (policy === 'LRU' || policy === 'LFU' || policy === 'FIFO') config[name] = policy;
        else if (policy === 'CLOCK') {
          imp.notConverted(
            attr.line,
            `${where}${name}="${value}": meshcache has no CLOCK policy; the cache uses LRU, which CLOCK approximates`,
          );
        } else {
          imp.notConverted(
            attr.line,
            `${where}${name}="${value}" is not a policy (LRU, LFU, FIFO); Ehcache silently used LRU, and so will meshcache: fix the name`,
          );
        }
        break;
      }
      case 'copyOnRead':
      case 'copyOnWrite': {
        const value = imp.boolean(where, attr, name);
        if (value === false) imp.note(attr.line, `${where}${name}="false": meshcache never copies values`);
        else if (value === true) {
          imp.notConverted(
            attr.line,
            `${where}${name}="true": meshcache never copies values; a memory-only cache returns the stored object itself (store immutable values, or copy in code)`,
          );
        }
        break;
      }
      case 'transactionalMode': {
        const value = imp.text(where, attr, name);
        // Ehcache reads it upper-cased (TransactionalMode.valueOf): "OFF" is off too.
        if (value?.toLowerCase() === 'off')
          imp.note(attr.line, `${where}${name}="${value}": meshcache has no transactions`);
        else if (value !== undefined)
          imp.notConverted(attr.line, `${where}${name}="${value}": meshcache has no transactions`);
        break;
      }
      case 'overflowToOffHeap': {
        const value = imp.boolean(where, attr, name);
        if (value === false) imp.note(attr.line, `${where}${name}="false": meshcache has no off-heap tier`);
        else if (value === true) imp.notConverted(attr.line, `${where}${name}="true": meshcache has no off-heap tier`);
        break;
      }
      case 'maxBytesLocalHeap': {
        // The same name and syntax in meshcache ("10m", "512k", bytes); a share of the manager's
        // pool ("20%") has no meaning without a pool.
        if (attr.value.trim().endsWith('%')) {
          imp.notConverted(
            attr.line,
            `${where}${name}="${attr.value}": a share of the CacheManager’s pool, and meshcache has no pool: give the cache its bytes ("256m")`,
          );
          break;
        }
        const size = ehcacheSize(attr.value);
        if ('refused' in size) imp.fail(attr.line, `${where}${name}="${attr.value}": ${size.refused}`);
        else if (parseBytes(attr.value) === size.bytes) config['maxBytesLocalHeap'] = attr.value;
        else if (parseBytes(size.written) === size.bytes) {
          config['maxBytesLocalHeap'] = size.written;
          imp.note(attr.line, `${where}${name}="${attr.value}": Ehcache read it as ${size.written}; so does this`);
        } else {
          imp.notConverted(
            attr.line,
            `${where}${name}="${attr.value}": more bytes than meshcache takes (up to 2^53 - 1): give the cache a smaller bound`,
          );
        }
        break;
      }
      case 'maxBytesLocalOffHeap':
      case 'maxBytesLocalDisk':
      case 'maxMemoryOffHeap':
        imp.notConverted(
          attr.line,
          `${where}${name}="${attr.value}": meshcache bounds a disk tier by entries, not bytes, and has no off-heap tier: set maxElementsOnDisk`,
        );
        break;
      case 'maxEntriesInCache': {
        const value = imp.attributeNumber(where, attr, name);
        if (value === 0) imp.note(attr.line, `${where}${name}="0": a Terracotta bound, 0 = none`);
        else if (value !== undefined)
          imp.notConverted(
            attr.line,
            `${where}${name}="${value}": a bound on a Terracotta-clustered cache; meshcache has no Terracotta`,
          );
        break;
      }
      case 'clearOnFlush':
        imp.note(attr.line, `${where}${name}="${attr.value}": meshcache has no flush() that empties memory`);
        break;
      case 'diskAccessStripes':
        imp.note(
          attr.line,
          `${where}${name}="${attr.value}": the disk tier is one lmdb database, which has no stripes`,
        );
        break;
      case 'statistics':
        imp.note(
          attr.line,
          `${where}${name}="${attr.value}": meshcache always counts (cache.statistics()), at no cost worth switching off`,
        );
        break;
      case 'logging':
        imp.note(attr.line, `${where}${name}="${attr.value}": meshcache logs through the node's logger`);
        break;
      case 'cacheLoaderTimeoutMillis':
        imp.notConverted(
          attr.line,
          `${where}${name}="${attr.value}": meshcache has no configured CacheLoader (getOrLoad in code)`,
        );
        break;
      default:
        imp.notConverted(
          attr.line,
          `${where}${name}="${attr.value}" is not an Ehcache 2 cache attribute this importer knows`,
        );
    }
  }
  heapBound(imp, element, where, config, heapFrom);
  if (
    eternal?.value === true &&
    (Number(config['timeToLiveSeconds'] ?? 0) > 0 || Number(config['timeToIdleSeconds'] ?? 0) > 0)
  ) {
    imp.note(
      eternal.line,
      `${where}eternal="true" with a TTL or TTI: Ehcache ignores both (and warns); they are left out`,
    );
    delete config['timeToLiveSeconds'];
    delete config['timeToIdleSeconds'];
  }

  let replication: { config: Json; line: number } | undefined;
  let bootstrap: { config: Json; line: number } | undefined;
  for (const child of element.children) {
    const className = attribute(child, 'class')?.value.trim() ?? '';
    switch (child.name) {
      case 'cacheEventListenerFactory':
        if (className === RMI_REPLICATOR && replication === undefined) {
          replication = { config: convertReplication(imp, child, where), line: child.line };
        } else if (className === RMI_REPLICATOR) {
          imp.notConverted(
            classLine(child),
            `${where}a second RMICacheReplicatorFactory: the first one's properties are used`,
          );
        } else if (/jgroups|jms/i.test(className)) {
          imp.notConverted(
            classLine(child),
            `${where}cacheEventListenerFactory ${className}: meshcache replicates over its own links, not JGroups or JMS; to replicate this cache, give it "replication": ${replicationHint(imp, child)}`,
          );
        } else if (/Replicat/i.test(className.slice(className.lastIndexOf('.') + 1))) {
          // A replicator over a transport of its own (AMQP, say): it was told to write its
          // listeners in code, and the cache was replicated in Ehcache.
          imp.notConverted(
            classLine(child),
            `${where}cacheEventListenerFactory ${className}: a replicator meshcache does not have; meshcache replicates over its own links: to replicate this cache, give it "replication": ${replicationHint(imp, child)}`,
          );
        } else {
          imp.notConverted(
            classLine(child),
            `${where}cacheEventListenerFactory ${className || '(no class)'}: meshcache takes listeners in code: cache.on('put' | 'update' | 'remove' | 'expire' | 'evict' | 'removeAll', listener)`,
          );
        }
        break;
      case 'bootstrapCacheLoaderFactory':
        if (className === RMI_BOOTSTRAP) bootstrap = { config: convertBootstrap(imp, child, where), line: child.line };
        else if (className === DISK_BOOTSTRAP) {
          imp.note(
            classLine(child),
            `${where}${className}: a persistent meshcache disk tier is read on demand, so nothing needs warming`,
          );
        } else {
          imp.notConverted(
            classLine(child),
            `${where}bootstrapCacheLoaderFactory ${className || '(no class)'}: meshcache bootstraps from its peers only (RMIBootstrapCacheLoaderFactory's place)`,
          );
        }
        break;
      case 'persistence':
        convertPersistence(imp, child, where, config, diskAttributes);
        break;
      case 'terracotta': {
        const clustered = attribute(child, 'clustered');
        if (clustered !== undefined && imp.boolean(where, clustered, 'terracotta clustered') === false) {
          imp.note(child.line, `${where}<terracotta clustered="false">: the cache stays local, as in Ehcache`);
        } else {
          imp.notConverted(
            child.line,
            `${where}<terracotta>: meshcache has no Terracotta server; replicate the cache peer to peer with "replication"`,
          );
        }
        break;
      }
      case 'sizeOfPolicy':
        imp.note(child.line, `${where}<sizeOfPolicy>: meshcache does not size values (it bounds caches by entries)`);
        break;
      default: {
        const reason = ownValue(CACHE_ELEMENTS_NOT_CONVERTED, child.name);
        imp.notConverted(
          child.line,
          `${where}<${child.name}>: ${reason ?? 'not an Ehcache 2 cache element this importer knows'}`,
        );
      }
    }
  }
  if (replication !== undefined) config['replication'] = replication.config;
  if (bootstrap !== undefined && replication !== undefined) {
    config['bootstrap'] = bootstrap.config;
  } else if (bootstrap !== undefined) {
    imp.note(
      bootstrap.line,
      `${where}a bootstrapCacheLoaderFactory on a cache that is not replicated: meshcache bootstraps replicated caches only; left out`,
    );
  } else if (replication !== undefined) {
    imp.note(
      replication.line,
      `${where}no bootstrapCacheLoaderFactory: meshcache bootstraps (and repairs) every replicated cache from its peers; Ehcache started this one empty`,
    );
  }
  return { config, replicated: replication !== undefined, line: replication?.line ?? element.line };
}

export function convertPersistence(
  imp: Importer,
  element: XmlElement,
  where: string,
  config: Json,
  diskAttributes: XmlAttribute | undefined,
): void {
  const strategyAttribute = attribute(element, 'strategy');
  const strategy =
    strategyAttribute === undefined ? undefined : imp.text(where, strategyAttribute, 'persistence strategy');
  if (diskAttributes !== undefined) {
    imp.fail(element.line, `${where}<persistence> and ${diskAttributes.name} together: Ehcache refuses this; keep one`);
  }
  for (const attr of element.attributes) {
    if (attr.name === 'strategy') continue;
    if (attr.name === 'synchronousWrites') {
      const value = imp.boolean(where, attr, 'persistence synchronousWrites');
      if (value === true) {
        imp.notConverted(
          attr.line,
          `${where}synchronousWrites="true": meshcache commits disk writes once per event-loop turn (a crash loses at most that turn)`,
        );
      }
      continue;
    }
    imp.notConverted(
      attr.line,
      `${where}<persistence ${attr.name}="${attr.value}"> is not an attribute this importer knows`,
    );
  }
  // Ehcache reads the strategy upper-cased (Strategy.valueOf): "LOCALTEMPSWAP" is localTempSwap.
  switch (strategy?.toLowerCase()) {
    case 'none':
      break;
    case 'localtempswap':
      config['overflowToDisk'] = true;
      break;
    case 'localrestartable':
      config['overflowToDisk'] = true;
      config['diskPersistent'] = true;
      imp.note(
        element.line,
        `${where}persistence "localRestartable" becomes overflowToDisk and diskPersistent: lmdb survives restarts and crashes, losing at most the last event-loop turn of writes`,
      );
      break;
    case 'distributed':
      imp.notConverted(element.line, `${where}persistence "distributed" defers to Terracotta, which meshcache has not`);
      break;
    case undefined:
      if (strategyAttribute === undefined) imp.fail(element.line, `${where}<persistence> needs a strategy`);
      break;
    default:
      imp.fail(
        strategyAttribute?.line ?? element.line,
        `${where}persistence strategy="${strategy}" must be localTempSwap, localRestartable, none or distributed`,
      );
  }
}

/**
 * The "replication" to suggest for a cache another replicator (JGroups, JMS, AMQP) replicated:
 * its replicate* properties, which those replicators share with RMI's, read as Ehcache's
 * PropertyUtil.parseBoolean did ("true" in any case). "replication": {} alone turned a cache
 * replicated by invalidation (replicatePuts=false, replicateUpdatesViaCopy=false, as uPortal's)
 * into one that copies every put to every node.
 */
function replicationHint(imp: Importer, element: XmlElement): string {
  const hint: Json = {};
  for (const property of imp.properties(element)) {
    if (REPLICATION_BOOLEANS.includes(property.key))
      hint[property.key] = property.value.trim().toLowerCase() === 'true';
  }
  return JSON.stringify(hint);
}

const REPLICATION_BOOLEANS: readonly string[] = [
  'replicatePuts',
  'replicatePutsViaCopy',
  'replicateUpdates',
  'replicateUpdatesViaCopy',
  'replicateRemovals',
  'replicateAsynchronously',
];

export function convertReplication(imp: Importer, element: XmlElement, where: string): Json {
  // Ehcache never replicates expiries; meshcache can (replicateExpiries), but a faithful
  // conversion does not: a TTI entry stays per node, as before.
  const replication: Json = {};
  imp.factoryAttributes(element, where, (attr) => {
    if (attr.name !== 'listenFor') return false;
    imp.note(
      attr.line,
      `${where}listenFor="${attr.value}" on the replicator: meshcache never sends a change it received back out`,
    );
    return true;
  });
  for (const property of imp.properties(element)) {
    const { key } = property;
    if (REPLICATION_BOOLEANS.includes(key)) {
      const value = imp.javaBoolean(where, property, key);
      if (value !== undefined) replication[key] = value;
    } else if (Object.hasOwn(REPLICATION_INTS, key)) {
      const { below, above, why } = REPLICATION_INTS[key] as { below: number; above: number; why: string };
      const value = imp.javaInt(where, property, key, 1000);
      if (value === undefined) continue;
      if (value < below) {
        imp.note(
          property.line,
          `${where}${key}=${value}: Ehcache replaces a value under ${below} with 1000, the default; so does this`,
        );
      } else if (value > above) {
        imp.notConverted(property.line, `${where}${key}=${value}: ${why}; the default 1000 is used`);
      } else replication[key] = value;
    } else {
      imp.notConverted(
        property.line,
        `${where}replicator property ${key}=${property.value} is not an RMICacheReplicatorFactory property`,
      );
    }
  }
  replication['replicateExpiries'] = false;
  return replication;
}

export function convertBootstrap(imp: Importer, element: XmlElement, where: string): Json {
  const bootstrap: Json = {};
  imp.factoryAttributes(element, where);
  for (const property of imp.properties(element)) {
    if (property.key === 'bootstrapAsynchronously') {
      const value = imp.javaBoolean(where, property, property.key);
      if (value !== undefined) bootstrap[property.key] = value;
    } else if (property.key === 'maximumChunkSizeBytes') {
      const value = imp.javaInt(where, property, property.key, 5_000_000);
      if (value === undefined) continue;
      if (value < 5000 || value > 100_000_000) {
        imp.note(
          property.line,
          `${where}maximumChunkSizeBytes=${value}: Ehcache replaces a value outside 5000..100000000 with 5000000, the default; so does this`,
        );
      } else bootstrap[property.key] = value;
    } else {
      imp.notConverted(
        property.line,
        `${where}bootstrap property ${property.key}=${property.value} is not an RMIBootstrapCacheLoaderFactory property`,
      );
    }
  }
  return bootstrap;
}

// ------------------------------------------------------------------------------- cluster
