import { describe, expect, it } from 'vitest';
import { responseCacheKey } from '../src/index.js';

describe('responseCacheKey', () => {
  const base = { method: 'GET', url: '/orders?b=2&a=1', headers: { 'X-Tenant': 'acme', Accept: 'application/json' } };

  it('is stable: method case, query order and header-name case do not change it', () => {
    const key = responseCacheKey(base, { vary: ['x-tenant'] });
    expect(
      responseCacheKey(
        { ...base, method: 'get', url: '/orders?a=1&b=2', headers: { 'x-tenant': 'acme' } },
        { vary: ['X-Tenant'] },
      ),
    ).toBe(key);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with every dimension named in Vary, the path, the query, and the body when asked', () => {
    const key = responseCacheKey(base, { vary: ['x-tenant'] });
    expect(responseCacheKey({ ...base, headers: { 'x-tenant': 'globex' } }, { vary: ['x-tenant'] })).not.toBe(key);
    expect(responseCacheKey({ ...base, url: '/orders?a=1&b=3' }, { vary: ['x-tenant'] })).not.toBe(key);
    expect(responseCacheKey({ ...base, url: '/customers?a=1&b=2' }, { vary: ['x-tenant'] })).not.toBe(key);
    expect(responseCacheKey(base)).toBe(responseCacheKey({ ...base, headers: { 'x-tenant': 'globex' } })); // not named: ignored
    const post = { method: 'POST', url: '/search', body: '{"q":"a"}' };
    expect(responseCacheKey(post, { includeBody: true })).not.toBe(
      responseCacheKey({ ...post, body: '{"q":"b"}' }, { includeBody: true }),
    );
  });
});

describe('responseCacheKey: the target as the origin is asked it, never normalised (poisoning found by an attack)', () => {
  const key = (url: string) => responseCacheKey({ method: 'GET', url, headers: { host: 'api.example' } });

  it('keys a path with dot-segments, encoded or not, backslashes or a leading // apart from the path they resolve to', () => {
    for (const [written, resolved] of [
      ['/search/../products/1', '/products/1'],
      ['/search/%2e%2e/products/2', '/products/2'],
      ['/search/.%2E/products/2', '/products/2'],
      ['/search/..\\products/4', '/products/4'],
      ['//evil.example/products/3', '/products/3'],
      ['/products/5/.', '/products/5/'],
      ['/products/%41', '/products/A'],
    ]) {
      expect(key(written as string), written).not.toBe(key(resolved as string));
    }
  });

  it("keeps the order of one name's values and each parameter as written; sorts names only", () => {
    expect(key('/p?a=1&a=2')).not.toBe(key('/p?a=2&a=1'));
    expect(key('/p?x=a+b')).not.toBe(key('/p?x=a%20b'));
    expect(key('/p?flag')).not.toBe(key('/p?flag='));
    expect(key('/p?b=2&a=1&a=0')).toBe(key('/p?a=1&a=0&b=2'));
    // Two spellings of one name (a server reads %69d as id) keep their order too.
    expect(key('/item?%69d=666&id=1')).not.toBe(key('/item?id=1&%69d=666'));
    expect(key('/p?')).toBe(key('/p'));
    expect(key('/p#top')).toBe(key('/p'));
    expect(key('http://api.example/p?b=1&a=2')).toBe(key('/p?a=2&b=1'));
  });
});

describe('responseCacheKey: scheme and host (two hosts never share an entry)', () => {
  const get = (url: string, headers: Record<string, string> = {}) => ({ method: 'GET', url, headers });

  it('keys an absolute URL on its scheme, host and port', () => {
    const key = responseCacheKey(get('https://a.example/orders/1'));
    expect(responseCacheKey(get('https://b.example/orders/1'))).not.toBe(key);
    expect(responseCacheKey(get('http://a.example/orders/1'))).not.toBe(key);
    expect(responseCacheKey(get('https://a.example:8443/orders/1'))).not.toBe(key);
    // the same origin, spelt differently: the same entry
    expect(responseCacheKey(get('HTTPS://A.Example:443/orders/1#top'))).toBe(key);
  });

  it('keys a path-only URL on the Host header, read as http://HOST', () => {
    const key = responseCacheKey(get('/orders/1', { Host: 'a.example' }));
    expect(responseCacheKey(get('/orders/1', { host: 'b.example' }))).not.toBe(key);
    expect(responseCacheKey(get('/orders/1', { host: 'A.EXAMPLE:80' }))).toBe(key);
    expect(responseCacheKey(get('http://a.example/orders/1'))).toBe(key);
    expect(responseCacheKey(get('/orders/1'))).not.toBe(key); // no Host: apart from every named host
  });

  it('takes the origin from options for a path-only URL; an absolute URL for another origin is refused', () => {
    const options = { origin: 'https://api.example' };
    const key = responseCacheKey(get('/orders/1', { host: 'internal:8080' }), options);
    expect(key).toBe(responseCacheKey(get('https://api.example/orders/1')));
    expect(responseCacheKey(get('https://api.example/orders/1'), options)).toBe(key);
    // The origin would be asked for one and the answer stored as the other's (found by an attack).
    expect(() => responseCacheKey(get('https://other.example/orders/1'), options)).toThrow(
      /request.url "https:\/\/other.example\/orders\/1" is for https:\/\/other.example, but the request is for https:\/\/api.example/,
    );
    expect(() => responseCacheKey(get('http://victim.example/home', { host: 'attacker.example' }))).toThrow(
      /is for http:\/\/victim.example, but the request is for http:\/\/attacker.example/,
    );
    expect(responseCacheKey(get('http://victim.example/home', { host: 'Victim.example:80' }))).toBe(
      responseCacheKey(get('/home', { host: 'victim.example' })),
    );
  });

  it.each([
    [get('/x', { host: 'a b' }), undefined, /the Host header "a b" is not a host/],
    [get('/x', { host: 'a.example/path' }), undefined, /the Host header "a.example\/path" is not a host/],
    [get('/x'), { origin: 'api.example' }, /options.origin "api.example" is not a URL/],
    [get('/x'), { origin: 'https://api.example/v1' }, /options.origin must be a scheme and host only/],
    [get('ftp://files.example/x'), undefined, /request.url "ftp:\/\/files.example\/x" is not http or https/],
    [{ method: '', url: '/x' }, undefined, /request.method must be a non-empty string/],
  ])('refuses bad input with an error naming it (%#)', (request, options, message) => {
    expect(() => responseCacheKey(request, options)).toThrow(message);
    try {
      responseCacheKey(request, options);
    } catch (error) {
      expect((error as { code?: string }).code).toBe('E_INVALID_ARGUMENT');
    }
  });
});
