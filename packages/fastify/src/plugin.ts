/**
 * meshcacheFastify: a Fastify 5 plugin that answers GET and HEAD requests from a meshcache cache
 * (replicated or not) and stores what its route handlers answer, as RFC 9111 lets a shared cache.
 * Every rule is @meshcache/gateway's ResponseCache, called through its public steps (lookup,
 * store, staleIfError, revalidateInBackground); this file only puts them in Fastify's lifecycle.
 *
 * The model. The plugin adds three route-level hooks to every route registered after it in its
 * scope (an `onRoute` hook: a route of the scope, under `routePrefix` when given, whose
 * `config.meshcache` is not false). Route-level hooks run after the instance's own hooks of the
 * same kind, so authentication in an onRequest hook runs before a hit is answered, and what
 * other plugins add in onSend (compression, cookies) is in what the plugin sees.
 * - onRequest: looks the request up. A fresh entry is answered at once, with `Age` and
 *   `x-cache: HIT`: nothing later in the lifecycle runs (no body parsing, no preHandler, no
 *   handler). A stale entry within stale-while-revalidate is answered the same way (`STALE`) and
 *   revalidated in the background: the route is run again through `fastify.inject` with the
 *   entry's validators as conditional headers, from the client request's address (trustProxy
 *   reads the forwarded headers alike), once per instance (once per cluster with
 *   `clusterSingleFlight`); an answer made for another scheme or host than the key's is not stored. Anything else goes on to the handler (`x-cache: MISS`); a request
 *   with `Cache-Control: only-if-cached` gets 504 instead. HEAD is answered from the GET entry
 *   (RFC 9110 section 9.3.2: the same header fields), and never stored.
 * - onSend: takes a copy of the response as it goes out (status, headers, the payload when it is
 *   a string or a Buffer: what Fastify makes of an object, a string or a Buffer) and removes the
 *   tag header (`Surrogate-Key`) from what the client gets. The copy lists the fields that hooks
 *   before the plugin set and the route left alone (a rate limiter's counts, a request id): those
 *   hooks run on a hit too, so a hit keeps what they set for it and does not replay them. When the handler failed (500, 502,
 *   503, 504, or a thrown error) and an expired entry may still be used (stale-if-error), that
 *   entry is sent instead. The copy leaves out the plugin's own `x-cache` marker.
 * - onError: a handler (or hook) that threw leaves no copy when the reply made of the error is a
 *   5xx with the freshness the handler had set before it threw (Fastify's error reply keeps the
 *   handler's headers, a Cache-Control meant for its success among them). An error reply that is
 *   a 4xx (`reply.notFound()`, an error handler mapping to 404), or that an error handler gave
 *   freshness of its own, was answered on purpose, and is stored as cachePolicy says.
 * - onResponse: once the response is out, stores the copy if cachePolicy allows it, unless a hook
 *   that ran after this plugin's onSend changed the status, the headers or the payload (the bytes
 *   written to the client are compared with the copy's as they go): then what went out is not
 *   what was copied, and nothing is stored. A successful POST, PUT, PATCH or DELETE removes the URL's GET
 *   and HEAD entries (RFC 9111 section 4.4). Every MISS is counted once in statistics().stored or
 *   notStored: store() counts what it is given, the plugin what it keeps from it (an error reply,
 *   a changed response, a HEAD, an only-if-cached 504, a hijacked reply, a client gone mid-body).
 *
 * Guarantees: those of ResponseCache (a response is only served to requests with its primary key
 * and the values of its own Vary; private, no-store, Set-Cookie and credentialed responses the
 * origin did not mark shareable are never stored), plus: a response whose payload is a stream is
 * never stored (its bytes are not in hand when the response starts, and buffering them would
 * change what streaming is for), nor one that another hook changed after the copy was taken.
 *
 * Not guaranteed: a miss is not shared between concurrent identical requests (each runs the
 * handler); an expired entry is not revalidated with a conditional request in the foreground (the
 * handler is run as on a miss: a local handler that does not check If-None-Match itself gains
 * nothing from one); a hit is answered whole to a Range or a client's own conditional request (on
 * a miss the handler sees them, and its 206, 304, or 412 or 416 to them, is sent and never
 * stored); the background revalidation is a second request through the whole route
 * (its hooks, its logs, a rate limiter's count); a hit is sent through the onSend hooks that ran
 * before the copy was taken on the miss, so a hook that rewrites every payload applies twice
 * (Fastify runs every onSend hook on a reply sent from onRequest; docs/fastify.md says so).
 */
import { randomUUID } from 'node:crypto';
import type { Cache, Logger } from '@meshcache/core';
import { MeshcacheError } from '@meshcache/core';
import {
  type CacheLookup,
  type CacheStatus,
  HOP_BY_HOP_RESPONSE_HEADERS,
  type KeyedRequest,
  PER_USER_RESPONSE_HEADERS,
  PROXY_RESPONSE_HEADERS,
  parseCacheControl,
  RESPONSE_CACHE_DEFAULTS,
  RESPONSE_CACHE_OPTION_NAMES,
  type ResponseCache,
  type ResponseCacheOptions,
  type ResponseCacheValue,
  requestOrigin,
  responseCache,
  type ServedResponse,
  TokenCache,
  type TokenCacheOptions,
  tokenCache,
  type UpstreamResponse,
} from '@meshcache/gateway';
import type {
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  onErrorHookHandler,
  onRequestHookHandler,
  onResponseHookHandler,
  onSendHookHandler,
  RouteOptions,
} from 'fastify';
import fp from 'fastify-plugin';

export interface MeshcacheFastifyOptions extends Omit<ResponseCacheOptions, 'methods' | 'includeBody' | 'logger'> {
  /** The cache responses live in (replicated or not); it should hold nothing else. */
  readonly cache: Cache<ResponseCacheValue>;
  /**
   * Cache only routes whose URL (with the prefixes of the plugins they are in) is one of these or
   * lies under one, a path segment at a time (`/api` takes `/api/orders`, not `/apis`).
   * A route's `config: { meshcache: false }` is never cached, and `config: { meshcache:
   * true }` is cached whatever the prefix, so `routePrefix: []` caches only the routes that opt in.
   * @default every route registered after the plugin in its scope
   */
  readonly routePrefix?: string | readonly string[];
  /** The response header that says HIT, STALE, STALE-IF-ERROR or MISS; false sends none. @default 'x-cache' */
  readonly cacheHeader?: string | false;
  /**
   * A service-token cache for handlers (`fastify.tokenCache`, `request.tokenCache`): a TokenCache,
   * or the options to make one. @default none (reading the decorators then throws)
   */
  readonly tokens?: TokenCache | TokenCacheOptions;
  /** @default the Fastify instance's logger */
  readonly logger?: Logger;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The ResponseCache behind meshcacheFastify: purgeTag, invalidate, statistics, whenIdle. */
    responseCache: ResponseCache;
    /** The TokenCache given to meshcacheFastify as `tokens`. */
    tokenCache: TokenCache;
  }
  interface FastifyRequest {
    /** The TokenCache given to meshcacheFastify as `tokens`. */
    tokenCache: TokenCache;
  }
  interface FastifyContextConfig {
    /** false: never cached by meshcacheFastify; true: cached whatever meshcacheFastify's `routePrefix`. */
    meshcache?: boolean;
  }
}

const STATE = Symbol('meshcache');
const CACHED_METHODS = new Set(['GET', 'HEAD']);
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** RFC 5861: the statuses that count as the origin failing. */
const ORIGIN_ERRORS = new Set([500, 502, 503, 504]);
/** The header that marks the plugin's own background requests (its value is a per-instance secret). */
const INTERNAL_HEADER = 'x-meshcache-revalidation';
/**
 * A stored response's list of the fields that hooks before the plugin had set, for the request
 * that missed, and that the route left as they were: those hooks run on a hit too, and set them
 * for that request. Kept in the entry (cachePolicy judges the response with them), never sent.
 */
const HOOK_FIELDS = 'x-meshcache-hook-fields';

/** What the plugin knows about one request, from onRequest to onResponse. */
type RequestState =
  | { readonly kind: 'answered' }
  | {
      readonly kind: 'internal';
      readonly job: Revalidation | undefined;
      /** The reply's headers when the plugin's onRequest ran: what the hooks before it set. */
      readonly before: Readonly<Record<string, unknown>>;
    }
  | { readonly kind: 'unsafe'; readonly keyed: KeyedRequest }
  | {
      readonly kind: 'miss';
      readonly keyed: KeyedRequest;
      readonly expired: Extract<CacheLookup, { state: 'expired' }> | undefined;
      readonly requestTime: number;
      /** The reply's headers when the plugin's onRequest ran: what the hooks before it set. */
      readonly before: Readonly<Record<string, unknown>>;
      /** The response as onSend saw it; undefined when there is nothing to store. */
      copy?: UpstreamResponse | undefined;
      /** The handler (or a hook) threw: the freshness headers it had set then (onError), to tell an accident from an answer. */
      failedWith?: string;
      /** Counted MISS already (when the answer went out, in onSend). */
      counted?: boolean;
      /** Counted in stored or notStored already (settle). */
      settled?: boolean;
      /** The payload stream failed (an 'error'): a response cut short by the server, not by its client. */
      streamFailed?: boolean;
      /** The bytes written to the client, as far as they matched the copy's body (watchPayload). */
      sent?: { bytes: number; differs: boolean };
    };

type WithState = FastifyRequest & { [STATE]?: RequestState | null };

/** A background revalidation's request through the route: what it must be seen as, and what it was. */
interface Revalidation {
  /** The key's URL and host as sent (keyedRequest's), which the injected request must have too. */
  readonly expected: string;
  /** Whether the client's own connection was TLS: the injected request's socket says so too. */
  readonly encrypted: boolean;
  /** What the route saw instead, when it saw another scheme or host: then nothing is stored. */
  seenAs?: string;
}

const plugin: FastifyPluginCallback<MeshcacheFastifyOptions> = (fastify, options, done) => {
  try {
    install(fastify, options);
    done();
  } catch (error) {
    done(error as Error);
  }
};

function install(fastify: FastifyInstance, options: MeshcacheFastifyOptions): void {
  checkOptions(options);
  const { routePrefix, cacheHeader: headerOption, tokens: tokenOption, ...given } = options;
  // Fastify's own options (a prefix) are Fastify's: responseCache knows none of them.
  const rest = Object.fromEntries(
    Object.entries(given).filter(([name]) => !FASTIFY_OPTION_NAMES.includes(name)),
  ) as typeof given;
  const logger: Logger = options.logger ?? fastify.log;
  const clock = options.clock ?? Date.now;
  const responses = responseCache({ ...rest, vary: [...(rest.vary ?? []), HOST_AS_SENT], logger });
  const cache = options.cache;
  const cacheHeader = headerOption === false ? undefined : (headerOption ?? 'x-cache').toLowerCase();
  const tagHeader = (options.tagHeader ?? RESPONSE_CACHE_DEFAULTS.tagHeader).toLowerCase();
  const prefixes =
    routePrefix === undefined ? undefined : typeof routePrefix === 'string' ? [routePrefix] : [...routePrefix];
  const secret = randomUUID();
  const tokens =
    tokenOption === undefined ? undefined : tokenOption instanceof TokenCache ? tokenOption : tokenCache(tokenOption);
  const noTokens = () => {
    throw new MeshcacheError(
      'E_INVALID_ARGUMENT',
      'meshcacheFastify: no token cache; register the plugin with { tokens: tokenCacheOptions } to use tokenCache',
    );
  };

  fastify.decorate('responseCache', responses);
  fastify.decorate('tokenCache', { getter: () => tokens ?? noTokens() });
  fastify.decorateRequest('tokenCache', { getter: () => tokens ?? noTokens() });
  fastify.decorateRequest(STATE as unknown as string, null);

  const mark = (reply: FastifyReply, status: CacheStatus) => {
    if (cacheHeader !== undefined) reply.header(cacheHeader, status);
  };

  /**
   * Sets a stored response's headers on the reply, but for those the hooks before the plugin set
   * for the request that missed (HOOK_FIELDS): they ran for this request too, and what they set
   * for it stays (a rate limiter's counts, a request id). Replayed, every client of a hit was told
   * the first client's (found by a review).
   */
  const setStored = (reply: FastifyReply, headers: ServedResponse['headers']) => {
    const listed = headers[HOOK_FIELDS];
    const fromHooks = new Set(
      (typeof listed === 'string' ? listed : (listed ?? []).join(','))
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== ''),
    );
    for (const [name, value] of Object.entries(headers)) {
      if (name !== HOOK_FIELDS && !fromHooks.has(name)) reply.header(name, value);
    }
  };

  const send = (reply: FastifyReply, served: ServedResponse) => {
    responses.countServed(served.cache);
    reply.code(served.status);
    setStored(reply, served.headers);
    mark(reply, served.cache);
    // An empty body that went out with no Content-Type goes out so again: Fastify types a payload
    // it is given (an empty string as text/plain), so none is given.
    if (served.body.length === 0 && served.headers['content-type'] === undefined) reply.send();
    else reply.send(typeof served.body === 'string' ? served.body : asBuffer(served.body));
  };

  const revalidations = new Map<string, Revalidation>();

  /**
   * The route run again, for a background revalidation: the request's own headers (its Host as
   * sent), plus conditions, from the address the client's request came from, so that trustProxy
   * reads X-Forwarded-Proto and -Host as it did for the client (from 127.0.0.1, light-my-request's
   * default, an untrusted one made the route build an http answer stored under the https key:
   * found by a review). An answer the route made for another scheme or host is not stored.
   */
  const runRoute =
    (original: FastifyRequest) =>
    async (upstream: KeyedRequest): Promise<UpstreamResponse> => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(upstream.headers ?? {})) {
        if (value !== undefined && name !== HOST_AS_SENT && name !== 'host')
          headers[name] = typeof value === 'number' ? String(value) : (value as string | string[]);
      }
      const host = original.raw.headers.host;
      if (host !== undefined) headers['host'] = host;
      const id = randomUUID();
      const job: Revalidation = {
        expected: seenAs(upstream),
        encrypted: (original.raw.socket as { encrypted?: boolean } | null)?.encrypted === true,
      };
      revalidations.set(id, job);
      headers[INTERNAL_HEADER] = `${secret} ${id}`;
      const remoteAddress = original.raw.socket?.remoteAddress;
      try {
        const answer = await fastify.inject({
          method: 'GET',
          url: original.url,
          headers,
          ...(remoteAddress === undefined ? {} : { remoteAddress }),
        });
        if (job.seenAs !== undefined) {
          throw new MeshcacheError(
            'E_INVALID_ARGUMENT',
            `meshcacheFastify: the background revalidation was seen by the route as ${job.seenAs}, not ${job.expected}; its answer is not stored (does trustProxy trust the address the request came from?)`,
          );
        }
        return { status: answer.statusCode, headers: answer.headers, body: answer.rawPayload };
      } finally {
        revalidations.delete(id);
      }
    };

  // A request the cache does not serve is counted BYPASS, as handle() counts it: left uncounted,
  // statistics().served.BYPASS stayed 0 under Fastify whatever came through.
  const bypass = (next: HookHandlerDoneFunction) => {
    responses.countServed('BYPASS');
    next();
  };

  /** The onRequest hook of a route; `route` names its constraints (routeConstraints), for the key. */
  const onRequestFor =
    (route: string | undefined): onRequestHookHandler =>
    (request, reply, next) => {
      const req = request as WithState;
      const method = request.method;
      // Only the plugin's own background request knows the secret; anyone else's header is ignored.
      const internal = request.headers[INTERNAL_HEADER];
      if (typeof internal === 'string' && internal.startsWith(`${secret} `)) {
        delete request.raw.headers[INTERNAL_HEADER];
        const job = revalidations.get(internal.slice(secret.length + 1));
        if (job !== undefined) {
          // light-my-request's socket is never TLS: as the client's was, so request.protocol reads alike.
          if (job.encrypted) (request.raw.socket as { encrypted?: boolean }).encrypted = true;
          const seen = keyedRequest(request, options.origin, 'GET', route);
          const actual = seen === undefined ? 'a request it cannot key' : seenAs(seen);
          if (actual !== job.expected) job.seenAs = actual;
        }
        req[STATE] = { kind: 'internal', job, before: { ...reply.getHeaders() } };
        return next();
      }
      if (UNSAFE_METHODS.has(method)) {
        const keyed = keyedRequest(request, options.origin, request.method, route);
        if (keyed !== undefined) req[STATE] = { kind: 'unsafe', keyed };
        return bypass(next);
      }
      if (!CACHED_METHODS.has(method)) return bypass(next);
      // HEAD is answered from the GET entry: the same header fields, and Fastify drops the body.
      const keyed = keyedRequest(request, options.origin, 'GET', route);
      // A request the cache cannot key is answered by the handler, uncached: counted BYPASS, as a
      // POST is (it went uncounted, so the statistics' answers did not add up to the requests).
      if (keyed === undefined) {
        logger.debug({ url: request.url, host: request.host }, 'meshcache: request not keyable, not cached');
        return bypass(next);
      }
      let found: CacheLookup;
      try {
        found = responses.lookup(keyed);
      } catch (error) {
        // A Host that is no host name.
        logger.debug({ err: error, url: request.url }, 'meshcache: request not keyable, not cached');
        return bypass(next);
      }
      if (found.state === 'hit') {
        req[STATE] = { kind: 'answered' };
        return send(reply, found.response);
      }
      if (found.state === 'stale') {
        req[STATE] = { kind: 'answered' };
        if (!onlyIfCached(request)) void responses.revalidateInBackground(keyed, found, runRoute(request));
        return send(reply, found.response);
      }
      if (found.state === 'bypass') return bypass(next);
      if (onlyIfCached(request)) {
        // RFC 9111 section 5.2.1.7: the stored response, or 504; never the handler.
        req[STATE] = { kind: 'answered' };
        responses.countServed('MISS');
        responses.countNotStored();
        mark(reply, 'MISS');
        reply.code(504).send('');
        return;
      }
      const before = { ...reply.getHeaders() };
      mark(reply, 'MISS');
      // The handler sees the client's Range and preconditions (a video's seek, a resumed download):
      // its 206 or 304 is never stored, and store() is given the request as the handler saw it, so
      // it refuses a 412 or 416 answered to them (stored, one client's If-Match or unsatisfiable
      // Range was every client's answer: found by a review). Taken out, every Range request ran the
      // whole handler and sent the whole body (found by a second review).
      req[STATE] =
        method === 'HEAD'
          ? { kind: 'answered' }
          : {
              kind: 'miss',
              keyed,
              before,
              expired: found.state === 'expired' ? found : undefined,
              requestTime: clock(),
            };
      if (method === 'HEAD') {
        // Never stored: HEAD is answered from the GET entry, and its own answer has no body to keep.
        responses.countServed('MISS');
        responses.countNotStored();
      }
      next();
    };

  const onRequest = onRequestFor(undefined);

  const onSend: onSendHookHandler<unknown> = (request, reply, payload, next) => {
    const state = (request as WithState)[STATE];
    if (state?.kind === 'internal') {
      // The injected answer is what the background revalidation stores: it lists them too.
      const fromHooks = hookFields(state.before, reply.getHeaders());
      if (fromHooks === undefined) reply.removeHeader(HOOK_FIELDS);
      else reply.header(HOOK_FIELDS, fromHooks);
      return next(null, payload);
    }
    if (state?.kind !== 'miss') {
      reply.removeHeader(tagHeader);
      return next(null, payload);
    }
    if (state.expired !== undefined && ORIGIN_ERRORS.has(reply.statusCode)) {
      const stale = responses.staleIfError(state.expired);
      if (stale !== undefined) {
        logger.warn(
          { cache: cache.name, url: request.url, status: reply.statusCode },
          'origin failed; serving stale (stale-if-error)',
        );
        (request as WithState)[STATE] = { kind: 'answered' };
        discard(payload, logger);
        responses.countServed(stale.cache);
        // As a hit: what the hooks before the plugin set for this request, then the entry's.
        for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
        reply.headers(state.before as Record<string, string | string[]>);
        reply.code(stale.status);
        setStored(reply, stale.headers);
        mark(reply, stale.cache);
        return next(null, typeof stale.body === 'string' ? stale.body : asBuffer(stale.body));
      }
    }
    // Counted as the answer goes out, as a hit is: counted in onResponse, which Fastify runs only
    // once the response finished, a client that went away mid-body (a long stream) left no trace.
    if (state.counted !== true) {
      state.counted = true;
      responses.countServed('MISS');
      // Fastify runs onResponse only once the response finished: one whose client left before
      // (mid-stream) is settled here, or its MISS was in neither stored nor notStored.
      const raw = reply.raw;
      let finished = false;
      raw.once('finish', () => {
        finished = true;
      });
      raw.once('close', () => {
        if (!finished) settle(request, reply, state, false);
      });
    }
    const body = payloadBytes(payload);
    if (
      state.failedWith !== undefined &&
      reply.statusCode >= 500 &&
      state.failedWith === freshnessOf(reply.getHeaders())
    ) {
      // Fastify's error reply keeps the headers the handler set before it threw (a Cache-Control
      // meant for its success): stored, the error would be every client's answer until it expired.
      // A copy an earlier pass of onSend took (a later hook threw after it) is not this answer.
      state.copy = undefined;
      logger.debug({ url: request.url, status: reply.statusCode }, 'meshcache: an error reply is not stored');
    } else {
      // The copy keeps the tag header (store() reads the entry's tags from it), not the plugin's
      // own marker (a hit says what it is); the client never gets the tag header. A stream's copy
      // has no body: store() refuses it, and it still replaces an expired entry (a newer version
      // the cache cannot hold: left, the old one went on answering as stale-if-error).
      const headers = { ...reply.getHeaders() } as Record<string, UpstreamResponse['headers'][string]>;
      if (cacheHeader !== undefined) delete headers[cacheHeader];
      const fromHooks = hookFields(state.before, headers);
      if (fromHooks === undefined) delete headers[HOOK_FIELDS];
      else headers[HOOK_FIELDS] = fromHooks;
      state.copy =
        body === undefined ? { status: reply.statusCode, headers } : { status: reply.statusCode, headers, body };
      if (body !== undefined && state.sent === undefined) state.sent = watchPayload(reply.raw, state);
      if (body === undefined) {
        logger.debug({ url: request.url }, 'meshcache: a stream is not stored');
        // Fastify destroys the response when the stream fails as when its client leaves; only a
        // failure, which removes no entry, is told by the stream's own 'error' (settle).
        if (isNodeStream(payload)) payload.on('error', () => (state.streamFailed = true));
      }
    }
    reply.removeHeader(tagHeader);
    next(null, payload);
  };

  const onError: onErrorHookHandler = (request, reply, _error, next) => {
    const state = (request as WithState)[STATE];
    if (state?.kind === 'miss') state.failedWith = freshnessOf(reply.getHeaders());
    next();
  };

  const onResponse: onResponseHookHandler = (request, reply, next) => {
    const state = (request as WithState)[STATE];
    try {
      if (state?.kind === 'unsafe') {
        if (reply.statusCode < 400) responses.invalidate(state.keyed);
      } else if (state?.kind === 'miss') {
        // A reply that never went through onSend (hijacked, written to reply.raw) is counted here.
        if (state.counted !== true) responses.countServed('MISS');
        settle(request, reply, state, true);
      }
    } catch (error) {
      logger.warn({ err: error, url: request.url }, 'meshcache: could not store the response');
    }
    next();
  };

  /**
   * Counts a MISS once in statistics().stored or notStored, storing its copy when `finished` (the
   * response went out whole) and cachePolicy allows. Every MISS lands in one of the two: store()
   * counts what it is given; what it is not given (an error reply kept out, a response a later
   * hook changed, a hijacked reply, one whose client left first) is counted notStored here. Left
   * uncounted, notStored said nothing of them, and stored + notStored fell short of MISS.
   */
  const settle = (
    request: FastifyRequest,
    reply: FastifyReply,
    state: Extract<RequestState, { kind: 'miss' }>,
    finished: boolean,
  ) => {
    if (state.settled === true) return;
    state.settled = true;
    // A stream's copy has no body to lose when its client leaves: what it says of the expired
    // entry it answers for holds as when it ended (store() removes one it supersedes). Left
    // uncounted here, an entry docs/fastify.md says a stream removes stayed, and answered as
    // stale-if-error (found by a review). A stream that failed is the route failing: it removes
    // nothing, as a 5xx does not.
    const streamLeft = state.copy !== undefined && state.copy.body === undefined && state.streamFailed !== true;
    if (!finished && !streamLeft) {
      responses.countNotStored();
      return;
    }
    const before = responses.statistics();
    try {
      if (!store(request, reply, state)) responses.countNotStored();
    } catch (error) {
      // store() threw (a cache closed meanwhile) before it counted this answer.
      const after = responses.statistics();
      if (after.stored === before.stored && after.notStored === before.notStored) responses.countNotStored();
      throw error;
    }
  };

  /** Gives the copy to ResponseCache.store(), which counts it; false when there is none to give. */
  const store = (
    request: FastifyRequest,
    reply: FastifyReply,
    state: Extract<RequestState, { kind: 'miss' }>,
  ): boolean => {
    const copy = state.copy;
    if (copy === undefined) return false;
    if (
      copy.status !== reply.statusCode ||
      !sameHeaders(copy.headers, reply.getHeaders(), [tagHeader, cacheHeader, HOOK_FIELDS]) ||
      !sentAsCopied(copy, state.sent)
    ) {
      warnChanged(request);
      return false;
    }
    // An expired entry this answer is for goes when the handler's answer, judged without the
    // request, says it is gone or may not be kept (a 404, a 200 with no-store) or is a version the
    // cache cannot hold (maxBodyBytes): not when only the request made it unstorable (a client's
    // no-cache, no-store, Cookie), nor on a 5xx, which would throw away every client's entry and
    // its stale-if-error (ResponseCache.store decides).
    responses.store(state.keyed, copy, {
      requestTime: state.requestTime,
      ...(state.expired === undefined ? {} : { replacing: state.expired }),
      ...(copy.body === undefined ? { streamed: true } : {}),
    });
    return true;
  };

  const warned = new Set<string>();
  const warnChanged = (request: FastifyRequest) => {
    const route = request.routeOptions.url ?? request.url;
    if (warned.has(route)) return;
    warned.add(route);
    logger.warn(
      { route },
      'meshcache: a hook after meshcacheFastify changed the response (its status, headers or payload) in onSend; such responses are not stored (register meshcacheFastify after the plugin that adds them)',
    );
  };

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const config = route.config as { meshcache?: unknown } | undefined;
    if (config?.meshcache === false) return;
    if (config?.meshcache !== true && prefixes !== undefined && !prefixes.some((p) => under(route.url, p))) return;
    if (!methods.some((m) => CACHED_METHODS.has(m) || UNSAFE_METHODS.has(m))) return;
    // Fastify picks a route by its constraints as well as its URL (Accept-Version, a strategy of
    // the app's own): two versions of /p shared one entry, so v1's body answered every v2
    // client (found by a review). The route's constraints are part of the key.
    const constraints = routeConstraints(route.constraints);
    route.onRequest = [...hooks(route.onRequest), constraints === undefined ? onRequest : onRequestFor(constraints)];
    route.onSend = [...hooks(route.onSend), onSend];
    route.onError = [...hooks(route.onError), onError];
    route.onResponse = [...hooks(route.onResponse), onResponse];
  });

  fastify.addHook('onClose', (_instance: FastifyInstance, closed: HookHandlerDoneFunction) => {
    Promise.all([responses.whenIdle(), tokens?.whenIdle()])
      .finally(() => responses.close())
      .then(() => closed(), closed);
  });
}

/** The request's host as sent, set by keyedRequest (never taken from the client's headers). */
const HOST_AS_SENT = 'x-meshcache-host-as-sent';

/**
 * The request as ResponseCache takes it: an absolute URL with the scheme and host it was for as
 * Fastify sees them (X-Forwarded-Proto and -Host count when `trustProxy` says so), unless `origin`
 * names one for every request. Undefined when it cannot be keyed safely (the handler answers it,
 * uncached): a target that is not a path (an absolute-form URL), or, without `origin`, a host that
 * is not a host name or a scheme that is not http or https. Joined unchecked, `Host:
 * h/products/1#` made the key name /products/1 for whatever the request's own path answered: a
 * poisoning an attack found. (A target holding a fragment is left uncached by lookup itself.)
 */
function keyedRequest(
  request: FastifyRequest,
  origin: string | undefined,
  method = request.method,
  route?: string,
): KeyedRequest | undefined {
  if (!request.url.startsWith('/')) return undefined;
  // Under Fastify's useSemicolonDelimiter the query starts at a ';' in the path, where the key's
  // sort of the parameters after '?' does not: `/q;x=1?a=1&b=2` and `/q;x=1?b=2&a=1` shared a key
  // while the handler read x as "1?a=1" in one and "1?b=2" in the other (found by an attack). A
  // ';' followed by a '?' is not cached, whatever the router's option.
  const query = request.url.indexOf('?');
  if (query > 0 && request.url.lastIndexOf(';', query) > 0) return undefined;
  // A client's own header of that name is never read: the key's dimension is set here or absent.
  // It also names the constraints of the route that answers (routeConstraints), when it has any.
  const dimension = (sent: string | undefined) =>
    route === undefined ? sent : `${sent === undefined ? '' : `${sent} `}(route ${route})`;
  const headers = { ...request.headers, [HOST_AS_SENT]: dimension(undefined) };
  if (origin !== undefined) return { method, url: request.url, headers };
  const host = request.host as string | undefined;
  if (host === undefined) return { method, url: request.url, headers };
  const scheme = request.protocol;
  if (scheme !== 'http' && scheme !== 'https') return undefined;
  let hostOrigin: string | null;
  try {
    hostOrigin = requestOrigin({ method, url: '/', headers: { host } });
  } catch {
    return undefined;
  }
  if (hostOrigin === null) return undefined;
  // The key reads the host as URL normalises it (lower case, no default port, escapes decoded),
  // but the router's host constraints and the handler read it as sent: `API.example.com:80` keyed
  // as `api.example.com` stored another route's answer for it (found by an attack). So the host
  // as sent is a dimension of the key too: spellings of one host are apart (misses, no more).
  // With trustProxy, request.host is the forwarded host, which the handler reads, and the router
  // the Host header: both are in it when they differ. The request's Host is the host keyed, so
  // that the key's check that an absolute URL is for its own Host holds: with the Host header
  // kept, a forwarded host that differed from it (nginx's default) was refused, and nothing was
  // ever cached (found by a review).
  const raw = request.raw.headers.host ?? request.raw.headers[':authority'];
  const sent = typeof raw !== 'string' || raw === host ? host : `${host} (Host: ${raw})`;
  return {
    method,
    url: `${scheme}://${new URL(hostOrigin).host}${request.url}`,
    headers: { ...headers, host, [HOST_AS_SENT]: dimension(sent) },
  };
}

/**
 * A route's constraints as one string for the key, undefined when it has none but `host` (the
 * host as sent is in the key already, so a host-constrained route keeps the key it had). Sorted
 * by name; a RegExp as its source.
 */
function routeConstraints(constraints: unknown): string | undefined {
  if (typeof constraints !== 'object' || constraints === null) return undefined;
  const named = Object.entries(constraints as Record<string, unknown>)
    .filter(([name, value]) => name !== 'host' && value !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => [name, value instanceof RegExp ? String(value) : value]);
  return named.length === 0 ? undefined : JSON.stringify(named);
}

/** What keyedRequest made of a request, as one string to compare: its URL and its host as sent. */
function seenAs(keyed: KeyedRequest): string {
  const sent = keyed.headers?.[HOST_AS_SENT];
  return sent === undefined ? keyed.url : `${keyed.url} (host ${String(sent)})`;
}

/**
 * The fields the hooks before the plugin had set (`before`, the reply's headers when its onRequest
 * ran) that the response still has as they were (`sent`), as HOOK_FIELDS' value; undefined when
 * none. One the route changed (a default Cache-Control it overrode) is the route's answer.
 */
function hookFields(
  before: Readonly<Record<string, unknown>>,
  sent: Readonly<Record<string, unknown>>,
): string | undefined {
  const names = Object.keys(before).filter(
    (name) =>
      name !== HOOK_FIELDS &&
      name !== 'content-length' &&
      !name.startsWith(':') &&
      before[name] !== undefined &&
      sent[name] !== undefined &&
      String(before[name]) === String(sent[name]),
  );
  return names.length === 0 ? undefined : names.join(', ');
}

/** The headers that make a response storable and for how long, as one string to compare. */
function freshnessOf(headers: Readonly<Record<string, unknown>>): string {
  return JSON.stringify([headers['cache-control'], headers['expires']]);
}

function onlyIfCached(request: FastifyRequest): boolean {
  const field = request.headers['cache-control'];
  return field !== undefined && parseCacheControl(field).has('only-if-cached');
}

/** The bytes of a payload as onSend gets it: a string, a Buffer, nothing; undefined for a stream. */
function payloadBytes(payload: unknown): string | Uint8Array | undefined {
  if (payload === undefined || payload === null) return '';
  if (typeof payload === 'string' || payload instanceof Uint8Array) return payload;
  return undefined;
}

/**
 * Follows what is written to the client after every onSend hook ran, against the copy's body: a
 * hook after the plugin's that rewrites the payload alone (a footer, a nonce, a minifier) leaves
 * status and headers as copied (Fastify sets Content-Length after the hooks), and its copy from
 * before the change was stored and answered every later client (found by a review). The written
 * bytes are compared as they go (the payload Fastify copied passes as is, uncompared); nothing is
 * held but a count.
 */
function watchPayload(
  raw: FastifyReply['raw'],
  state: Extract<RequestState, { kind: 'miss' }>,
): { bytes: number; differs: boolean } {
  const sent = { bytes: 0, differs: false };
  let expected: Uint8Array | undefined;
  const observe = (chunk: unknown, encoding: unknown) => {
    const copied = state.copy?.body;
    if (sent.differs || copied === undefined || chunk === undefined || chunk === null || typeof chunk === 'function')
      return;
    const plain = encoding === undefined || encoding === null || typeof encoding === 'function';
    if (sent.bytes === 0 && chunk === copied && plain) {
      sent.bytes = typeof copied === 'string' ? Buffer.byteLength(copied) : copied.byteLength;
      return;
    }
    const bytes =
      typeof chunk === 'string'
        ? Buffer.from(chunk, plain ? 'utf8' : (encoding as BufferEncoding))
        : chunk instanceof Uint8Array
          ? chunk
          : undefined;
    expected ??= typeof copied === 'string' ? Buffer.from(copied) : copied;
    if (
      bytes === undefined ||
      Buffer.compare(bytes, expected.subarray(sent.bytes, sent.bytes + bytes.byteLength)) !== 0
    )
      sent.differs = true;
    else sent.bytes += bytes.byteLength;
  };
  const target = raw as unknown as { write: (...args: unknown[]) => unknown; end: (...args: unknown[]) => unknown };
  const { write, end } = target;
  // A response whose end() calls its own write() (light-my-request's, for fastify.inject) is
  // observed once: counted twice, every such response read as changed.
  let inner = false;
  const observed = (original: (...args: unknown[]) => unknown) =>
    function (this: unknown, ...args: unknown[]) {
      if (inner) return original.apply(this, args);
      observe(args[0], args[1]);
      inner = true;
      try {
        return original.apply(this, args);
      } finally {
        inner = false;
      }
    };
  target.write = observed(write);
  target.end = observed(end);
  return sent;
}

/**
 * Whether the client got the copy's body, byte for byte (watchPayload). A status that sends no
 * body (1xx, 204, 304: Fastify or Node drops it) has nothing to compare.
 */
function sentAsCopied(copy: UpstreamResponse, sent: { bytes: number; differs: boolean } | undefined): boolean {
  if (copy.body === undefined || sent === undefined) return true;
  if (copy.status < 200 || copy.status === 204 || copy.status === 304) return true;
  const length = typeof copy.body === 'string' ? Buffer.byteLength(copy.body) : copy.body.byteLength;
  return !sent.differs && sent.bytes === length;
}

/**
 * A node:stream payload, which says when it fails ('error'). A web ReadableStream (or a Response)
 * says so only to its reader, Fastify: one that fails mid-way is taken as a client that left.
 */
function isNodeStream(payload: unknown): payload is { on(event: 'error', listener: () => void): unknown } {
  return (
    typeof payload === 'object' &&
    payload !== null &&
    typeof (payload as { pipe?: unknown }).pipe === 'function' &&
    typeof (payload as { on?: unknown }).on === 'function'
  );
}

/**
 * Releases a stream payload that will not be sent (the failing answer stale-if-error replaces):
 * left unread, it held what it reads from (a proxied upstream's connection, a file descriptor)
 * until it was collected, if ever (found by a review).
 */
function discard(payload: unknown, logger: Logger): void {
  if (typeof payload !== 'object' || payload === null) return;
  const body = payload instanceof Response ? payload.body : payload;
  const stream = body as { destroy?: () => void; cancel?: () => Promise<void> } | null;
  try {
    if (typeof stream?.destroy === 'function') stream.destroy();
    else if (typeof stream?.cancel === 'function') stream.cancel().catch(() => {});
  } catch (error) {
    logger.debug({ err: error }, 'meshcache: could not release the payload stale-if-error replaced');
  }
}

function asBuffer(body: Uint8Array): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

function hooks<T>(value: T | readonly T[] | undefined): readonly T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value as T];
}

/**
 * Whether the headers that went out are those copied in onSend, but for what is added after every
 * onSend hook (Content-Length), HTTP/2's pseudo-headers (Fastify puts `:status` among the reply's
 * headers when it writes them: compared, no HTTP/2 response was ever stored) and the plugin's own
 * marker.
 */
function sameHeaders(
  copied: Readonly<Record<string, unknown>>,
  sent: Readonly<Record<string, unknown>>,
  own: readonly (string | undefined)[],
): boolean {
  const ignored = (name: string) => name === 'content-length' || name.startsWith(':') || own.includes(name);
  const names = (headers: Readonly<Record<string, unknown>>) =>
    Object.keys(headers)
      .filter((name) => !ignored(name) && headers[name] !== undefined)
      .sort();
  const a = names(copied);
  const b = names(sent);
  if (a.length !== b.length) return false;
  return a.every((name, i) => name === b[i] && String(copied[name]) === String(sent[name]));
}

/**
 * Response fields `cacheHeader` may not name, and why. The marker is set on every answer and
 * left out of what is stored, so the field it named was dropped from every entry and read HIT on
 * every hit: with `vary` an entry lost its Vary, and one Accept-Language's answer was every
 * client's; with `cache-control` it lost its freshness (stored only by defaultTtlSeconds or a
 * validator) and hits said `Cache-Control: HIT`; `etag`, `age` said `HIT`; `connection` or
 * `transfer-encoding` broke the framing (HTTP/2 refuses them outright). The list: the fields
 * this plugin and ResponseCache read or write on responses, the fields RFC 9111 gives a meaning
 * a cache depends on, the fields about the connection rather than the response (RFC 9110 section
 * 7.6.1, RFC 9111 section 3.1), and RFC 9211's Cache-Status. Other standard fields (Location,
 * WWW-Authenticate) the marker would overwrite too, but only on routes that send them:
 * docs/fastify.md says to pick a name no route sends.
 */
const RESERVED_RESPONSE_FIELDS: ReadonlyMap<string, string> = new Map([
  ...['cache-control', 'expires', 'pragma'].map(
    (name) => [name, 'it says whether and how long a response may be stored (RFC 9111 section 5)'] as const,
  ),
  ...['age', 'date'].map(
    (name) =>
      [
        name,
        "the cache computes a response's age from it and sends Age with every hit (RFC 9111 section 4.2.3)",
      ] as const,
  ),
  ['vary', 'it names the request fields a stored response is chosen by (RFC 9111 section 4.1)'],
  ...['etag', 'last-modified'].map(
    (name) => [name, 'it is a validator the cache revalidates an entry with (RFC 9110 section 8.8)'] as const,
  ),
  ...['content-type', 'content-length', 'content-encoding', 'content-range'].map(
    (name) => [name, 'it describes the stored body, and a 304 never updates it (RFC 9111 section 3.2)'] as const,
  ),
  ...PER_USER_RESPONSE_HEADERS.map(
    (name) =>
      [
        name,
        "it carries one user's state: a response with it is not stored, or stored without it (perUserHeaders)",
      ] as const,
  ),
  ...HOP_BY_HOP_RESPONSE_HEADERS.map(
    (name) =>
      [
        name,
        'it is about the connection, not the response, and never stored (RFC 9110 section 7.6.1; HTTP/2 refuses it)',
      ] as const,
  ),
  ...PROXY_RESPONSE_HEADERS.map(
    (name) => [name, 'it is for the proxy on the way, and never stored (RFC 9111 section 3.1)'] as const,
  ),
  [
    'cache-status',
    "it is RFC 9211's Cache-Status, whose members name a cache and its parameters (`meshcache; hit`): HIT or MISS there reads as a cache of that name",
  ],
  ...[HOOK_FIELDS, INTERNAL_HEADER, HOST_AS_SENT].map((name) => [name, "it is the plugin's own field"] as const),
]);

/** Options Fastify's register() reads itself, and leaves in what it hands the plugin. */
const FASTIFY_OPTION_NAMES: readonly string[] = ['prefix', 'logLevel', 'logSerializers'];

/**
 * The plugin's options: responseCache's but the two it refuses, its own, and Fastify's. A
 * misspelt one (`defaultTTLSeconds`) was read by no one, and nothing was cached, without a word.
 */
const PLUGIN_OPTION_NAMES: readonly string[] = [
  ...RESPONSE_CACHE_OPTION_NAMES.filter((name) => name !== 'methods' && name !== 'includeBody'),
  'routePrefix',
  'cacheHeader',
  'tokens',
  ...FASTIFY_OPTION_NAMES,
];

function checkOptions(options: MeshcacheFastifyOptions): void {
  const bad = (what: string) => {
    throw new MeshcacheError('E_INVALID_ARGUMENT', `meshcacheFastify: ${what}`);
  };
  if (typeof options !== 'object' || options === null) bad('options must be an object with at least { cache }');
  const cache = options.cache as Partial<Cache<ResponseCacheValue>> | undefined;
  if (typeof cache?.get !== 'function' || typeof cache.getOrLoad !== 'function') {
    bad('options.cache must be a meshcache Cache (manager.getCache(name))');
  }
  const extra = options as { includeBody?: unknown; methods?: unknown };
  if (extra.includeBody !== undefined) {
    bad('options.includeBody is not supported: hits are answered in onRequest, before the body is read');
  }
  if (extra.methods !== undefined) bad('options.methods is not supported: GET and HEAD are cached');
  for (const name of Object.keys(options)) {
    if (!PLUGIN_OPTION_NAMES.includes(name)) {
      bad(
        `options.${name} is not an option; the options are ${PLUGIN_OPTION_NAMES.filter((known) => !FASTIFY_OPTION_NAMES.includes(known)).join(', ')}`,
      );
    }
  }
  const prefixes = typeof options.routePrefix === 'string' ? [options.routePrefix] : options.routePrefix;
  if (
    prefixes !== undefined &&
    (!Array.isArray(prefixes) || prefixes.some((p) => typeof p !== 'string' || !p.startsWith('/')))
  ) {
    bad('options.routePrefix must be a path starting with "/", or an array of them');
  }
  const header = options.cacheHeader;
  if (
    header !== undefined &&
    header !== false &&
    (typeof header !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header))
  ) {
    bad(`options.cacheHeader must be a header name (an RFC 9110 token) or false, got ${JSON.stringify(header)}`);
  }
  if (typeof header === 'string') {
    const name = header.toLowerCase();
    const tagHeader = typeof options.tagHeader === 'string' ? options.tagHeader.toLowerCase() : undefined;
    const why =
      name === (tagHeader ?? RESPONSE_CACHE_DEFAULTS.tagHeader)
        ? `it is the tagHeader, which tags entries for purgeTag and which the plugin removes from every response`
        : RESERVED_RESPONSE_FIELDS.get(name);
    if (why !== undefined) {
      bad(
        `options.cacheHeader must not be ${JSON.stringify(header)}: ${why}; the marker (HIT, MISS, ...) would replace its value. Name a field of your own, such as the default x-cache`,
      );
    }
  }
  if (options.tokens !== undefined && (typeof options.tokens !== 'object' || options.tokens === null)) {
    bad('options.tokens must be a TokenCache or the options of one');
  }
}

/**
 * `app.register(meshcacheFastify, { cache })`: response caching for the routes registered after it
 * in its scope, and the `tokenCache` decorator. Fastify 5.
 */
export const meshcacheFastify = fp(plugin, { fastify: '5.x', name: '@meshcache/fastify' });

/**
 * Whether the route `url` is `prefix` or lies under it, a path segment at a time: a prefix taken
 * as a string cached `/apis` and `/api-admin` under `'/api'`.
 */
function under(url: string, prefix: string): boolean {
  if (!url.startsWith(prefix)) return false;
  return url.length === prefix.length || prefix.endsWith('/') || url[prefix.length] === '/';
}
