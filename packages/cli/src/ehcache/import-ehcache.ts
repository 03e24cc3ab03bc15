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
 */
import { isIPv4 } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBytes, resolveCacheConfig } from '@meshcache/core';
import { MAX_TIMER_MILLIS } from '@meshcache/core/internal';
import { resolveDiscoveryConfig } from '@meshcache/discovery';
import { resolveClusterConfig } from '@meshcache/replication';
import {
  javaTrim,
  matchesOf,
  type Property,
  parseProperties,
  SEPARATOR_MATCH_MILLIS,
  separatorOf,
} from './properties.js';
import { type LineIndex, parseXml, type XmlAttribute, type XmlElement, XmlSyntaxError } from './xml.js';

export interface ImportEhcacheOptions {
  /** Named in every message. @default 'ehcache.xml' */
  readonly fileName?: string;
  /** The node's name (`name`); left out of the config when absent. */
  readonly name?: string;
  /** The cluster's name; by default the multicast group, the file's CacheManager name, or "ehcache". */
  readonly cluster?: string;
  /** Names under which the defaultCache's settings are written. @default ['default'] */
  readonly defaultCacheNames?: readonly string[];
  /** What `java.io.tmpdir` and `user.home` stand for. @default this machine's */
  readonly tmpdir?: string;
  readonly homedir?: string;
}

export type ImportReportKind = 'not converted' | 'note';

export interface ImportReportLine {
  readonly line: number;
  readonly kind: ImportReportKind;
  readonly message: string;
}

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

/** The file cannot be converted at all: not XML, not an ehcache.xml, or a value Ehcache itself refuses. */
export class EhcacheImportError extends Error {
  override readonly name = 'EhcacheImportError';
}

/** A disk bound past which the importer notes what it costs in memory (100 MB at 100 bytes a key). */
const LARGE_DISK_BOUND = 1_000_000;
const DISTRIBUTION = 'net.sf.ehcache.distribution.';
const RMI_PEER_PROVIDER = `${DISTRIBUTION}RMICacheManagerPeerProviderFactory`;
const RMI_PEER_LISTENER = `${DISTRIBUTION}RMICacheManagerPeerListenerFactory`;
const RMI_REPLICATOR = `${DISTRIBUTION}RMICacheReplicatorFactory`;
const RMI_BOOTSTRAP = `${DISTRIBUTION}RMIBootstrapCacheLoaderFactory`;
const DISK_BOOTSTRAP = 'net.sf.ehcache.store.DiskStoreBootstrapCacheLoaderFactory';

/** Elements under <cache> that meshcache has no equivalent for, and why. */
const CACHE_ELEMENTS_NOT_CONVERTED: Readonly<Record<string, string>> = {
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

/** Elements under <ehcache> that meshcache has no equivalent for, and why. */
const TOP_ELEMENTS_NOT_CONVERTED: Readonly<Record<string, string>> = {
  transactionManagerLookup: 'meshcache has no transactions (JTA/XA)',
  terracottaConfig: 'meshcache has no Terracotta server: nodes replicate peer to peer',
};

/** Ehcache's documented translations in a diskStore path. */
const JAVA_PATH_PROPERTIES = ['java.io.tmpdir', 'user.home', 'user.dir', 'ehcache.disk.store.dir'] as const;

type Json = Record<string, unknown>;
/** A value as the file gives it, and its line. */
type Sourced = { readonly value: string; readonly line: number };

class Importer {
  readonly report: ImportReportLine[] = [];
  /** Whether <ehcache> has a maxBytesLocalHeap pool (which sized, in Ehcache, the caches that give no bound of their own). */
  heapPool = false;
  readonly #file: string;
  readonly #lines: LineIndex;
  readonly #options: ImportEhcacheOptions;

  constructor(file: string, lines: LineIndex, options: ImportEhcacheOptions) {
    this.#file = file;
    this.#lines = lines;
    this.#options = options;
  }

  notConverted(line: number, message: string): void {
    this.report.push({ line, kind: 'not converted', message });
  }

  note(line: number, message: string): void {
    this.report.push({ line, kind: 'note', message });
  }

  fail = (line: number, message: string): never => {
    throw new EhcacheImportError(`${this.#file}:${line}: ${message}`);
  };

  /**
   * A factory's properties as Ehcache read them: into a java.util.Properties, where a key given
   * twice keeps its later value (`peerDiscovery=automatic, peerDiscovery=manual` is manual). Each
   * key once, the later kept, with a note.
   */
  properties(element: XmlElement): Property[] {
    const written = attribute(element, 'propertySeparator');
    const given = attribute(element, 'properties');
    const regex = separatorOf(written?.value ?? ',');
    const where = written?.line ?? element.line;
    const named = `${element.name} propertySeparator="${written?.value}"`;
    if (!(regex instanceof RegExp)) return this.fail(where, `${named} ${regex.problem}`);
    const separator = (text: string) =>
      matchesOf(regex, text) ??
      this.fail(
        where,
        `${named} took more than ${SEPARATOR_MATCH_MILLIS} ms to match the properties, as a regular expression (Ehcache's String.replaceAll): a pattern that backtracks, as (a+)+$ does, and would have held Ehcache's start as long; write a plain separator such as ";"`,
      );
    if (written !== undefined && given !== undefined) {
      // Matched where Ehcache matched it: in the properties trimmed (parseProperties), so white
      // space before the first and after the last is no match of \s+; and empty properties were
      // none, however they were separated.
      const trimmed = javaTrim(given.value);
      const matches = separator(trimmed);
      if (trimmed === '') {
        // No properties: none to separate, as Ehcache had none.
      } else if (matches.some(([, length]) => length === 0)) {
        const escaped = written.value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        this.fail(
          where,
          `${named} is a regular expression to Ehcache (String.replaceAll), and it matches the empty string: Ehcache broke the properties where nothing separates them (between every character, for "|" or ""), and did not run with them as written; ${
            written.value === ''
              ? 'leave propertySeparator out for ","'
              : `write "${escaped}" to separate at ${written.value}`
          }`,
        );
      }
      const literal = trimmed === '' ? 0 : trimmed.split(written.value).length - 1;
      if (trimmed !== '' && !written.value.includes('\\Q') && matches.length !== literal) {
        this.note(
          written.line,
          `${named} is a regular expression to Ehcache (String.replaceAll): it separated the properties at its ${matches.length} match${matches.length === 1 ? '' : 'es'}, where the text "${written.value}" occurs ${literal} time${literal === 1 ? '' : 's'}; so does this`,
        );
      }
    }
    const byKey = new Map<string, Property>();
    for (const property of parseProperties(given, separator, this.#lines, this.fail)) {
      if (byKey.has(property.key)) {
        this.note(
          property.line,
          `${property.key} is given twice in ${element.name}'s properties: Ehcache (java.util.Properties) takes the later, ${property.key}=${property.value}; so does this`,
        );
        byKey.delete(property.key);
      }
      byKey.set(property.key, property);
    }
    return [...byKey.values()];
  }

  /** A value, or undefined (reported) when it holds an Ehcache system-property token. */
  #plain(where: string, item: Sourced, what: string): string | undefined {
    const value = item.value.trim();
    if (!value.includes('${')) return value;
    this.notConverted(
      item.line,
      `${where}${what}="${value}": an Ehcache system-property token, which meshcache does not substitute: write the value`,
    );
    return undefined;
  }

  wholeNumber(where: string, item: Sourced, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
    const text = this.#plain(where, item, what);
    if (text === undefined) return undefined;
    if (!/^-?\d+$/.test(text)) this.fail(item.line, `${where}${what}="${text}" must be a whole number`);
    return this.#within(where, item.line, what, text, Number(text), min, max);
  }

  /** `value`, read from `text`, or a failure naming the bound it is outside of. */
  #within(where: string, line: number, what: string, text: string, value: number, min: number, max: number): number {
    if (value < min) this.fail(line, `${where}${what}="${text}" must be >= ${min}`);
    if (value > max) this.fail(line, `${where}${what}="${text}" must be <= ${max}`);
    return value;
  }

  /**
   * A number in a <cache> or <defaultCache> attribute, as Ehcache's BeanHandler reads it: with
   * Long.decode (Integer.decode for an int setter), which takes a sign, and reads `0x`, `0X` or
   * `#` as hexadecimal and a leading 0 as octal. timeToLiveSeconds="0600" ran as 384 seconds; read
   * as decimal it became 600 in silence. Such a number is read as Ehcache read it, with a note; a
   * 0-led number with an 8 or 9 is refused, as Ehcache refused it.
   */
  attributeNumber(
    where: string,
    item: Sourced,
    what: string,
    min = 0,
    max = Number.MAX_SAFE_INTEGER,
  ): number | undefined {
    const text = this.#plain(where, item, what);
    if (text === undefined) return undefined;
    const radixed = /^([+-]?)(?:(0[xX]|#)([0-9a-fA-F]+)|0([0-9]+))$/.exec(text);
    if (radixed === null) {
      // Long.decode takes a leading +; any other text is wholeNumber's to judge, as written.
      const decimal = /^\+\d+$/.test(text) ? text.slice(1) : text;
      return this.wholeNumber(where, { value: decimal, line: item.line }, what, min, max);
    }
    const [, sign, hexPrefix, hexDigits, octalDigits] = radixed;
    const hex = hexPrefix !== undefined;
    if (!hex && /[89]/.test(octalDigits ?? '')) {
      this.fail(
        item.line,
        `${where}${what}="${text}": Ehcache reads a number led by 0 as octal (Long.decode), and refuses this one`,
      );
    }
    const magnitude = Number.parseInt((hex ? hexDigits : octalDigits) ?? '', hex ? 16 : 8);
    const value = sign === '-' ? -magnitude : magnitude;
    if (!Number.isSafeInteger(value)) this.fail(item.line, `${where}${what}="${text}" must be <= ${max}`);
    this.note(
      item.line,
      `${where}${what}="${text}": Ehcache reads it as ${hex ? 'hexadecimal' : 'octal'} (Long.decode), ${value}; so does this`,
    );
    return this.#within(where, item.line, what, text, value, min, max);
  }

  /**
   * A number as Ehcache's replicator and bootstrap factories read their properties: Integer.parseInt,
   * and on a NumberFormatException (a word, "1000ms", nothing, past a Java int) Ehcache warned and
   * ran with the default. So such text is a note here, and undefined (the default), not an error:
   * the file ran under Ehcache.
   */
  javaInt(where: string, item: Sourced, what: string, ehcacheDefault: number): number | undefined {
    const text = this.#plain(where, item, what);
    if (text === undefined) return undefined;
    const value = /^[+-]?\d+$/.test(text) ? Number(text) : Number.NaN;
    if (value >= -2_147_483_648 && value <= 2_147_483_647) return value;
    this.note(
      item.line,
      `${where}${what}=${text}: not a number Ehcache reads (a Java int), so Ehcache ran with ${ehcacheDefault}, the default; so does this`,
    );
    return undefined;
  }

  /**
   * A boolean attribute, as Ehcache's BeanHandler reads it: true or false in any case, and since
   * 2.4 (EHC-834) an InvalidConfigurationException for any other word, so an error here. (Up to
   * 2.3 it was Boolean.valueOf, and eternal="yes" ran as false: the message says so.)
   */
  boolean(where: string, item: Sourced, what: string): boolean | undefined {
    const text = this.#plain(where, item, what);
    if (text === undefined) return undefined;
    if (/^true$/i.test(text)) return true;
    if (/^false$/i.test(text)) return false;
    return this.fail(
      item.line,
      `${where}${what}="${text}" must be true or false (Ehcache 2.4 and later refuse any other word; 2.3 and earlier read it as false: write false if that is what ran)`,
    );
  }

  /**
   * A boolean in a replicator's or bootstrap loader's properties, as Ehcache's factories read it
   * (PropertyUtil.parseBoolean): true when it is "true" in any case, false for anything else
   * (`yes`, `1`, nothing). So the file ran, with false; so does the conversion, with a note.
   */
  javaBoolean(where: string, item: Sourced, what: string): boolean | undefined {
    const text = this.#plain(where, item, what);
    if (text === undefined) return undefined;
    if (/^true$/i.test(text)) return true;
    if (!/^false$/i.test(text)) {
      this.note(
        item.line,
        `${where}${what}=${text}: Ehcache reads anything but true as false (PropertyUtil.parseBoolean), and ran with false; so does this`,
      );
    }
    return false;
  }

  text(where: string, item: Sourced, what: string): string | undefined {
    return this.#plain(where, item, what);
  }

  get options(): ImportEhcacheOptions {
    return this.#options;
  }
}

/**
 * A table's entry for a name the file chose. Only the table's own: an element or attribute named
 * `constructor`, `toString` or `__proto__` found Object.prototype's instead, printed its source
 * as the reason, or failed with exit 1 ("rule is not a function").
 */
function ownValue<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

function attribute(element: XmlElement, name: string): XmlAttribute | undefined {
  return element.attributes.find((a) => a.name === name);
}

/** Where a factory element names its class (the thing converted or not), else where it starts. */
function classLine(element: XmlElement): number {
  return attribute(element, 'class')?.line ?? element.line;
}

/** Attributes that are XML plumbing (namespaces, schema location), not configuration. */
function isXmlPlumbing(name: string): boolean {
  return name === 'xmlns' || name.startsWith('xmlns:') || name.startsWith('xsi:');
}

interface ConvertedCache {
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
function heapBound(
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

function convertCache(imp: Importer, element: XmlElement, where: string): ConvertedCache {
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
      case 'diskExpiryThreadIntervalSeconds': {
        const value = imp.attributeNumber(where, attr, name, Number.MIN_SAFE_INTEGER);
        if (value !== undefined && value <= 0) {
          imp.note(
            attr.line,
            `${where}${name}="${value}": Ehcache replaces a value <= 0 with 120, the default; so does this`,
          );
        } else if (value !== undefined) config[name] = value;
        break;
      }
      case 'diskSpoolBufferSizeMB': {
        const value = imp.attributeNumber(where, attr, name, Number.MIN_SAFE_INTEGER);
        if (value !== undefined && value <= 0) {
          imp.note(
            attr.line,
            `${where}${name}="${value}": Ehcache replaces a value <= 0 with 30, the default; so does this`,
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
      case 'maxBytesLocalHeap':
        // The same name and syntax in meshcache ("10m", "512k", bytes); a share of the manager's
        // pool ("20%") has no meaning without a pool.
        if (parseBytes(attr.value) !== undefined) config['maxBytesLocalHeap'] = attr.value;
        else {
          imp.notConverted(
            attr.line,
            `${where}${name}="${attr.value}": ${
              attr.value.trim().endsWith('%')
                ? 'a share of the CacheManager’s pool, and meshcache has no pool: give the cache its bytes ("256m")'
                : 'not a size meshcache reads (a whole number of bytes, or with a unit: "512k", "256m", "2g")'
            }`,
          );
        }
        break;
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
            `${where}cacheEventListenerFactory ${className}: meshcache replicates over its own links, not JGroups or JMS; to replicate this cache, give it "replication": {}`,
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

function convertPersistence(
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

function convertReplication(imp: Importer, element: XmlElement, where: string): Json {
  // Ehcache never replicates expiries; meshcache can (replicateExpiries), but a faithful
  // conversion does not: a TTI entry stays per node, as before.
  const replication: Json = {};
  for (const attr of element.attributes) {
    if (attr.name === 'class' || attr.name === 'properties' || attr.name === 'propertySeparator') continue;
    if (attr.name === 'listenFor') {
      imp.note(
        attr.line,
        `${where}listenFor="${attr.value}" on the replicator: meshcache never sends a change it received back out`,
      );
      continue;
    }
    imp.notConverted(
      attr.line,
      `${where}cacheEventListenerFactory ${attr.name}="${attr.value}" is not an attribute this importer knows`,
    );
  }
  const booleans = [
    'replicatePuts',
    'replicatePutsViaCopy',
    'replicateUpdates',
    'replicateUpdatesViaCopy',
    'replicateRemovals',
    'replicateAsynchronously',
  ];
  for (const property of imp.properties(element)) {
    const { key } = property;
    if (booleans.includes(key)) {
      const value = imp.javaBoolean(where, property, key);
      if (value !== undefined) replication[key] = value;
    } else if (key === 'asynchronousReplicationIntervalMillis') {
      const value = imp.javaInt(where, property, key, 1000);
      if (value === undefined) continue;
      if (value < 10) {
        imp.note(
          property.line,
          `${where}${key}=${value}: Ehcache replaces a value under 10 with 1000, the default; so does this`,
        );
      } else if (value > 3_600_000) {
        imp.notConverted(
          property.line,
          `${where}${key}=${value}: meshcache's longest interval is 3600000 (1 h); the default 1000 is used`,
        );
      } else replication[key] = value;
    } else if (key === 'asynchronousReplicationMaximumBatchSize') {
      const value = imp.javaInt(where, property, key, 1000);
      if (value === undefined) continue;
      if (value < 1) {
        imp.note(
          property.line,
          `${where}${key}=${value}: Ehcache replaces a value under 1 with 1000, the default; so does this`,
        );
      } else if (value > 100_000) {
        imp.notConverted(
          property.line,
          `${where}${key}=${value}: meshcache sends at most 100000 changes a frame; the default 1000 is used`,
        );
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

function convertBootstrap(imp: Importer, element: XmlElement, where: string): Json {
  const bootstrap: Json = {};
  for (const attr of element.attributes) {
    if (attr.name === 'class' || attr.name === 'properties' || attr.name === 'propertySeparator') continue;
    imp.notConverted(
      attr.line,
      `${where}bootstrapCacheLoaderFactory ${attr.name}="${attr.value}" is not an attribute this importer knows`,
    );
  }
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

interface RmiUrl {
  readonly hostPort: string;
  readonly cache: string;
  /** As the file writes it. */
  readonly written: string;
}

/** The RMI registry's port, which java.rmi.Naming dials when a URL gives none (Registry.REGISTRY_PORT). */
const RMI_REGISTRY_PORT = 1099;

/**
 * The URLs of `rmiUrls`, as Ehcache's manual provider read them: split at `|`, each trimmed, and
 * each handed to java.rmi.Naming.lookup, which takes `//host:port/name` and `rmi://host:port/name`,
 * and dials port 1099 (the RMI registry's) when the port is left out, empty or 0. Converted so,
 * with a note for the port. A URL without a host (`//:40001/a`) Naming dialled this machine's own
 * address at: not converted, since the converting machine may not be the one that ran it.
 */
function parseRmiUrls(imp: Importer, property: Property): RmiUrl[] {
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
function javaReadsHost(host: string): boolean {
  if (host.startsWith('[')) return true;
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (ipv4 !== null) return ipv4.slice(1).every((part) => Number(part) <= 255);
  const label = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
  if (!new RegExp(`^${label}(?:\\.${label})*\\.?$`).test(host)) return false;
  const labels = host.replace(/\.$/, '').split('.');
  return labels.length === 1 || /^[A-Za-z]/.test(labels[labels.length - 1] as string);
}

function convertPeerProvider(
  imp: Importer,
  element: XmlElement,
  replicated: ReadonlyMap<string, unknown>,
  /** The caches the config has (<cache> elements and the defaultCache's names), and whether the defaultCache replicates with RMI. */
  file: { readonly caches: ReadonlySet<string>; readonly defaultReplicated: boolean },
): { discovery: Json | undefined; multicast: string | undefined } {
  const discovery: Json = {};
  for (const attr of element.attributes) {
    if (attr.name === 'class' || attr.name === 'properties' || attr.name === 'propertySeparator') continue;
    imp.notConverted(
      attr.line,
      `cacheManagerPeerProviderFactory ${attr.name}="${attr.value}" is not an attribute this importer knows`,
    );
  }
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
      imp.note(
        rmiUrlsLine,
        `cache "${cache}" replicates, but no rmiUrls URL names it: this node dials no peer for it (Ehcache sent its changes to no one either); name it in rmiUrls (//host:port/${cache}) to send them`,
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
          if (ttl !== undefined) discovery['multicastTtl'] = ttl;
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
function lowercaseHostName(imp: Importer, property: { readonly key: string; readonly line: number }): void {
  if (property.key !== 'hostname') return;
  imp.note(
    property.line,
    'hostname taken as hostName: Ehcache reads hostName only (its property names are case-sensitive), so it ignored this one',
  );
}

/** What meshcache's own check says of a value (its error's message), or undefined when it takes it. */
function refusal(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** What meshcache says of a cluster name; undefined when it takes it. */
const clusterNameProblem = (cluster: string) =>
  refusal(() => resolveClusterConfig({ name: 'import-check', cluster, insecure: true }, {}))?.replace(
    /^option "cluster" /,
    '',
  );

/** What meshcache says of a peer URL in a manual list; undefined when it takes it. */
const peerUrlProblem = (peer: string) =>
  refusal(() => resolveDiscoveryConfig({ mode: 'manual', peers: [peer] }, 'ws'))?.replace(
    /^option "peerDiscovery\.peers\[0\]" /,
    '',
  );

/** What meshcache says of a cache name; undefined when it takes it. */
const cacheNameProblem = (name: string) => refusal(() => resolveCacheConfig(name, undefined));

/**
 * What meshcache says of a listener host (a host a URL reads as more than a host: `127.0.0.1/`,
 * which listened on port 80); undefined when it takes it.
 */
const listenerHostProblem = (host: string) =>
  refusal(() =>
    resolveClusterConfig(
      { name: 'import-check', cluster: 'import-check', insecure: true, peerListener: { hostname: host } },
      {},
    ),
  )?.replace(/^option "peerListener.hostname" /, '');

function convertPeerListener(imp: Importer, element: XmlElement): Json {
  const listener: Json = {};
  for (const attr of element.attributes) {
    if (attr.name === 'class' || attr.name === 'properties' || attr.name === 'propertySeparator') continue;
    imp.notConverted(
      attr.line,
      `cacheManagerPeerListenerFactory ${attr.name}="${attr.value}" is not an attribute this importer knows`,
    );
  }
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

function convertDiskStore(imp: Importer, element: XmlElement): string | undefined {
  const pathAttribute = attribute(element, 'path');
  for (const attr of element.attributes) {
    if (attr.name !== 'path')
      imp.notConverted(attr.line, `diskStore ${attr.name}="${attr.value}" is not an attribute this importer knows`);
  }
  if (pathAttribute === undefined) return imp.fail(element.line, 'diskStore needs a path');
  const path = imp.text('', pathAttribute, 'diskStore path');
  if (path === undefined || path === '') return undefined;
  const property = JAVA_PATH_PROPERTIES.find(
    (name) => path === name || path.startsWith(`${name}/`) || path.startsWith(`${name}\\`),
  );
  if (property === undefined) return path;
  const rest = path.slice(property.length + 1);
  const base =
    property === 'java.io.tmpdir'
      ? (imp.options.tmpdir ?? tmpdir())
      : property === 'user.home'
        ? (imp.options.homedir ?? homedir())
        : property === 'user.dir'
          ? '.'
          : undefined;
  if (base === undefined) {
    imp.notConverted(
      pathAttribute.line,
      `diskStore path="${path}": ${property} is a Java system property (-D${property}=...), which meshcache cannot read: set diskStorePath`,
    );
    return undefined;
  }
  const resolved = rest === '' ? ownDirectoryIn(base, imp.options.name) : join(base, rest);
  imp.note(
    pathAttribute.line,
    `diskStore path="${path}" becomes "${resolved}" (${rest === '' ? 'a directory of its own in ' : ''}${property === 'user.dir' ? 'the directory the node starts in' : `${property} on this machine`}); give every node on one host its own diskStorePath`,
  );
  return resolved;
}

/**
 * Ehcache wrote its `<cache>.data` files straight into java.io.tmpdir or a home directory;
 * meshcache's store is a directory it owns and makes private (0700), so it gets one of its own
 * there: /tmp itself is shared by every local user, and meshcache refuses it (and refuses this
 * one too, should another user have made it first).
 */
function ownDirectoryIn(base: string, name: string | undefined): string {
  // The node's name is any text: only the characters a file name can always carry, so a name
  // like "a/../../var/lib" cannot step out of the directory.
  return join(base, `meshcache-${(name ?? 'store').replace(/[^A-Za-z0-9._-]/g, '-')}`);
}

// ------------------------------------------------------------------------------- the file

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
  let listener: Json | undefined;
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
        } else if (listener !== undefined) {
          imp.notConverted(child.line, 'a second RMI peer listener: a node has one listener; the first is used');
        } else listener = convertPeerListener(imp, child);
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
  for (const provider of providers) {
    const className = attribute(provider, 'class')?.value.trim() ?? '';
    if (className !== RMI_PEER_PROVIDER) {
      imp.notConverted(
        classLine(provider),
        `cacheManagerPeerProviderFactory ${className || '(no class)'}: meshcache finds peers by a manual list, DNS or mDNS (peerDiscovery), not ${/jgroups/i.test(className) ? 'JGroups' : /jms/i.test(className) ? 'JMS' : 'this provider'}`,
      );
    } else if (rmiProvider) {
      imp.notConverted(provider.line, 'a second RMI peer provider: Ehcache replicates through the first; so does this');
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
