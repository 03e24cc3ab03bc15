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
 * same reader turns back into the string. Every other key goes as the string itself, so its bytes
 * in the file are what they were.
 *
 * A store written by an earlier release holds such keys in lmdb's plain form, which the escaped
 * lookup would miss (and one of them could even answer for another key). So the first time this
 * release opens a cache's database, it re-keys every record whose key bytes do not read back as
 * lmdb's own encoding of what they read as (escapeEarlierKeys), and records that in the store's
 * meta database; later opens read nothing more. Guaranteed: keys(), a scan's start and every read
 * and write of a key agree on its bytes, also for records an earlier release wrote. Not
 * guaranteed: a store written again by an earlier release after this one re-keyed it (a rollback)
 * is not re-keyed a second time.
 */

import type { Database, RootDatabase } from 'lmdb';
import * as lmdb from 'lmdb';
import { escapesIn } from './disk-store.js';

/** lmdb's own key encoding (ordered-binary), which lmdb exports but does not type. */
const { bufferToKeyValue, keyValueToBuffer } = lmdb as unknown as {
  bufferToKeyValue(bytes: Buffer): unknown;
  keyValueToBuffer(key: unknown): Buffer;
};

/** Strings from this many units on are written by lmdb without escapes. */
const UNESCAPED_FROM = 64;
const ESCAPE = 4;
const STRING_ESCAPE = 27;

/** `key` as lmdb is to be given it: the string, or for a long key with a character up to U+0004, its escaped bytes. */
export function lmdbKey(key: string): string | Buffer {
  if (key.length < UNESCAPED_FROM) return key;
  const escapes = escapesIn(key);
  if (escapes === 0) return key;
  const utf8 = Buffer.from(key);
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

/** The meta database's record that a cache's database has been re-keyed (escapeEarlierKeys). */
const escapedMarker = (name: string) => `keys-escaped:${name}`;

/**
 * Re-keys, once per database, the records an earlier release wrote under a long key with a
 * character up to U+0004 in lmdb's plain form: each moves to the key lmdbKey gives the string its
 * bytes spell (less the leading escape byte, when its first character is below 28). Returns how
 * many moved. One transaction: a crash leaves the database as it was, and the next open does it.
 */
export function escapeEarlierKeys(env: RootDatabase, name: string, meta: Database<unknown, string>): number {
  if (meta.get(escapedMarker(name)) === true) return 0;
  const raw = env.openDB<Buffer, Buffer>({ name, keyEncoding: 'binary', encoding: 'binary' });
  const moves: Array<[Buffer, string]> = [];
  for (const key of raw.getKeys()) {
    // A key lmdb wrote by its short form (fewer than 64 units), or without such a byte, reads back as itself.
    if (key.length < UNESCAPED_FROM || !key.some((byte) => byte <= ESCAPE)) continue;
    const read = bufferToKeyValue(key);
    if (typeof read === 'string' && keyValueToBuffer(read).equals(key)) continue;
    moves.push([Buffer.from(key), key.toString('utf8', key[0] === STRING_ESCAPE ? 1 : 0)]);
  }
  raw.transactionSync(() => {
    for (const [from, original] of moves) {
      const value = raw.get(from);
      raw.removeSync(from);
      const to = lmdbKey(original);
      if (value !== undefined) raw.putSync(typeof to === 'string' ? keyValueToBuffer(to) : to, value);
    }
    meta.putSync(escapedMarker(name), true);
  });
  return moves.length;
}
