/**
 * How a key is handed to lmdb. lmdb's key encoding (ordered-binary) writes a string of fewer than
 * 64 UTF-16 units with each character U+0000 to U+0004 escaped (byte 4, then the character), but
 * a longer one as plain UTF-8; its reader takes a byte of 0 to 3 as the end of a string part and
 * a 4 as an escape, whatever the length. So a long key with such a character (`GET\u0000/orders/…`,
 * a separator some callers use) was stored, then listed back as an array of parts, or with a
 * character lost: after a restart its entry was held under a key nobody asks for.
 *
 * Such a key is handed over as bytes, written as the short form would be (the leading escape
 * byte 27 when its first character is below 28, each character up to U+0004 escaped), which the
 * same reader turns back into the string. Every other key goes as the string itself, so the bytes
 * in the file, and every store written before, are unchanged. Guaranteed: keys(), a scan's start
 * and every read and write of a key agree on its bytes. Not guaranteed: a long key with U+0004
 * written by an earlier release reads back without that character, as it did then.
 */

/** Strings from this many units on are written by lmdb without escapes. */
const UNESCAPED_FROM = 64;
const ESCAPE = 4;
const STRING_ESCAPE = 27;

/** `key` as lmdb is to be given it: the string, or for a long key with a character up to U+0004, its escaped bytes. */
export function lmdbKey(key: string): string | Buffer {
  if (key.length < UNESCAPED_FROM || !needsEscapes(key)) return key;
  const utf8 = Buffer.from(key);
  let escapes = 0;
  for (const byte of utf8) if (byte <= ESCAPE) escapes++;
  const lead = key.charCodeAt(0) < 28 ? 1 : 0;
  const bytes = Buffer.allocUnsafe(lead + utf8.length + escapes);
  let at = 0;
  if (lead === 1) bytes[at++] = STRING_ESCAPE;
  // A UTF-8 byte of 0 to 4 is always a character of its own (a multi-byte sequence's bytes are >= 0x80).
  for (const byte of utf8) {
    if (byte <= ESCAPE) bytes[at++] = ESCAPE;
    bytes[at++] = byte;
  }
  return bytes;
}

function needsEscapes(key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) <= ESCAPE) return true;
  return false;
}
