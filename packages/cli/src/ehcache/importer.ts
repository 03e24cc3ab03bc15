/**
 * The importer's state and its reading of the file: the report (every line converted, noted or not
 * converted), the failure of a file Ehcache itself refused (file:line), and the readings every
 * converter shares, as Ehcache read them: a factory's properties (java.util.Properties, its
 * propertySeparator a Java regular expression), numbers (Long.decode, Integer.parseInt), booleans,
 * and values holding a system-property token (not converted).
 */
import {
  javaTrim,
  matchesOf,
  type Property,
  parseProperties,
  SEPARATOR_MATCH_MILLIS,
  separatorOf,
} from './properties.js';
import type { LineIndex, XmlAttribute, XmlElement } from './xml.js';

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

/** The file cannot be converted at all: not XML, not an ehcache.xml, or a value Ehcache itself refuses. */
export class EhcacheImportError extends Error {
  override readonly name = 'EhcacheImportError';
}

export const DISTRIBUTION = 'net.sf.ehcache.distribution.';

export const RMI_PEER_PROVIDER = `${DISTRIBUTION}RMICacheManagerPeerProviderFactory`;

export const RMI_PEER_LISTENER = `${DISTRIBUTION}RMICacheManagerPeerListenerFactory`;

export const RMI_REPLICATOR = `${DISTRIBUTION}RMICacheReplicatorFactory`;

export const RMI_BOOTSTRAP = `${DISTRIBUTION}RMIBootstrapCacheLoaderFactory`;

export const DISK_BOOTSTRAP = 'net.sf.ehcache.store.DiskStoreBootstrapCacheLoaderFactory';

export type Json = Record<string, unknown>;

/** A value as the file gives it, and its line. */
export type Sourced = { readonly value: string; readonly line: number };

export class Importer {
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
   * Reports as not converted each attribute of a factory element (`where` names its cache) but
   * the three every factory has, `class` and the `properties` with their `propertySeparator` (read
   * by properties()), and those `handled` takes care of (it answers true).
   */
  factoryAttributes(element: XmlElement, where: string, handled?: (attr: XmlAttribute) => boolean): void {
    for (const attr of element.attributes) {
      if (attr.name === 'class' || attr.name === 'properties' || attr.name === 'propertySeparator') continue;
      if (handled?.(attr) === true) continue;
      this.notConverted(
        attr.line,
        `${where}${element.name} ${attr.name}="${attr.value}" is not an attribute this importer knows`,
      );
    }
  }

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
export function ownValue<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

export function attribute(element: XmlElement, name: string): XmlAttribute | undefined {
  return element.attributes.find((a) => a.name === name);
}

/** Where a factory element names its class (the thing converted or not), else where it starts. */
export function classLine(element: XmlElement): number {
  return attribute(element, 'class')?.line ?? element.line;
}

/** Attributes that are XML plumbing (namespaces, schema location), not configuration. */
export function isXmlPlumbing(name: string): boolean {
  return name === 'xmlns' || name.startsWith('xmlns:') || name.startsWith('xsi:');
}
