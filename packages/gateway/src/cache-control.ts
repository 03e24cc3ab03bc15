/**
 * Cache-Control, Age, Expires and Date as RFC 9111 reads them.
 *
 * Cache-Control is a list of directives, each a token with an optional `=value`, the value a
 * token or a quoted string; a quoted string may hold commas (`no-cache="set-cookie, x-user"`),
 * so the list is split outside quotes only. Names are case-insensitive. When a directive comes
 * twice, the first occurrence counts (RFC 9111 section 4.2.1 allows this or "stale"). A quoted
 * string that never closes makes the field read as no-store: what it swallowed is unknown.
 */
import { type Headers, headerValue } from './headers.js';

/** Cache-Control directives, names lower-cased, values unquoted (`true` for a bare directive). */
export function parseCacheControl(value: string | undefined): Map<string, string | true> {
  const directives = new Map<string, string | true>();
  if (value === undefined) return directives;
  let i = 0;
  const n = value.length;
  while (i < n) {
    // name
    while (i < n && (value[i] === ' ' || value[i] === '\t' || value[i] === ',')) i++;
    const nameStart = i;
    while (i < n && value[i] !== '=' && value[i] !== ',') i++;
    const name = value.slice(nameStart, i).trim().toLowerCase();
    let directive: string | true = true;
    if (value[i] === '=') {
      i++;
      while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
      if (value[i] === '"') {
        i++;
        let text = '';
        while (i < n && value[i] !== '"') {
          if (value[i] === '\\' && i + 1 < n) i++; // quoted-pair
          text += value[i];
          i++;
        }
        if (i >= n) {
          // A quote never closed swallows the rest, and with it what may be a no-store
          // (`foo="bar, no-store`): such a field is not read as anything storable.
          directives.set('no-store', true);
        }
        i++; // the closing quote
        directive = text;
        while (i < n && value[i] !== ',') i++; // anything after the quotes is not part of it
      } else {
        const start = i;
        while (i < n && value[i] !== ',') i++;
        directive = value.slice(start, i).trim();
      }
    }
    if (name !== '' && !directives.has(name)) directives.set(name, directive);
  }
  return directives;
}

/**
 * A delta-seconds value (RFC 9111 section 1.2.2): a non-negative integer, capped at 2^31.
 * undefined for anything else (a sign, a fraction, a word, a bare directive).
 */
export function deltaSeconds(value: string | true | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return Math.min(Number(value), 2 ** 31);
}

/** The field names of a qualified `no-cache="..."` or `private="..."`, lower-cased; [] when bare. */
export function fieldNames(value: string | true | undefined): string[] {
  if (typeof value !== 'string') return [];
  return value
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
}

/**
 * The Age field in seconds (RFC 9111 section 5.1): the first member of a list; 0 when absent or
 * invalid ("a cache SHOULD ignore the field").
 */
export function ageSeconds(headers: Headers | undefined): number {
  const first = headerValue(headers, 'age')?.split(',')[0]?.trim();
  return deltaSeconds(first) ?? 0;
}

/** An HTTP date as epoch ms, or undefined when absent or unreadable. */
export function httpDate(headers: Headers | undefined, name: string): number | undefined {
  const value = headerValue(headers, name);
  if (value === undefined) return undefined;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? undefined : parsed;
}
