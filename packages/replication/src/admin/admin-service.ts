/**
 * The node's side of admin calls: what `meshcache peers`, `stats`, `get`, `put`, `remove` and
 * `clear` ask a live node for. They ride the replication protocol on a session whose Hello asks
 * for the admin role, and are never treated as a peer. What the session may do was decided by
 * the key that opened it (security/keyring.ts): the admin secret (or, without one, the cluster
 * secret) allows every operation; the read-only secret allows peers, stats and get, and any
 * other request is answered E_FORBIDDEN.
 *
 * Every request gets exactly one response with its id: a result, or `{ code, message }` (an
 * unknown cache is E_UNKNOWN_CACHE; bad arguments E_INVALID_ARGUMENT; a value that cannot be
 * stored keeps the cache's own code, such as E_VALUE_NOT_ENCODABLE). A message that is not an
 * admin request closes the session with 4002. Admin writes are local writes: they replicate like
 * any other.
 *
 * The bounds that keep a leaked key from harming the node (room, unsent answers, logs) are the
 * node's (admin-sessions.ts): the session reports each request, answer and failure to them.
 */
import {
  type Cache,
  type CacheManager,
  type CacheStatistics,
  findEncodingProblem,
  MeshcacheError,
} from '@meshcache/core';
import { MAX_SENT_FRAME_BYTES, MAX_VALUE_DEPTH } from '../protocol/codec.js';
import { type AdminRequestMessage, MessageType } from '../protocol/messages.js';
import type { Session, SessionMessage } from '../session.js';
import { CloseCode } from '../transport/transport.js';
import type { AdminClientGrant, AdminSessionBounds } from './admin-sessions.js';

/** What admin calls need of a node. */
export interface AdminTarget {
  readonly manager: CacheManager;
  peers(): unknown[];
  replicationStatistics(cache: string): unknown;
  /** The cache's replication settings; undefined for a cache that does not replicate. */
  replicationSettings(cache: string): { readonly replicateRemovals: boolean } | undefined;
}

/**
 * How a cache's removals (`remove`, `clear`) reach the other nodes, as `remove` and `clear`
 * answer it (`removals`), so that the CLI says what happened rather than promise every node:
 * - 'sent': the cache replicates removals; the change is sent to its peers like any write;
 * - 'repair': `replicateRemovals: false`; nothing is sent now, and peers drop the key (empty the
 *   cache, for a clear) at their next repair (docs/replication.md);
 * - 'none': the cache does not replicate; only this node changed.
 * A node from before this field answers without it.
 */
export type RemovalReplication = 'sent' | 'repair' | 'none';

/** One cache's figures, as `stats` returns them. */
export interface CacheReport {
  readonly name: string;
  readonly statistics: CacheStatistics;
  /** Replication counters and per-peer queues; null for a cache that stays local. */
  readonly replication: unknown;
}

/** The operations a read-only admin key allows. */
const READ_ONLY_OPERATIONS: ReadonlySet<string> = new Set(['peers', 'stats', 'get']);

export function serveAdmin(
  session: Session,
  target: AdminTarget,
  grant: AdminClientGrant,
  bounds: AdminSessionBounds,
): void {
  const { client } = grant;
  session.onMessage((message: SessionMessage) => {
    if (message.type !== MessageType.AdminRequest) {
      bounds.refused({ client }, 'a non-admin message on an admin session; closing it');
      session.close(CloseCode.ProtocolError, 'only admin requests are accepted on an admin session');
      return;
    }
    if (!bounds.requested()) return;
    let response: { ok: boolean; result: unknown };
    try {
      if (grant.readOnly && !READ_ONLY_OPERATIONS.has(message.op)) {
        throw new MeshcacheError(
          'E_FORBIDDEN',
          `"${message.op}" needs the admin secret; the read-only secret allows peers, stats and get`,
        );
      }
      response = { ok: true, result: perform(target, message) };
    } catch (error) {
      const code = error instanceof MeshcacheError ? error.code : 'E_INTERNAL';
      response = { ok: false, result: { code, message: (error as Error).message } };
      bounds.failed(message.op, code);
    }
    let unsent: string | undefined;
    try {
      if (!session.send({ type: MessageType.AdminResponse, id: message.id, ...response }) && session.connection.open) {
        unsent = `the answer is larger than one frame carries (${MAX_SENT_FRAME_BYTES} bytes)`;
      }
    } catch (error) {
      unsent = `the answer could not be encoded: ${(error as Error).message}`;
    }
    if (unsent !== undefined) {
      // An answer msgpack cannot carry (a value with a cycle or a Symbol, in a cache that does
      // not replicate), or one past a frame: the client is told so rather than left to its
      // timeout, and the node goes on serving.
      bounds.failed(message.op, 'E_VALUE_NOT_ENCODABLE');
      session.send({
        type: MessageType.AdminResponse,
        id: message.id,
        ok: false,
        result: { code: 'E_VALUE_NOT_ENCODABLE', message: unsent },
      });
    }
    bounds.answered();
  });
}

function perform(target: AdminTarget, request: AdminRequestMessage): unknown {
  const { args } = request;
  switch (request.op) {
    case 'peers':
      return target.peers();
    case 'stats': {
      const names =
        args[0] === undefined || args[0] === null ? target.manager.cacheNames() : [cacheOf(target, args[0]).name];
      return names.map((name): CacheReport => {
        const cache = cacheOf(target, name);
        return { name, statistics: cache.statistics(), replication: target.replicationStatistics(name) ?? null };
      });
    }
    case 'get': {
      const cache = cacheOf(target, args[0]);
      const key = keyOf(args[1]);
      const entry = cache.peekEntry(key);
      // A read through admin is a look, not a use: no statistics, no idle-time reset.
      if (entry === undefined) return { found: false };
      const problem = unsendable(entry.value);
      if (problem !== undefined) {
        throw new MeshcacheError(
          'E_VALUE_NOT_ENCODABLE',
          `the value of key ${JSON.stringify(key)} in "${cache.name}" cannot be sent as it is: ${problem}`,
        );
      }
      return { found: true, value: entry.value };
    }
    case 'put': {
      const cache = cacheOf(target, args[0]);
      const ttl = args[3];
      if (ttl !== undefined && ttl !== null && (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0)) {
        throw new MeshcacheError('E_INVALID_ARGUMENT', `ttl must be whole seconds >= 0, not ${JSON.stringify(ttl)}`);
      }
      cache.put(keyOf(args[1]), args[2], typeof ttl === 'number' ? { timeToLiveSeconds: ttl } : undefined);
      return {};
    }
    case 'remove': {
      const cache = cacheOf(target, args[0]);
      return { removed: cache.remove(keyOf(args[1])), removals: removalsOf(target, cache.name) };
    }
    case 'clear': {
      const cache = cacheOf(target, args[0]);
      cache.removeAll();
      return { removals: removalsOf(target, cache.name) };
    }
  }
}

function removalsOf(target: AdminTarget, cache: string): RemovalReplication {
  const settings = target.replicationSettings(cache);
  if (settings === undefined) return 'none';
  return settings.replicateRemovals ? 'sent' : 'repair';
}

/**
 * What of a value the answer would not carry as it is, or undefined. A cache that neither
 * replicates nor has a disk tier takes any value at all, but the answer travels as a peer's change
 * does: msgpackr dropped a function (the client got `found` and no value), wrote a class instance
 * as a plain object and a Map subclass as an empty one, and a BigInt or an invalid Date was
 * refused by the client's guard, which closed the session as if the node had sent garbage. So
 * the value is checked as a replicated cache checks a put (core's encodable.ts, to the depth a
 * replicated value may take, which leaves room for the answer's two levels around it; it refuses
 * an invalid Date too); what fails is answered E_VALUE_NOT_ENCODABLE, naming where.
 */
function unsendable(value: unknown): string | undefined {
  const found = findEncodingProblem(value, Number.POSITIVE_INFINITY, MAX_VALUE_DEPTH);
  return found === undefined ? undefined : `${found.path} ${found.problem}`;
}

function cacheOf(target: AdminTarget, name: unknown): Cache<unknown> {
  if (typeof name !== 'string' || name === '') {
    throw new MeshcacheError('E_INVALID_ARGUMENT', 'the cache name must be a non-empty string');
  }
  const cache = target.manager.getCache(name);
  if (cache === undefined) {
    const known = target.manager.cacheNames();
    // Quoted as JSON: a name with a quote, a backslash or `", "` in it was shown as written, and
    // the list could not be read back (`"we"ird\name"`).
    throw new MeshcacheError(
      'E_UNKNOWN_CACHE',
      `no cache named ${JSON.stringify(name)} on this node (it has: ${known.length === 0 ? 'none' : known.map((n) => JSON.stringify(n)).join(', ')})`,
    );
  }
  return cache;
}

function keyOf(key: unknown): string {
  if (typeof key !== 'string') throw new MeshcacheError('E_INVALID_ARGUMENT', 'the key must be a string');
  return key;
}
