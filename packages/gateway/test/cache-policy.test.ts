/**
 * cachePolicy, one row per rule: the rule, where RFC 9111 (or RFC 5861, or this cache's documented
 * choice) says it, the response and request headers in, and the decision out. Times are fixed:
 * the request left and the response arrived at NOW, unless the row says otherwise.
 */
import { describe, expect, it } from 'vitest';
import { type CachePolicyOptions, cachePolicy, parseCacheControl } from '../src/index.js';

const NOW = Date.parse('Sun, 22 Nov 2026 10:00:00 GMT');
const DATE = 'Sun, 22 Nov 2026 10:00:00 GMT';
const at = (offsetSeconds: number) => new Date(NOW + offsetSeconds * 1000).toUTCString();

interface Row {
  readonly rule: string;
  readonly where: string;
  readonly status?: number;
  readonly headers: Record<string, string | string[]>;
  readonly options?: CachePolicyOptions;
  readonly expected: Record<string, unknown>;
}

const store = (freshSeconds: number, extra: Record<string, unknown> = {}) => ({
  cacheable: true,
  freshSeconds,
  ...extra,
});
const refuse = (reason: RegExp | string) => ({ cacheable: false, reason: expect.stringMatching(reason) });

const rows: Row[] = [
  // Freshness lifetime (4.2.1)
  {
    rule: 'max-age gives the freshness lifetime',
    where: '5.2.2.1',
    headers: { 'cache-control': 'max-age=60' },
    expected: store(60, { reason: 'max-age', freshnessLifetimeSeconds: 60, storeSeconds: 60 }),
  },
  {
    rule: 's-maxage wins over max-age in a shared cache',
    where: '5.2.2.10',
    headers: { 'cache-control': 'max-age=60, s-maxage=300' },
    expected: store(300, { reason: 's-maxage' }),
  },
  {
    rule: 'max-age wins over Expires',
    where: '5.3',
    headers: { 'cache-control': 'max-age=60', date: DATE, expires: at(600) },
    expected: store(60),
  },
  {
    rule: 'Expires minus Date',
    where: '4.2.1',
    headers: { date: DATE, expires: at(300) },
    expected: store(300, { reason: 'Expires' }),
  },
  {
    rule: 'Expires without Date: minus the time the response arrived',
    where: '4.2.1',
    headers: { expires: at(120) },
    expected: store(120),
  },
  {
    rule: 'an invalid Expires ("0") is a time in the past',
    where: '5.3',
    headers: { expires: '0' },
    expected: refuse(/^Expires gives no freshness/),
  },
  {
    rule: 'an Expires that is a number of seconds ("3600"), not a date, is a time in the past',
    where: '5.3',
    headers: { expires: '3600' },
    expected: refuse(/^Expires gives no freshness/),
  },
  {
    rule: 'an Expires that is a bare year is no HTTP-date: a time in the past',
    where: '5.3',
    headers: { date: DATE, expires: '2030' },
    expected: refuse(/^Expires gives no freshness/),
  },
  {
    rule: 'an Expires in ISO 8601 is no HTTP-date: a time in the past',
    where: '5.3',
    headers: { expires: new Date(NOW + 300_000).toISOString() },
    expected: refuse(/^Expires gives no freshness/),
  },
  {
    rule: 'Expires in the obsolete RFC 850 format',
    where: 'RFC 9110 5.6.7',
    headers: { date: DATE, expires: 'Sunday, 22-Nov-26 10:05:00 GMT' },
    expected: store(300, { reason: 'Expires' }),
  },
  {
    rule: "Expires in ANSI C's asctime() format",
    where: 'RFC 9110 5.6.7',
    headers: { date: DATE, expires: 'Sun Nov 22 10:05:00 2026' },
    expected: store(300, { reason: 'Expires' }),
  },
  {
    rule: 'a Date that is no HTTP-date is ignored (the arrival time stands in)',
    where: 'RFC 9110 5.6.7',
    headers: { date: '2026', expires: at(300) },
    expected: store(300, { reason: 'Expires' }),
  },
  {
    rule: 'an invalid max-age means stale',
    where: '4.2.1',
    headers: { 'cache-control': 'max-age=soon' },
    expected: refuse(/^max-age gives no freshness/),
  },
  {
    rule: 'a quoted max-age is accepted',
    where: '5.2',
    headers: { 'Cache-Control': 'MAX-AGE="120"' },
    expected: store(120),
  },
  {
    rule: 'a directive given twice: the first counts',
    where: '4.2.1',
    headers: { 'cache-control': ['max-age=30', 'max-age=900'] },
    expected: store(30),
  },
  {
    rule: 'max-age=0 without validators: nothing to keep',
    where: '4.2.1',
    headers: { 'cache-control': 'max-age=0' },
    expected: refuse(/max-age gives no freshness/),
  },
  {
    rule: 'no freshness information and no default: not kept',
    where: '4.2.2',
    headers: {},
    expected: refuse(/the default TTL/),
  },
  {
    rule: "no freshness information: the caller's default (heuristic freshness)",
    where: '4.2.2',
    headers: {},
    options: { defaultTtlSeconds: 10 },
    expected: store(10),
  },
  {
    rule: 'no freshness information and no default, with an ETag or Last-Modified: kept to be revalidated on every use',
    where: '4.2.2, 4.3.1',
    headers: { etag: '"v1"' },
    expected: store(0, { freshSeconds: 0, validators: { etag: '"v1"' }, storeSeconds: 600 }),
  },
  {
    rule: 'maxTtlSeconds caps any lifetime',
    where: 'this cache',
    headers: { 'cache-control': 'max-age=86400' },
    options: { maxTtlSeconds: 300 },
    expected: store(300, { reason: 'max-age, capped' }),
  },
  // Age (4.2.3)
  {
    rule: 'an upstream Age is taken off the lifetime',
    where: '4.2.3',
    headers: { 'cache-control': 'max-age=60', age: '20' },
    expected: store(40, { initialAgeSeconds: 20, freshnessLifetimeSeconds: 60 }),
  },
  {
    rule: 'a response older than its lifetime is not kept',
    where: '4.2.3',
    headers: { 'cache-control': 'max-age=60', age: '70' },
    expected: refuse(/already 70 s old/),
  },
  {
    rule: 'the time the request took is added to Age',
    where: '4.2.3 corrected_age_value',
    headers: { 'cache-control': 'max-age=60', age: '10' },
    options: { requestTime: NOW - 2000 },
    expected: store(48, { initialAgeSeconds: 12 }),
  },
  {
    rule: 'Date in the past gives an apparent age',
    where: '4.2.3 apparent_age',
    headers: { 'cache-control': 'max-age=60', date: at(-30) },
    expected: store(30, { initialAgeSeconds: 30 }),
  },
  {
    rule: 'the larger of apparent age and corrected Age',
    where: '4.2.3 corrected_initial_age',
    headers: { 'cache-control': 'max-age=60', date: at(-30), age: '45' },
    expected: store(15),
  },
  {
    rule: 'an invalid Age is ignored',
    where: '5.1',
    headers: { 'cache-control': 'max-age=60', age: '-5' },
    expected: store(60, { initialAgeSeconds: 0 }),
  },
  {
    rule: 'a list-valued Age: the first member',
    where: '5.1',
    headers: { 'cache-control': 'max-age=60', age: '10, 50' },
    expected: store(50),
  },
  // Status (3, 4.2.2)
  {
    rule: 'a 404 with max-age is kept',
    where: '3',
    status: 404,
    headers: { 'cache-control': 'max-age=30' },
    expected: store(30),
  },
  {
    rule: 'a 404 without freshness: heuristically cacheable',
    where: '4.2.2 / RFC 9110 15.1',
    status: 404,
    headers: {},
    options: { defaultTtlSeconds: 5 },
    expected: store(5),
  },
  {
    rule: 'a 500 without freshness is not kept',
    where: '4.2.2',
    status: 500,
    headers: {},
    options: { defaultTtlSeconds: 5 },
    expected: refuse('status 500 without explicit freshness is not cacheable'),
  },
  {
    rule: 'a 500 with explicit freshness may be kept',
    where: '3',
    status: 500,
    headers: { 'cache-control': 'max-age=5' },
    expected: store(5),
  },
  {
    rule: 'a 500 with explicit freshness, on a cache that lists its cacheable statuses without it',
    where: 'this cache',
    status: 500,
    headers: { 'cache-control': 'max-age=5' },
    options: { cacheableStatuses: [200, 203, 301, 404] },
    expected: refuse('status 500 is not in cacheableStatuses'),
  },
  {
    rule: 'a listed status is kept as RFC 9111 says',
    where: 'this cache',
    status: 404,
    headers: { 'cache-control': 'max-age=5' },
    options: { cacheableStatuses: [200, 404] },
    expected: store(5),
  },
  {
    rule: 'a 206 stays refused even when listed',
    where: '3.3, 3.4',
    status: 206,
    headers: { 'cache-control': 'max-age=60' },
    options: { cacheableStatuses: [200, 206] },
    expected: refuse(/^status 206/),
  },
  {
    rule: 'a 206 is not kept (no partial content here)',
    where: '3.3, 3.4',
    status: 206,
    headers: { 'cache-control': 'max-age=60' },
    expected: refuse(/^status 206/),
  },
  {
    rule: 'a 304 is not a response to keep',
    where: '4.3.4',
    status: 304,
    headers: { 'cache-control': 'max-age=60' },
    expected: refuse(/^status 304/),
  },
  {
    rule: 'a 1xx is not final',
    where: '3',
    status: 103,
    headers: { 'cache-control': 'max-age=60' },
    expected: refuse('status 103 is not final'),
  },
  // Refusals (5.2)
  {
    rule: 'no-store',
    where: '5.2.2.5',
    headers: { 'cache-control': 'no-store, max-age=60' },
    expected: refuse('no-store'),
  },
  {
    rule: 'the request said no-store',
    where: '5.2.1.5',
    headers: { 'cache-control': 'max-age=60' },
    options: { requestHeaders: { 'Cache-Control': 'no-store' } },
    expected: refuse('the request said no-store'),
  },
  {
    rule: 'private',
    where: '5.2.2.7',
    headers: { 'cache-control': 'private, max-age=60' },
    expected: refuse(/^private/),
  },
  {
    rule: 'Vary: * never matches',
    where: '4.1',
    headers: { 'cache-control': 'max-age=60', vary: 'Accept, *' },
    expected: refuse('Vary: *'),
  },
  {
    rule: 'Pragma: no-cache without Cache-Control',
    where: 'practice (5.4)',
    headers: { pragma: 'no-cache' },
    options: { defaultTtlSeconds: 60 },
    expected: refuse('Pragma: no-cache'),
  },
  // Vary (4.1)
  {
    rule: 'Vary names the secondary key, lower-cased and sorted',
    where: '4.1',
    headers: { 'cache-control': 'max-age=60', Vary: 'Cookie, Accept-Language', vary: 'X-Tenant' },
    expected: store(60, { vary: ['accept-language', 'cookie', 'x-tenant'] }),
  },
  // Credentials (3.5 and this cache's extension to Cookie)
  {
    rule: 'Authorization: not kept unless the response allows it',
    where: '3.5',
    headers: { 'cache-control': 'max-age=60' },
    options: { requestHeaders: { Authorization: 'Bearer a' } },
    expected: refuse(/carried authorization/),
  },
  {
    rule: 'Authorization with public',
    where: '3.5',
    headers: { 'cache-control': 'public, max-age=60' },
    options: { requestHeaders: { Authorization: 'Bearer a' } },
    expected: store(60),
  },
  {
    rule: 'Authorization with s-maxage',
    where: '3.5',
    headers: { 'cache-control': 's-maxage=60' },
    options: { requestHeaders: { Authorization: 'Bearer a' } },
    expected: store(60),
  },
  {
    rule: 'Authorization with must-revalidate',
    where: '3.5',
    headers: { 'cache-control': 'max-age=60, must-revalidate' },
    options: { requestHeaders: { Authorization: 'Bearer a' } },
    expected: store(60, { mustRevalidate: true }),
  },
  {
    rule: 'Cookie: the same rule as Authorization',
    where: 'this cache (3.5 extended)',
    headers: { 'cache-control': 'max-age=60' },
    options: { requestHeaders: { cookie: 'session=a' } },
    expected: refuse(/carried cookie/),
  },
  {
    rule: 'Cookie with Vary: Cookie: kept, per cookie',
    where: 'this cache, 4.1',
    headers: { 'cache-control': 'max-age=60', vary: 'cookie' },
    options: { requestHeaders: { cookie: 'session=a' } },
    expected: store(60, { vary: ['cookie'] }),
  },
  {
    rule: 'Cookie, when the caller lists only Authorization',
    where: '3.5',
    headers: { 'cache-control': 'max-age=60' },
    options: { requestHeaders: { cookie: 'session=a' }, credentialRequestHeaders: ['authorization'] },
    expected: store(60),
  },
  // Per-user response headers
  {
    rule: 'Set-Cookie: not kept (perUserHeaders refuse)',
    where: 'this cache',
    headers: { 'cache-control': 'public, max-age=60', 'set-cookie': 'session=a' },
    expected: refuse(/^set-cookie: a per-user header/),
  },
  {
    rule: 'Authentication-Info: not kept',
    where: 'this cache (RFC 9110 11.6.3)',
    headers: { 'cache-control': 'max-age=60', 'authentication-info': 'nextnonce="x"' },
    expected: refuse(/^authentication-info/),
  },
  {
    rule: 'Set-Cookie with perUserHeaders strip: kept without it',
    where: 'this cache',
    headers: { 'cache-control': 'max-age=60', 'Set-Cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' },
    options: { perUserHeaders: 'strip' },
    expected: store(60, { headers: { 'cache-control': 'max-age=60', 'content-type': 'text/plain' } }),
  },
  {
    rule: 'private="set-cookie": kept without Set-Cookie',
    where: '5.2.2.7 qualified',
    headers: { 'cache-control': 'private="Set-Cookie", max-age=60', 'set-cookie': 'a=1' },
    expected: store(60, { headers: { 'cache-control': 'private="Set-Cookie", max-age=60' } }),
  },
  {
    rule: 'no-cache="set-cookie, x-user": kept without both',
    where: '5.2.2.4 qualified',
    headers: {
      'cache-control': 'no-cache="set-cookie, x-user", max-age=60',
      'set-cookie': 'a=1',
      'x-user': 'alice',
      etag: '"1"',
    },
    expected: store(60, {
      mustRevalidate: false,
      headers: { 'cache-control': 'no-cache="set-cookie, x-user", max-age=60', etag: '"1"' },
    }),
  },
  // Stored headers (3.1)
  {
    rule: 'hop-by-hop, Connection-listed, proxy-auth and Age fields are not stored',
    where: '3.1, 4.2.3',
    headers: {
      'cache-control': 'max-age=60',
      connection: 'keep-alive, x-hop',
      'keep-alive': 'timeout=5',
      'x-hop': '1',
      'transfer-encoding': 'chunked',
      'proxy-authenticate': 'Basic',
      age: '1',
      'content-type': 'application/json',
    },
    expected: store(59, { headers: { 'cache-control': 'max-age=60', 'content-type': 'application/json' } }),
  },
  // no-cache and validators (5.2.2.4, 4.3)
  {
    rule: 'no-cache without a validator: nothing to keep',
    where: '5.2.2.4',
    headers: { 'cache-control': 'no-cache' },
    expected: refuse(/^no-cache/),
  },
  {
    rule: 'no-cache with an ETag: kept, revalidated on every use',
    where: '5.2.2.4, 4.3.1',
    headers: { 'cache-control': 'no-cache, max-age=60', etag: '"v1"' },
    expected: store(0, { mustRevalidate: true, validators: { etag: '"v1"' }, storeSeconds: 600 }),
  },
  {
    rule: 'a validator keeps a stale response for revalidation',
    where: '4.3.1',
    headers: { 'cache-control': 'max-age=60', 'last-modified': at(-3600) },
    options: { revalidationWindowSeconds: 120 },
    expected: store(60, { validators: { lastModified: at(-3600) }, storeSeconds: 180 }),
  },
  {
    rule: 'max-age=0 with an ETag: kept only to be revalidated',
    where: '4.3.1',
    headers: { 'cache-control': 'max-age=0', etag: 'W/"v1"' },
    expected: store(0, { storeSeconds: 600 }),
  },
  // Stale use (RFC 5861, 4.2.4)
  {
    rule: 'stale-while-revalidate grants a window past freshness',
    where: 'RFC 5861 3',
    headers: { 'cache-control': 'max-age=60, stale-while-revalidate=30' },
    expected: store(60, { staleWhileRevalidateSeconds: 30, storeSeconds: 90 }),
  },
  {
    rule: 'stale-if-error grants a window past freshness',
    where: 'RFC 5861 4',
    headers: { 'cache-control': 'max-age=60, stale-if-error=300' },
    expected: store(60, { staleIfErrorSeconds: 300, storeSeconds: 360 }),
  },
  {
    rule: 'must-revalidate forbids stale use',
    where: '4.2.4, 5.2.2.2',
    headers: { 'cache-control': 'max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=30' },
    expected: store(60, {
      mustRevalidate: true,
      staleWhileRevalidateSeconds: 0,
      staleIfErrorSeconds: 0,
      storeSeconds: 60,
    }),
  },
  {
    rule: 'proxy-revalidate forbids stale use',
    where: '5.2.2.8',
    headers: { 'cache-control': 'max-age=60, proxy-revalidate, stale-if-error=30' },
    expected: store(60, { mustRevalidate: true, staleIfErrorSeconds: 0 }),
  },
  {
    rule: 's-maxage with an explicit stale-while-revalidate: the explicit grant wins',
    where: 'this cache (RFC 5861)',
    headers: { 'cache-control': 's-maxage=10, stale-while-revalidate=50' },
    expected: store(10, { mustRevalidate: false, staleWhileRevalidateSeconds: 50 }),
  },
  {
    rule: 'max-age=0 with stale-while-revalidate: served stale at once while revalidated',
    where: 'RFC 5861 3',
    headers: { 'cache-control': 'max-age=0, stale-while-revalidate=30' },
    expected: store(0, { staleWhileRevalidateSeconds: 30, storeSeconds: 30 }),
  },
  {
    rule: 'maxStoreSeconds caps how long anything is kept',
    where: 'this cache',
    headers: { 'cache-control': 'max-age=31536000' },
    expected: store(31_536_000, { storeSeconds: 86_400 }),
  },
];

describe('cachePolicy: RFC 9111 as a shared cache, one rule a row', () => {
  it.each(rows.map((row) => [`${row.rule} (${row.where})`, row] as const))('%s', (_name, row) => {
    const decision = cachePolicy(
      { status: row.status ?? 200, headers: row.headers },
      { now: NOW, requestTime: NOW, ...row.options },
    );
    expect(decision).toMatchObject(row.expected);
  });

  it('gives every field of a decision, so a caller never has to guess one', () => {
    expect(
      cachePolicy(
        { status: 200, headers: { 'cache-control': 'max-age=60', date: DATE, etag: '"a"', vary: 'Accept' } },
        { now: NOW },
      ),
    ).toEqual({
      cacheable: true,
      reason: 'max-age',
      freshnessLifetimeSeconds: 60,
      initialAgeSeconds: 0,
      freshSeconds: 60,
      staleWhileRevalidateSeconds: 0,
      staleIfErrorSeconds: 0,
      mustRevalidate: false,
      validators: { etag: '"a"' },
      vary: ['accept'],
      headers: { 'cache-control': 'max-age=60', date: DATE, etag: '"a"', vary: 'Accept' },
      storeSeconds: 660,
    });
  });

  it('stores a response without a valid Date with the time it was received (RFC 9110 section 6.6.1)', () => {
    const stored = (date?: string) =>
      cachePolicy(
        { status: 200, headers: { 'cache-control': 'max-age=60', ...(date === undefined ? {} : { date }) } },
        { now: NOW },
      );
    expect(stored()).toMatchObject({ cacheable: true, headers: { date: DATE } });
    expect(stored('yesterday')).toMatchObject({ cacheable: true, headers: { date: DATE } });
    expect(stored(at(-30))).toMatchObject({ cacheable: true, headers: { date: at(-30) } });
  });

  it('gives each received response its own second as Date, also when decisions come within one second', () => {
    const dateOf = (now: number) => {
      const decision = cachePolicy({ status: 200, headers: { 'cache-control': 'max-age=60' } }, { now });
      return decision.cacheable ? decision.headers['date'] : undefined;
    };
    expect(dateOf(NOW)).toBe(DATE);
    expect(dateOf(NOW + 999)).toBe(DATE);
    expect(dateOf(NOW + 1000)).toBe(at(1));
    expect(dateOf(NOW - 1)).toBe(at(-1));
    expect(dateOf(NOW)).toBe(DATE);
  });

  it('reads a field in any spelling of its name, joins its spellings, and passes over inherited fields', () => {
    const inherited = Object.create({ 'cache-control': 'no-store', 'set-cookie': 'session=1' }) as Record<
      string,
      string
    >;
    inherited['Cache-Control'] = 'max-age=60';
    inherited['cache-CONTROL'] = 'must-revalidate';
    inherited['VARY'] = 'Accept';
    inherited['vary'] = 'Accept-Language';
    const decision = cachePolicy({ status: 200, headers: { ...Object.getPrototypeOf(inherited) } }, { now: NOW });
    expect(decision).toMatchObject({ cacheable: false });
    expect(cachePolicy({ status: 200, headers: inherited }, { now: NOW })).toMatchObject({
      cacheable: true,
      freshSeconds: 60,
      mustRevalidate: true,
      vary: ['accept', 'accept-language'],
      headers: { 'cache-control': ['max-age=60', 'must-revalidate'], vary: ['Accept', 'Accept-Language'], date: DATE },
    });
  });

  it.each<[string, unknown, CachePolicyOptions, RegExp]>([
    [
      'a status that is not a number',
      { status: '200', headers: {} },
      {},
      /response.status must be a number, got string/,
    ],
    ['headers that are not an object', { status: 200, headers: null }, {}, /response.headers must be an object/],
    ['a negative default TTL', { status: 200, headers: {} }, { defaultTtlSeconds: -1 }, /options.defaultTtlSeconds/],
    [
      'an unknown perUserHeaders',
      { status: 200, headers: {} },
      { perUserHeaders: 'keep' as 'strip' },
      /perUserHeaders/,
    ],
    [
      'maxStoreSeconds 0 (a TTL of 0 means "never expires")',
      { status: 200, headers: {} },
      { maxStoreSeconds: 0 },
      /options.maxStoreSeconds must be a number of seconds > 0/,
    ],
    [
      'a misspelt option (read by no one, it changed nothing in silence)',
      { status: 200, headers: {} },
      { defaultTTLSeconds: 60 } as never,
      /^cachePolicy: options\.defaultTTLSeconds is not an option; the options are requestHeaders, requestTime, now, defaultTtlSeconds,/,
    ],
    [
      'cacheableStatuses with a status that is not final',
      { status: 200, headers: {} },
      { cacheableStatuses: [200, 100] },
      /options.cacheableStatuses/,
    ],
  ])('refuses %s with an error naming it', (_name, response, options, message) => {
    expect(() => cachePolicy(response as never, options)).toThrow(message);
  });
});

describe('parseCacheControl', () => {
  it('lower-cases names, unquotes values, and keeps commas inside quotes', () => {
    expect([
      ...parseCacheControl('Max-Age=5, No-Transform, no-cache="Set-Cookie, X-User", community="U\\"CI"'),
    ]).toEqual([
      ['max-age', '5'],
      ['no-transform', true],
      ['no-cache', 'Set-Cookie, X-User'],
      ['community', 'U"CI'],
    ]);
  });

  it('keeps the first of a directive given twice, and skips empty members', () => {
    expect([...parseCacheControl(',max-age=1,, max-age=2 ,')]).toEqual([['max-age', '1']]);
  });

  it('reads a quoted string that never closes as no-store: it may have swallowed one (found by an attack)', () => {
    expect(parseCacheControl('public, max-age=60, foo="bar, no-store').get('no-store')).toBe(true);
    const decision = cachePolicy(
      { status: 200, headers: { 'cache-control': 'public, max-age=60, foo="bar, no-store' } },
      { now: 0, requestTime: 0 },
    );
    expect(decision.cacheable).toBe(false);
  });
});
