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

  it('takes the origin from options for a path-only URL; an absolute URL keeps its own', () => {
    const options = { origin: 'https://api.example' };
    const key = responseCacheKey(get('/orders/1', { host: 'internal:8080' }), options);
    expect(key).toBe(responseCacheKey(get('https://api.example/orders/1')));
    expect(responseCacheKey(get('https://other.example/orders/1'), options)).toBe(
      responseCacheKey(get('https://other.example/orders/1')),
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
