/**
 * A client for a live node's admin calls (what the CLI uses): one authenticated admin session,
 * requests matched to responses by id.
 *
 * Failures are AdminErrors with a code a program can branch on: E_UNREACHABLE (nothing answers
 * at the URL), E_AUTH (the node refused the secret), E_TIMEOUT (no answer in time), E_CLOSED (the
 * node went away mid-call), E_PROTOCOL (an answer this side would not decode; the session is
 * closed), and whatever code the node gave a failed request (E_UNKNOWN_CACHE,
 * E_INVALID_ARGUMENT, E_VALUE_NOT_ENCODABLE, ...). A key or a put's value that msgpack would not
 * carry as it is fails here, before anything is sent (E_INVALID_ARGUMENT for a key, as a cache's
 * put says it; E_VALUE_NOT_ENCODABLE for a value): a lone surrogate went as another string (a
 * remove could take another key's entry), a key `__proto__` came back renamed, and nesting past
 * what a frame holds closed the session.
 */
import { randomUUID } from 'node:crypto';
import { findEncodingProblem, type Logger, MeshcacheError, silentLogger } from '@meshcache/core';
import type { PeerInfo } from '../cluster-node.js';
import { MAX_VALUE_BYTES, MAX_VALUE_DEPTH } from '../protocol/codec.js';
import { type AdminOperation, MessageType } from '../protocol/messages.js';
import { Keyring } from '../security/keyring.js';
import { HandshakeError, Session, type SessionMessage } from '../session.js';
import type { Transport } from '../transport/transport.js';
import { WebSocketTransport } from '../transport/websocket.js';
import type { CacheReport, RemovalReplication } from './admin-service.js';

/**
 * A key msgpack would not carry to the node as it is: one with a lone surrogate went as U+FFFD, so
 * a remove could take another key's entry. The same code as a cache's put of one (E_INVALID_ARGUMENT).
 * @throws AdminError E_INVALID_ARGUMENT
 */
function checkKey(op: 'get' | 'put' | 'remove', key: string): void {
  if (typeof key !== 'string') return; // the node says what a key must be
  const problem = findEncodingProblem(key);
  if (problem !== undefined) {
    throw new AdminError('E_INVALID_ARGUMENT', `cannot ${op} key ${JSON.stringify(key)}: the key ${problem.problem}`);
  }
}

/** What of a put's value msgpack would not carry to the node as it is (core's encodable.ts), or undefined. */
function valueProblem(key: string, value: unknown): string | undefined {
  // undefined is the node's to refuse (E_INVALID_ARGUMENT, as a cache's put refuses it).
  if (value === undefined) return undefined;
  const found = findEncodingProblem(value, MAX_VALUE_BYTES, MAX_VALUE_DEPTH, 3 * key.length);
  if (found === undefined) return undefined;
  return found.tooDeep
    ? `${found.path} ${found.problem} (a peer refuses a deeper frame)`
    : `${found.path} ${found.problem}`;
}

export class AdminError extends MeshcacheError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'AdminError';
  }
}

export interface AdminClientOptions {
  /**
   * The admin secret, the read-only secret, or (where the node has no admin secret) the cluster
   * secret; undefined for an insecure loopback node.
   */
  readonly secret: string | undefined;
  /** How long connecting and each call may take. @default 5000 */
  readonly timeoutMillis?: number;
  /** Another transport (TLS options, or an in-memory network in tests). */
  readonly transport?: Transport;
}

export class AdminClient {
  readonly #session: Session;
  readonly #timeoutMillis: number;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  #ids = 0;
  #closed: AdminError | undefined;

  private constructor(session: Session, timeoutMillis: number, refusal: { problem?: string }) {
    this.#session = session;
    this.#timeoutMillis = timeoutMillis;
    session.onMessage((message: SessionMessage) => this.#receive(message));
    session.connection.onClose((code, reason) => {
      this.#closed =
        refusal.problem === undefined
          ? new AdminError('E_CLOSED', `the node closed the connection (${reason === '' ? code : `${code} ${reason}`})`)
          : new AdminError(
              'E_PROTOCOL',
              `could not read the node's answer, so the connection was closed: ${refusal.problem}`,
            );
      for (const { reject } of this.#pending.values()) reject(this.#closed);
      this.#pending.clear();
    });
  }

  /** Connects and authenticates. @throws AdminError E_UNREACHABLE, E_AUTH, E_TIMEOUT */
  static async connect(url: string, options: AdminClientOptions): Promise<AdminClient> {
    const timeoutMillis = options.timeoutMillis ?? 5000;
    const transport = options.transport ?? new WebSocketTransport();
    // The key first (scrypt: tens of ms, more on a loaded machine), then the dial: the node's
    // handshake timeout runs from the connection, and must not be spent on our stretching.
    const keyring = await Keyring.from({ secret: options.secret });
    let connection: Awaited<ReturnType<Transport['dial']>>;
    const dialling = transport.dial(url);
    try {
      connection = await withTimeout(dialling, timeoutMillis, `no answer from ${url}`);
    } catch (error) {
      // A dial that succeeds after we gave up must not leave a connection open.
      dialling.then(
        (late) => late.close(),
        () => {},
      );
      if (error instanceof AdminError) throw error;
      throw new AdminError('E_UNREACHABLE', `cannot reach a node at ${url}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    // A frame of the node's that this side refuses (a BigInt in a value, from a node older than
    // the check of what its answers carry) closes the session with 4002 'bad message', which the
    // close handler saw as the node's doing; the session says why only to its logger.
    const refusal: { problem?: string } = {};
    const logger: Logger = {
      ...silentLogger,
      warn: (fields) => {
        const { err } = fields as { err?: unknown };
        if (err instanceof Error) refusal.problem ??= err.message;
      },
    };
    const session = new Session(connection, {
      side: 'dialler',
      local: { cluster: '', node: `admin-${randomUUID()}`, url: '', role: 'admin' },
      keyring,
      timeoutMillis,
      logger,
    });
    try {
      await session.established;
    } catch (error) {
      const code = error instanceof HandshakeError && error.code === 'E_AUTH' ? 'E_AUTH' : 'E_UNREACHABLE';
      const why = code === 'E_AUTH' ? 'the node refused the secret' : (error as Error).message;
      throw new AdminError(code, `${url}: ${why}`, { cause: error });
    }
    return new AdminClient(session, timeoutMillis, refusal);
  }

  peers(): Promise<PeerInfo[]> {
    return this.#call('peers', []) as Promise<PeerInfo[]>;
  }

  /** Every cache's figures, or one cache's. */
  stats(cache?: string): Promise<CacheReport[]> {
    return this.#call('stats', [cache ?? null]) as Promise<CacheReport[]>;
  }

  /** @throws AdminError E_INVALID_ARGUMENT, before anything is sent, for a key the call cannot carry as it is. */
  async get(cache: string, key: string): Promise<{ found: boolean; value?: unknown }> {
    checkKey('get', key);
    return (await this.#call('get', [cache, key])) as { found: boolean; value?: unknown };
  }

  /**
   * @throws AdminError, before anything is sent: E_INVALID_ARGUMENT for a key, E_VALUE_NOT_ENCODABLE
   * for a value, that the call cannot carry as it is.
   */
  async put(cache: string, key: string, value: unknown, options: { ttlSeconds?: number } = {}): Promise<void> {
    checkKey('put', key);
    const problem = valueProblem(key, value);
    if (problem !== undefined) {
      throw new AdminError(
        'E_VALUE_NOT_ENCODABLE',
        `cannot put key ${JSON.stringify(key)} into "${cache}": ${problem}`,
      );
    }
    await this.#call('put', [cache, key, value, options.ttlSeconds ?? null]);
  }

  /**
   * Whether the node held the key.
   * @throws AdminError E_INVALID_ARGUMENT, before anything is sent, for a key the call cannot carry as it is.
   */
  async remove(cache: string, key: string): Promise<boolean> {
    return (await this.removeEntry(cache, key)).removed;
  }

  /**
   * remove, with how the removal reaches the other nodes (`removals`: RemovalReplication);
   * undefined from a node older than that answer.
   * @throws AdminError E_INVALID_ARGUMENT, before anything is sent, for a key the call cannot carry as it is.
   */
  async removeEntry(
    cache: string,
    key: string,
  ): Promise<{ removed: boolean; removals: RemovalReplication | undefined }> {
    checkKey('remove', key);
    const answer = (await this.#call('remove', [cache, key])) as { removed: boolean; removals?: unknown };
    return { removed: answer.removed, removals: removalsIn(answer) };
  }

  /** Empties the cache; says how that reaches the other nodes, as removeEntry does. */
  async clear(cache: string): Promise<{ removals: RemovalReplication | undefined }> {
    return { removals: removalsIn(await this.#call('clear', [cache])) };
  }

  close(): void {
    this.#session.close();
  }

  #call(op: AdminOperation, args: unknown[]): Promise<unknown> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    const id = ++this.#ids;
    const answer = new Promise<unknown>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#session.send({ type: MessageType.AdminRequest, id, op, args });
    return withTimeout(answer, this.#timeoutMillis, `the node did not answer "${op}"`).finally(() =>
      this.#pending.delete(id),
    );
  }

  #receive(message: SessionMessage): void {
    if (message.type !== MessageType.AdminResponse) return;
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    if (message.ok) {
      pending.resolve(message.result);
      return;
    }
    const failure = (message.result ?? {}) as { code?: unknown; message?: unknown };
    pending.reject(
      new AdminError(
        typeof failure.code === 'string' ? failure.code : 'E_INTERNAL',
        typeof failure.message === 'string' ? failure.message : 'the node reported a failure',
      ),
    );
  }
}

const REMOVAL_REPLICATIONS: ReadonlySet<unknown> = new Set<RemovalReplication>(['sent', 'repair', 'none']);

/** An answer's `removals`; undefined where a node older than it, or a newer one's unknown value, says none we know. */
function removalsIn(answer: unknown): RemovalReplication | undefined {
  const removals = (answer as { removals?: unknown } | null)?.removals;
  return REMOVAL_REPLICATIONS.has(removals) ? (removals as RemovalReplication) : undefined;
}

function withTimeout<T>(promise: Promise<T>, millis: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AdminError('E_TIMEOUT', `${what} within ${millis} ms`)), millis);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
