/**
 * The text of an XML file from its bytes, in the encoding the file says it is in (XML 1.0 appendix
 * F): a byte order mark first, else the encoding declaration, else UTF-8. Ehcache 2 configs come
 * from Java projects, where ISO-8859-1 and windows-1252 files are common and UTF-16 happens: read
 * as UTF-8, a cache named `résumés` became `r\uFFFDsum\uFFFDs`, and the application asked for a
 * cache no node had.
 *
 * Guaranteed: bytes that are not valid in the encoding found are an error naming the encoding and
 * the first bad byte, never a replacement character in silence; so is an encoding Node's
 * TextDecoder does not know. ISO-8859-1 is read as windows-1252, as the WHATWG Encoding Standard
 * (and so TextDecoder) defines the label: a superset, the same for every character a config holds.
 */

import { TextDecoder } from 'node:util';
import { LineIndex } from './xml.js';

/** Why a file's bytes are not text in the encoding it says. */
export class XmlEncodingError extends Error {
  override readonly name = 'XmlEncodingError';
}

/** The first bytes, where the encoding declaration must be (it comes first in the document). */
const DECLARATION_BYTES = 256;

export function decodeXml(bytes: Uint8Array): string {
  const encoding = encodingOf(bytes);
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(encoding, { fatal: true });
  } catch {
    // A name TextDecoder does not know (IBM037) means nothing to a file of ASCII alone.
    if (bytes.every((byte) => byte < 0x80)) return new TextDecoder('utf-8').decode(bytes);
    throw new XmlEncodingError(`its encoding "${encoding}" is not one this converter reads: save the file as UTF-8`);
  }
  try {
    return decoder.decode(bytes);
  } catch {
    const at = decodesUpTo(bytes, encoding);
    const before = new TextDecoder(encoding).decode(bytes.subarray(0, at));
    const line = new LineIndex(before).lineOf(before.length);
    throw new XmlEncodingError(
      `it is not valid ${decoder.encoding.toUpperCase()} (line ${line}, by byte ${at}): ` +
        'save the file in the encoding its declaration names, or declare the one it is in',
    );
  }
}

/** The encoding a document's bytes say they are in: a byte order mark, the declaration, else UTF-8. */
function encodingOf(bytes: Uint8Array): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return 'utf-8';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  // UTF-16 without a mark: `<?` in two bytes a character.
  if (bytes[0] === 0x3c && bytes[1] === 0x00 && bytes[2] === 0x3f && bytes[3] === 0x00) return 'utf-16le';
  if (bytes[0] === 0x00 && bytes[1] === 0x3c && bytes[2] === 0x00 && bytes[3] === 0x3f) return 'utf-16be';
  // Every other encoding a declaration may name writes the declaration itself in ASCII.
  const head = Buffer.from(bytes.subarray(0, DECLARATION_BYTES)).toString('latin1');
  const declared = /^<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._-]*)\1/.exec(head)?.[2];
  if (declared === undefined) return 'utf-8';
  const name = declared.toLowerCase();
  // The declaration was just read one byte a character: a file that says UTF-16 is not in it
  // (a label copied from another file); its bytes are ASCII's, and so UTF-8's.
  if (/^(utf-16|utf-16le|utf-16be|ucs-2|unicode)$/.test(name)) return 'utf-8';
  // Own names only: a declared "constructor" is no Java name (Object.prototype's was taken for one).
  return (
    (Object.hasOwn(JAVA_NAMES, name) ? JAVA_NAMES[name] : undefined) ??
    name.replace(/^iso8859[_-]?(\d+)$/, 'iso-8859-$1')
  );
}

/** Java's own names for encodings (Ehcache configs come from Java projects), as TextDecoder knows them. */
const JAVA_NAMES: Readonly<Record<string, string>> = {
  utf8: 'utf-8',
  cp1250: 'windows-1250',
  cp1251: 'windows-1251',
  cp1252: 'windows-1252',
  cp1253: 'windows-1253',
  cp1254: 'windows-1254',
  cp1257: 'windows-1257',
};

/**
 * How many bytes decode before a fatal decode fails: the longest prefix that decodes, found by
 * halving. The bad sequence ends at the byte after it (it may have begun a few bytes before).
 */
function decodesUpTo(bytes: Uint8Array, encoding: string): number {
  const decodes = (end: number) => {
    try {
      // A prefix may end inside a character: `stream` leaves a partial one pending, not an error.
      new TextDecoder(encoding, { fatal: true }).decode(bytes.subarray(0, end), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  let low = 0;
  let high = bytes.length;
  while (low < high) {
    const middle = (low + high + 1) >> 1;
    if (decodes(middle)) low = middle;
    else high = middle - 1;
  }
  return low;
}
