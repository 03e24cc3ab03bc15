/**
 * Cache-Control, Age, Expires and Date as RFC 9111 reads them.
 *
 * Dates are HTTP-dates (RFC 9110 section 5.6.7): IMF-fixdate, or one of the two obsolete forms
 * (RFC 850, asctime) a recipient must still accept. Anything else is invalid, and an invalid
 * Expires means "already expired" (RFC 9111 section 5.3). Date.parse is not used for this: it
 * reads far more than HTTP-dates, so `Expires: 3600` (seconds, a common origin mistake) was the
 * year 3600 and kept the response fresh for as long as anything may be stored.
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

const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** `Sun, 06 Nov 1994 08:49:37 GMT` */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`, 'i');
/** `Sunday, 06-Nov-94 08:49:37 GMT` */
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
  'i',
);
/** `Sun Nov  6 08:49:37 1994` */
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`, 'i');
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/**
 * An HTTP-date as epoch ms, or undefined when absent or not an HTTP-date (RFC 9110 section
 * 5.6.7). `now` places RFC 850's two-digit year: one that would be more than 50 years ahead is
 * the most recent past year with those digits.
 */
export function httpDate(headers: Headers | undefined, name: string, now: number): number | undefined {
  const value = headerValue(headers, name)?.trim();
  if (value === undefined) return undefined;
  const parts = dateParts(value, now);
  if (parts === undefined) return undefined;
  const [hours, minutes, seconds] = parts.time.map(Number) as [number, number, number];
  const month = MONTHS.indexOf(parts.month.toLowerCase());
  const day = Number(parts.day);
  // 60 is a leap second; a day the month does not have (30 Feb) would roll into the next month.
  if (hours > 23 || minutes > 59 || seconds > 60 || day < 1) return undefined;
  if (new Date(Date.UTC(parts.year, month, day)).getUTCDate() !== day) return undefined;
  return Date.UTC(parts.year, month, day, hours, minutes, seconds);
}

/** The fields of whichever of the three HTTP-date forms `value` is in. */
function dateParts(
  value: string,
  now: number,
): { day: string; month: string; year: number; time: readonly string[] } | undefined {
  const imf = IMF_FIXDATE.exec(value);
  if (imf !== null) {
    const [, day = '', month = '', year = '', ...time] = imf;
    return { day, month, year: Number(year), time };
  }
  const rfc850 = RFC850_DATE.exec(value);
  if (rfc850 !== null) {
    const [, day = '', month = '', twoDigits = '', ...time] = rfc850;
    // From 50 years back (included), the first year whose last two digits are these.
    const earliest = new Date(now).getUTCFullYear() - 50;
    return { day, month, year: earliest + ((Number(twoDigits) - (earliest % 100) + 100) % 100), time };
  }
  const asctime = ASCTIME_DATE.exec(value);
  if (asctime !== null) {
    const [, month = '', day = '', hours = '', minutes = '', seconds = '', year = ''] = asctime;
    return { day, month, year: Number(year), time: [hours, minutes, seconds] };
  }
  return undefined;
}
