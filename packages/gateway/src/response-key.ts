/**
 * The primary key of a cached response: which request it answers (RFC 9111 section 2: the
 * target URI and the method), plus the request headers the caller always keys on.
 *
 * What goes in, in the spirit of Axway's "Create Key" filter, hashed with SHA-256:
 * - the method, upper-cased;
 * - the origin: scheme, host and port. An absolute URL names its own; a path-only URL is read
 *   against `options.origin` when given, else against the request's Host header as
 *   `http://HOST`. Two hosts never share an entry: a gateway in front of several virtual hosts
 *   would otherwise answer one host's path with another's response. A request with neither
 *   (HTTP/1.0 without Host) is keyed as "no host", apart from every named host;
 * - the path exactly as the request wrote it, and the query with its parameters sorted by name
 *   (`?a=1&b=2` and `?b=2&a=1` share an entry), each as written, the values of one name in their
 *   order (`?a=1&a=2` and `?a=2&a=1` do not: a handler that reads the first answers differently);
 *   the fragment never reaches a server and is left out. Never normalised: `/search/../products/1`
 *   or `/search/%2e%2e/products/1` is what the origin is asked, and may answer as something else
 *   than `/products/1`; keyed as `/products/1`, its answer was served to every client of that
 *   path, on every instance (a poisoning an attack found);
 * - the request headers named in `options.vary` (names case-insensitive; an absent header is
 *   apart from an empty one): the dimensions the caller knows change the answer, such as the
 *   tenant the gateway picks a token for, which the backend cannot name in its own Vary;
 * - with `includeBody`, a hash of the body (POST queries).
 *
 * The response's own Vary is not here: it is only known once a response arrives.
 */
import { createHash } from 'node:crypto';
import { MeshcacheError } from '@meshcache/core';
import { type Headers, headerValue } from './headers.js';

export interface KeyedRequest {
  readonly method: string;
  /** An absolute URL (`https://api.example.com/orders/42`), or path and query (`/orders/42?expand=items`). */
  readonly url: string;
  readonly headers?: Headers;
  readonly body?: string | Uint8Array;
}

export interface ResponseKeyOptions {
  /** Request headers whose values always change the response (case-insensitive). @default [] */
  readonly vary?: readonly string[];
  /** Put a hash of the body in the key (for POST queries). @default false */
  readonly includeBody?: boolean;
  /**
   * The scheme and host a path-only URL is for (`https://api.example.com`). An absolute URL
   * always keys on its own. @default the request's Host header, as `http://HOST`
   */
  readonly origin?: string;
}

/** The scheme, host and port a request is for, normalised (`https://a.example`), or null for "no host". */
export function requestOrigin(request: KeyedRequest, options: ResponseKeyOptions = {}): string | null {
  if (/^[a-z][a-z0-9+.-]*:/i.test(request.url)) {
    const url = parseUrl(request.url, 'request.url');
    // An absolute URL keys on its own origin; one that disagrees with options.origin or with the
    // request's Host is refused: the origin would be asked for one (a backend picks its virtual
    // host by Host) and the answer stored as the other's (found by an attack).
    const claimed =
      options.origin !== undefined
        ? parseUrl(options.origin, 'options.origin').origin
        : hostOrigin(request, url.protocol);
    if (claimed !== undefined && claimed !== null && claimed !== url.origin) {
      throw new MeshcacheError(
        'E_INVALID_ARGUMENT',
        `responseCacheKey: request.url "${request.url}" is for ${url.origin}, but the request is for ${claimed}`,
      );
    }
    return url.origin;
  }
  if (options.origin !== undefined) {
    const origin = parseUrl(options.origin, 'options.origin');
    if (origin.pathname !== '/' || origin.search !== '' || origin.hash !== '') {
      throw new MeshcacheError(
        'E_INVALID_ARGUMENT',
        `responseCacheKey: options.origin must be a scheme and host only (https://api.example.com), got "${options.origin}"`,
      );
    }
    return origin.origin;
  }
  return hostOrigin(request, 'http:') ?? null;
}

/** The request's Host as an origin of `protocol` (`http:`), undefined without one. @throws E_INVALID_ARGUMENT */
function hostOrigin(request: KeyedRequest, protocol: string): string | undefined {
  const host = headerValue(request.headers, 'host');
  if (host === undefined) return undefined;
  let parsed: URL | undefined;
  try {
    parsed = new URL(`${protocol}//${host.trim()}`);
  } catch {
    parsed = undefined;
  }
  if (
    parsed === undefined ||
    parsed.pathname !== '/' ||
    parsed.search !== '' ||
    parsed.hash !== '' ||
    parsed.username !== '' ||
    parsed.host === ''
  ) {
    throw new MeshcacheError('E_INVALID_ARGUMENT', `responseCacheKey: the Host header "${host}" is not a host`);
  }
  return parsed.origin;
}

function parseUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch (error) {
    throw new MeshcacheError('E_INVALID_ARGUMENT', `responseCacheKey: ${what} "${text}" is not a URL`, {
      cause: error,
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new MeshcacheError(
      'E_INVALID_ARGUMENT',
      `responseCacheKey: ${what} "${text}" is not http or https (${url.protocol.slice(0, -1)})`,
    );
  }
  return url;
}

/** A stable key for a response: same request, same key, on every instance. */
export function responseCacheKey(request: KeyedRequest, options: ResponseKeyOptions = {}): string {
  if (typeof request.method !== 'string' || request.method === '') {
    throw new MeshcacheError('E_INVALID_ARGUMENT', 'responseCacheKey: request.method must be a non-empty string');
  }
  if (typeof request.url !== 'string' || request.url === '') {
    throw new MeshcacheError('E_INVALID_ARGUMENT', 'responseCacheKey: request.url must be a non-empty string');
  }
  const origin = requestOrigin(request, options);
  // Only the path and query are read from here, as written: the origin above already says where.
  const { path, query } = requestTarget(request.url);
  const vary = [...new Set((options.vary ?? []).map((name) => name.toLowerCase()))].sort();
  const canonical = JSON.stringify([
    request.method.toUpperCase(),
    origin,
    path,
    query,
    vary.map((name) => [name, headerValue(request.headers, name) ?? null]),
    options.includeBody === true && request.body !== undefined
      ? createHash('sha256').update(request.body).digest('hex')
      : null,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

/**
 * The path and the query parameters of a request URL as written, the parameters in a stable order
 * by name (Array.prototype.sort is stable: one name's values keep theirs).
 */
function requestTarget(url: string): { readonly path: string; readonly query: readonly string[] } {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url)?.[0] ?? '';
  let rest = url.slice(authority.length);
  const fragment = rest.indexOf('#');
  if (fragment >= 0) rest = rest.slice(0, fragment);
  const mark = rest.indexOf('?');
  const path = mark >= 0 ? rest.slice(0, mark) : rest;
  const parameters = mark >= 0 && mark < rest.length - 1 ? rest.slice(mark + 1).split('&') : [];
  // Sorted by the name as a server reads it (`%69d` is `id`): two spellings of one name keep
  // their order, which decides what a handler that takes the first one answers.
  const nameOf = (parameter: string) => {
    const equals = parameter.indexOf('=');
    const name = (equals >= 0 ? parameter.slice(0, equals) : parameter).replaceAll('+', ' ');
    try {
      return decodeURIComponent(name);
    } catch {
      return name;
    }
  };
  parameters.sort((a, b) => {
    const [x, y] = [nameOf(a), nameOf(b)];
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return { path: path === '' ? '/' : path, query: parameters };
}
