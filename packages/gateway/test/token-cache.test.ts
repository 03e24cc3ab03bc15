import { type Cache, CacheManager, ManualClock } from '@meshcache/core';
import { describe, expect, it } from 'vitest';
import { type AuthResponse, type CachedToken, TokenError, tokenCache } from '../src/index.js';

function setup(answers: Array<AuthResponse | Error | Promise<AuthResponse>>, margin = 60, extra: object = {}) {
  const clock = new ManualClock(1_700_000_000_000);
  const manager = new CacheManager({ clock: () => clock.now() });
  const cache = manager.addCache<CachedToken>('service tokens', { timeToLiveSeconds: 86_400 });
  const calls: Array<Record<string, string>> = [];
  const logs: string[] = [];
  const tokens = tokenCache({
    cache,
    dimensions: ['environment', 'backend', 'scope', 'tenant'],
    fetchToken: async (dimensions) => {
      calls.push({ ...dimensions });
      const answer = answers.shift() ?? { status: 200, body: { access_token: `t${calls.length}`, expires_in: 3600 } };
      if (answer instanceof Error) throw answer;
      return answer;
    },
    safetyMarginSeconds: margin,
    ...extra,
    clock: () => clock.now(),
    logger: {
      debug: (_o, m) => logs.push(`debug ${m}`),
      info: (_o, m) => logs.push(`info ${m}`),
      warn: (_o, m) => logs.push(`warn ${m}`),
      error: () => {},
    },
  });
  return { clock, cache, tokens, calls, logs };
}

const prod = { environment: 'prod', backend: 'orders', scope: 'orders:read', tenant: 'acme' };

describe('tokenCache', () => {
  it('asks the auth server once per miss; hits, misses and failures are told apart in logs and statistics', async () => {
    const { tokens, calls, logs } = setup([]);
    const [one, two] = await Promise.all([tokens.get(prod), tokens.get(prod)]);
    expect(one).toBe('t1');
    expect(two).toBe('t1');
    expect(await tokens.get(prod)).toBe('t1');
    expect(calls).toHaveLength(1);
    expect(tokens.statistics()).toEqual({ hits: 1, misses: 2, failures: 0, refreshes: 0, refreshFailures: 0 });
    expect(logs).toContain('info token miss: asking the auth server');
    expect(logs).toContain('debug token hit');
  });

  it('caches expires_in minus the margin, never longer than the token lives, and refetches after', async () => {
    const { tokens, cache, calls, clock } = setup([{ status: 200, body: { access_token: 'short', expires_in: 600 } }]);
    await tokens.get(prod);
    expect(cache.peekEntry(tokens.keyOf(prod))?.timeToLiveSeconds).toBe(540);
    clock.advance(541_000);
    expect(await tokens.get(prod)).toBe('t2');
    expect(calls).toHaveLength(2);
  });

  it('keeps a token that lives no longer than the margin one second at most', async () => {
    const { tokens, cache } = setup([{ status: 200, body: { access_token: 'brief', expires_in: 30 } }]);
    expect(await tokens.get(prod)).toBe('brief');
    expect(cache.peekEntry(tokens.keyOf(prod))?.timeToLiveSeconds).toBe(1);
  });

  it.each<[string, AuthResponse | Error, RegExp]>([
    ['a non-2xx answer', { status: 503, body: { error: 'busy' } }, /answered 503/],
    ['an answer without access_token', { status: 200, body: { expires_in: 3600 } }, /no access_token/],
    [
      'an answer without a usable expires_in',
      { status: 200, body: { access_token: 'x', expires_in: 'soon' } },
      /no usable expires_in/,
    ],
    [
      'an answer whose expires_in passes ten years',
      { status: 200, body: { access_token: 'x', expires_in: 1e308 } },
      /no usable expires_in \(1e\+308\)/,
    ],
    ['a transport failure', new Error('ECONNREFUSED'), /could not be asked: ECONNREFUSED/],
  ])(
    'never caches %s: the caller gets a TokenError and the next request asks again',
    async (_name, answer, message) => {
      const { tokens, calls, cache, logs } = setup([answer]);
      const failure = tokens.get(prod);
      await expect(failure).rejects.toBeInstanceOf(TokenError);
      await expect(failure).rejects.toThrow(message);
      expect(cache.size).toBe(0);
      expect(await tokens.get(prod)).toBe('t2');
      expect(calls).toHaveLength(2);
      expect(tokens.statistics().failures).toBe(1);
      expect(logs).toContain('warn token failure: not cached; the next request asks again');
    },
  );

  it('keys on every dimension: a token is never reused for another tenant or scope, and none may be left out', async () => {
    const { tokens, calls } = setup([]);
    await tokens.get(prod);
    await tokens.get({ ...prod, tenant: 'globex' });
    await tokens.get({ ...prod, scope: 'orders:write' });
    expect(calls).toHaveLength(3);
    const { tenant: _, ...withoutTenant } = prod;
    await expect(tokens.get(withoutTenant)).rejects.toThrow(/dimension "tenant" is missing/);
    await expect(tokens.get({ ...prod, region: 'eu' })).rejects.toThrow(/"region" is not one of this cache's/);
    expect(tokens.keyOf(prod)).toBe('environment=prod&backend=orders&scope=orders%3Aread&tenant=acme');
    // A long scope list is hashed: a disk-backed token cache takes keys of at most 1,977 bytes.
    const wide = { ...prod, scope: Array.from({ length: 300 }, (_, i) => `orders:read:${i}`).join(' ') };
    expect(tokens.keyOf(wide)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(tokens.keyOf({ ...wide, tenant: 'globex' })).not.toBe(tokens.keyOf(wide));
    // Half of a surrogate pair has no UTF-8 form: refused naming the dimension, not a bare URIError.
    const lone = tokens.get({ ...prod, tenant: 'ac\ud800me' });
    await expect(lone).rejects.toMatchObject({ code: 'E_INVALID_ARGUMENT' });
    await expect(lone).rejects.toThrow(/dimension "tenant" holds a lone UTF-16 surrogate/);
    expect(calls).toHaveLength(3);
    // A whole pair (an emoji) is a character like any other.
    await tokens.get({ ...prod, tenant: 'acme \u{1F680}' });
    expect(calls).toHaveLength(4);
  });

  it('revoke drops the token, and the next request fetches a new one', async () => {
    const { tokens } = setup([]);
    expect(await tokens.get(prod)).toBe('t1');
    expect(tokens.revoke(prod)).toBe(true);
    expect(await tokens.get(prod)).toBe('t2');
  });
});

describe('tokenCache refresh ahead', () => {
  const short = { status: 200, body: { access_token: 'first', expires_in: 600 } }; // kept 540 s

  it('answers with the held token and fetches the next in the background, once, in the last refreshAheadSeconds', async () => {
    const { tokens, calls, clock, cache } = setup([short]);
    expect(await tokens.get(prod)).toBe('first');
    clock.advanceSeconds(479); // the window opens at 540 - 60 = 480 s
    expect(await tokens.get(prod)).toBe('first');
    await tokens.whenIdle();
    expect(calls).toHaveLength(1);
    clock.advanceSeconds(2);
    const during = await Promise.all([tokens.get(prod), tokens.get(prod), tokens.get(prod)]);
    expect(during).toEqual(['first', 'first', 'first']); // nobody waits for the refresh
    await tokens.whenIdle();
    expect(calls).toHaveLength(2);
    expect(await tokens.get(prod)).toBe('t2');
    expect(cache.peekEntry(tokens.keyOf(prod))?.timeToLiveSeconds).toBe(3540);
    // the refresh's marker holds no credential
    const markers = cache.keys().filter((key) => key !== tokens.keyOf(prod));
    expect(markers.map((key) => cache.peekEntry(key)?.value.accessToken)).toEqual(['']);
    clock.advanceSeconds(60); // past the first token's end: still no wait, still no new fetch
    expect(await tokens.get(prod)).toBe('t2');
    expect(tokens.statistics()).toMatchObject({ misses: 1, refreshes: 1, refreshFailures: 0 });
  });

  it("never opens the window before the second half of the entry's life", async () => {
    const { tokens, calls, clock } = setup(
      [{ status: 200, body: { access_token: 'first', expires_in: 180 } }], // kept 120 s: window from 60 s
      60,
      { refreshAheadSeconds: 100 },
    );
    await tokens.get(prod);
    clock.advanceSeconds(59);
    await tokens.get(prod);
    await tokens.whenIdle();
    expect(calls).toHaveLength(1);
    clock.advanceSeconds(2);
    await tokens.get(prod);
    await tokens.whenIdle();
    expect(calls).toHaveLength(2);
  });

  it('keeps the held token when the refresh fails, and waits refreshRetrySeconds before trying again', async () => {
    const { tokens, calls, clock, logs } = setup([short, { status: 503, body: {} }]);
    await tokens.get(prod);
    clock.advanceSeconds(481);
    expect(await tokens.get(prod)).toBe('first');
    await tokens.whenIdle();
    expect(tokens.statistics()).toMatchObject({ refreshes: 1, refreshFailures: 1, failures: 0 });
    expect(logs).toContain('warn token refresh ahead failed: the held token serves until it leaves');
    clock.advanceSeconds(4);
    expect(await tokens.get(prod)).toBe('first');
    await tokens.whenIdle();
    expect(calls).toHaveLength(2); // not yet
    clock.advanceSeconds(2);
    expect(await tokens.get(prod)).toBe('first');
    await tokens.whenIdle();
    expect(calls).toHaveLength(3);
    expect(await tokens.get(prod)).toBe('t3');
  });

  it('does not undo a revocation that happens while the refresh is on its way', async () => {
    let answer: (value: AuthResponse) => void = () => {};
    const slow = new Promise<AuthResponse>((resolve) => {
      answer = resolve;
    });
    const { tokens, calls, clock } = setup([short, slow]);
    await tokens.get(prod);
    clock.advanceSeconds(481);
    await tokens.get(prod); // starts the refresh
    expect(tokens.revoke(prod)).toBe(true);
    answer({ status: 200, body: { access_token: 'fetched before the revocation', expires_in: 3600 } });
    await tokens.whenIdle();
    expect(await tokens.get(prod)).toBe('t3'); // a fresh fetch after the revocation
    expect(calls).toHaveLength(3);
  });

  it('keeps a refresh that finishes after the held entry expired: the next request neither waits nor asks again', async () => {
    let answer: (value: AuthResponse) => void = () => {};
    const slow = new Promise<AuthResponse>((resolve) => {
      answer = resolve;
    });
    const { tokens, calls, clock } = setup([short, slow]);
    await tokens.get(prod);
    clock.advanceSeconds(500);
    expect(await tokens.get(prod)).toBe('first'); // starts the refresh, which takes its time
    clock.advanceSeconds(41); // the held entry (540 s) expires meanwhile: not a revocation
    answer({ status: 200, body: { access_token: 'refreshed', expires_in: 3600 } });
    await tokens.whenIdle();
    expect(await tokens.get(prod)).toBe('refreshed');
    expect(calls).toHaveLength(2);
    expect(tokens.statistics()).toMatchObject({ misses: 1, refreshes: 1 });
  });

  it('does not undo a removeAll (a clear) or a remove by a peer that happens while the refresh is on its way', async () => {
    for (const revoke of [
      (cache: Cache<CachedToken>) => cache.removeAll(),
      (cache: Cache<CachedToken>, key: string) => cache.remove(key),
    ]) {
      let answer: (value: AuthResponse) => void = () => {};
      const slow = new Promise<AuthResponse>((resolve) => {
        answer = resolve;
      });
      const { tokens, calls, clock, cache } = setup([short, slow]);
      await tokens.get(prod);
      clock.advanceSeconds(500);
      await tokens.get(prod);
      revoke(cache, tokens.keyOf(prod));
      clock.advanceSeconds(41); // and the held entry would have expired too
      answer({ status: 200, body: { access_token: 'fetched before the revocation', expires_in: 3600 } });
      await tokens.whenIdle();
      expect(await tokens.get(prod)).toBe('t3');
      expect(calls).toHaveLength(3);
    }
  });

  it('holds the entry to the end of its refresh window: the TTL is rounded up, never past the token', async () => {
    const { tokens, cache, calls, clock } = setup([
      { status: 200, body: { access_token: 'first', expires_in: 600.5 } },
    ]);
    await tokens.get(prod);
    expect(cache.peekEntry(tokens.keyOf(prod))?.timeToLiveSeconds).toBe(541); // 540.5 s, rounded up
    clock.advance(540_200); // inside the window, which ends at 540.5 s
    expect(await tokens.get(prod)).toBe('first'); // a hit, not a wait
    await tokens.whenIdle();
    expect(calls).toHaveLength(2); // the refresh ahead, not a miss
    expect(tokens.statistics()).toMatchObject({ misses: 1, refreshes: 1 });
    const noMargin = setup([{ status: 200, body: { access_token: 'edge', expires_in: 600.5 } }], 0);
    await noMargin.tokens.get(prod);
    expect(noMargin.cache.peekEntry(noMargin.tokens.keyOf(prod))?.timeToLiveSeconds).toBe(600); // never past its expiry
  });

  it('does nothing ahead for a token that lives no longer than the margin, nor with refreshAheadSeconds 0', async () => {
    const brief = setup([{ status: 200, body: { access_token: 'brief', expires_in: 30 } }]);
    await brief.tokens.get(prod);
    await brief.tokens.get(prod);
    await brief.tokens.whenIdle();
    expect(brief.calls).toHaveLength(1);
    const off = setup([short], 60, { refreshAheadSeconds: 0 });
    await off.tokens.get(prod);
    off.clock.advanceSeconds(539);
    expect(await off.tokens.get(prod)).toBe('first');
    await off.tokens.whenIdle();
    expect(off.calls).toHaveLength(1);
  });

  it('refuses bad options with an error naming the option', () => {
    const { cache } = setup([]);
    const base = { cache, dimensions: ['tenant'], fetchToken: async () => ({ status: 200, body: {} }) };
    expect(() => tokenCache({ ...base, refreshAheadSeconds: -1 })).toThrow(/options.refreshAheadSeconds/);
    expect(() => tokenCache({ ...base, safetyMarginSeconds: Number.NaN })).toThrow(/options.safetyMarginSeconds/);
    expect(() => tokenCache({ ...base, dimensions: [] })).toThrow(/name at least one dimension/);
    expect(() => tokenCache({ ...base, fetchTimeoutSeconds: 0 })).toThrow(/options.fetchTimeoutSeconds/);
    // A misspelt option was read by no one, and the margin stayed 60 s without a word.
    expect(() => tokenCache({ ...base, safetyMarginSecond: 5 } as never)).toThrow(
      'tokenCache: options.safetyMarginSecond is not an option; the options are cache, dimensions, fetchToken, fetchTimeoutSeconds, safetyMarginSeconds, refreshAheadSeconds, refreshRetrySeconds, logger, clock',
    );
    expect(() => tokenCache({ ...base, safetyMarginSecond: 5 } as never)).toThrow(
      expect.objectContaining({ code: 'E_CONFIG' }),
    );
  });
});

describe('tokenCache: what an attack found', () => {
  it('an ask of the auth server that never answers fails after fetchTimeoutSeconds, and the next request asks again', async () => {
    const { tokens, calls } = setup([new Promise<AuthResponse>(() => {})], 60, { fetchTimeoutSeconds: 0.05 });
    const never = tokens.get(prod);
    await expect(never).rejects.toThrow(/did not answer for .* within 0.05 s \(fetchTimeoutSeconds\)/);
    await expect(never).rejects.toBeInstanceOf(TokenError);
    expect(await tokens.get(prod)).toBe('t2'); // asked again, not joined to the first for good
    expect(calls).toHaveLength(2);
  });

  it('passes fetchToken a signal that aborts at the timeout', async () => {
    let seen: AbortSignal | undefined;
    const manager = new CacheManager();
    const tokens = tokenCache({
      cache: manager.addCache<CachedToken>('t'),
      dimensions: ['tenant'],
      fetchTimeoutSeconds: 0.05,
      fetchToken: (_dimensions, { signal }) => {
        seen = signal;
        return new Promise<AuthResponse>(() => {});
      },
    });
    await expect(tokens.get({ tenant: 'a' })).rejects.toThrow(TokenError);
    expect(seen?.aborted).toBe(true);
    await manager.shutdown();
  });

  it('keys and asks with the same values: own ones, each read once', async () => {
    const { tokens, calls, cache } = setup([]);
    const inherited = Object.assign(Object.create({ tenant: 'victim' }), {
      environment: 'prod',
      backend: 'orders',
      scope: 'orders:read',
    });
    await expect(tokens.get(inherited)).rejects.toThrow(/token dimension "tenant" is missing/);
    let reads = 0;
    const shifty = {
      environment: 'prod',
      backend: 'orders',
      scope: 'orders:read',
      get tenant() {
        reads++;
        return reads === 1 ? 'good' : 'evil';
      },
    };
    await tokens.get(shifty);
    expect(calls.at(-1)?.['tenant']).toBe('good');
    expect(cache.keys()).toEqual([tokens.keyOf({ ...prod, tenant: 'good' })]);
  });
});
