/**
 * getOrLoad's loads: one loader call per key at a time, shared by every caller that misses
 * meanwhile, optionally coordinated beyond this process (replication's cluster-wide single flight
 * sets a LoadCoordinator through the replica port).
 *
 * Guarantees.
 * - A failed load is never cached and reaches every waiting caller (unless a stale value may
 *   answer: staleIfErrorSeconds, RFC 5861's stale-if-error). A stale value that answered keeps
 *   answering the failures of its window (the access that found it expired freed it from the
 *   store, so it is kept here, out of get's sight) until a write, removal or removeAll of its key
 *   or a load that succeeds ends it: a revocation is not undone by the next failure. That includes
 *   a peer's change newer than it that leaves nothing here to change (endStale).
 * - A load that a write, remove or removeAll overtook (overtake, overtakeAll) still answers its
 *   callers but is not stored, so a revocation that happens mid-load is not undone by the load
 *   finishing; and a caller that comes after the revocation does not join it (it would be
 *   answered with what was revoked): it starts a load of its own.
 * - Stale values kept so share the cache's memory bounds with its entries: together they stay within
 *   maxElementsInMemory and maxBytesLocalHeap (each stale value weighed as the entry it was). They
 *   give way first, the one kept first first (with one window, the first whose window ends): a
 *   write that needs their room ends them before the store evicts any entry for it, and a stale
 *   value kept where only the others' room is left ends the others, then itself. They only ever
 *   answer failures, while an entry answers every read; and outside the bounds, an outage kept
 *   every expired response of a byte-bounded response cache here, past the bound, with nothing
 *   in statistics to say so (they are counted now: staleValues, staleBytes). One larger than
 *   maxBytesLocalHeap by itself is not kept (it still answers the failure that found it).
 * - A hit of a live entry in memory allocates nothing but the resolved promise it returns, with
 *   staleIfErrorSeconds too: what a failure may answer with is copied only when the entry is not
 *   live in memory (expired, on disk only, gone with a stale value kept), before the read that
 *   would free it. Copied on every call, a gateway's every cached response paid about 160 bytes
 *   (bench/README.md, "getOrLoad hit").
 * - One loader call per key at a time, also for a loader that asks for its own key (it joins).
 * - A value that arrived from a peer under a coordinator is already held: it is not stored again.
 *
 * Not guaranteed: that a loader answers. One that never settles holds its callers (give it a
 * timeout of its own); a remove or removeAll of the key lets later callers start a load again.
 * A stale value whose window has passed is held (and counted) until the expiry sweep, a write
 * that needs its room, or the map's own sweep when it has doubled. A load in flight holds the
 * value it may answer with, uncounted, until it settles.
 */
import { describe, type EntryOptions, type Lifespan } from './config.js';
import { hasLoadSubscribers, type LoadTrace, loadChannel } from './diagnostics.js';
import { MeshcacheError } from './errors.js';
import { checkOptionNames, ENTRY_OPTIONS, entryLifespan } from './expiry.js';
import { isNewer, type Version } from './version.js';

export interface GetOrLoadOptions<V = unknown> extends EntryOptions {
  /**
   * When the loader fails and this cache still holds the key's value that expired no more than
   * this many seconds ago, answer with that stale value instead of the error (RFC 5861's
   * stale-if-error). The stale value is not stored again. 0 = off. @default 0
   */
  staleIfErrorSeconds?: number;
  /**
   * The loaded value's own lifespan, from the value itself (a token's expires_in, a response's
   * max-age): its options replace the ones above for this entry. Return {} to keep them.
   */
  lifespanOf?: (value: V) => EntryOptions;
}

/**
 * Coordinates a cache's loads beyond this process (replication's cluster-wide single flight).
 * getOrLoad calls it when it must load a key: it either runs `loadHere` (this node's loader) or
 * waits for the key's value to arrive from a peer, and says which.
 */
export interface LoadCoordinator<V> {
  coordinate(key: string, loadHere: () => Promise<V>): Promise<{ readonly value: V; readonly fromPeer: boolean }>;
}

/** What the loads need of their cache. */
export interface LoadHost<V> {
  readonly name: string;
  readonly defaults: Lifespan;
  readonly closed: boolean;
  now(): number;
  /** An access, as get(). */
  get(key: string): V | undefined;
  /** get()'s hit of a live entry in memory, allocating nothing; else undefined, the key left untouched (uncounted). */
  memoryHit(key: string): V | undefined;
  /** The held value, expired or not, when it expires (Infinity for never) and its version; quiet. */
  held(
    key: string,
  ): { readonly value: V; readonly expiresAt: number; readonly version: Version | undefined } | undefined;
  checkKey(key: unknown): asserts key is string;
  checkValue(key: string, value: unknown): void;
  /** Stores a loaded value as a local write. */
  store(key: string, value: V, lifespan: Lifespan, now: number): void;
  /** Entries held in memory now, and their estimated bytes (0 without a byte bound): what stale values share the bounds with. */
  readonly memorySize: number;
  readonly memoryBytes: number;
  /** maxElementsInMemory and maxBytesLocalHeap (0 = no such bound). */
  readonly maxMemoryEntries: number;
  readonly maxMemoryBytes: number;
  /** What the key's entry of `value` weighs against maxBytesLocalHeap (0 without one). */
  weigh(key: string, value: V): number;
  warn(details: object, message: string): void;
}

/** The options getOrLoad takes: a put's, and its own. */
const LOAD_OPTIONS: ReadonlySet<string> = new Set([...ENTRY_OPTIONS, 'staleIfErrorSeconds', 'lifespanOf']);

/** What lifespanOf answered, held to a put's options (not getOrLoad's: they are the call's, not the value's). */
function checkedOwn(cacheName: string, own: EntryOptions): EntryOptions {
  checkOptionNames(cacheName, own, ENTRY_OPTIONS);
  return own;
}

/**
 * The loader and getOrLoad's own options, checked before anything is called: a loader that is not
 * a function failed as JavaScript's "loader is not a function" (naming no cache, and counted as a
 * load failure); a `staleIfErrorSeconds` of -5, NaN or "abc" switched stale-if-error off without a
 * word ("60" and true were taken as numbers); and a `lifespanOf` that is not a function failed only
 * after the loader had called the origin, throwing its value away.
 * @throws MeshcacheError E_INVALID_ARGUMENT naming the cache and the argument.
 */
function checkLoadArguments(cacheName: string, loader: unknown, options: GetOrLoadOptions<never> | undefined): void {
  const bad = (what: string, problem: string, value: unknown): never => {
    throw new MeshcacheError(
      'E_INVALID_ARGUMENT',
      `cache "${cacheName}": getOrLoad's ${what} ${problem}, got ${describe(value)}`,
    );
  };
  if (typeof loader !== 'function') bad('loader', 'must be a function (key) => value or a promise of one', loader);
  if (options === undefined || options === null || typeof options !== 'object') return;
  const stale = options.staleIfErrorSeconds;
  if (stale !== undefined && (typeof stale !== 'number' || !Number.isFinite(stale) || stale < 0)) {
    bad('option "staleIfErrorSeconds"', 'must be a number of seconds >= 0 (0 = off)', stale);
  }
  const lifespanOf = options.lifespanOf;
  if (lifespanOf !== undefined && typeof lifespanOf !== 'function') {
    bad('option "lifespanOf"', 'must be a function (value) => entry options', lifespanOf);
  }
}

/** Stale values kept past which their map is swept of those whose window passed (then twice its size). */
const STALE_SWEEP_FLOOR = 1024;

interface StaleValue<V> {
  readonly value: V;
  readonly expiresAt: number;
  /** Its write's version: a peer's change of the key newer than it ends it (endStale). */
  readonly version: Version | undefined;
  /** The end of the window of the failure that it answered: kept no longer than that. */
  readonly until: number;
  /** Its weight against maxBytesLocalHeap, as the entry it was (0 without one); set when it is kept. */
  bytes: number;
}

interface InFlightLoad<V> {
  readonly promise: Promise<V>;
  /** Set when a write or removal of the key overtook the load: its result is then not stored. */
  overtaken: boolean;
}

export class Loads<V> {
  readonly #host: LoadHost<V>;
  readonly #inFlight = new Map<string, InFlightLoad<V>>();
  /**
   * Stale values that answered a failed load, by key. The store no longer holds them (the access
   * that found one expired freed it), and without them only the first failure of an outage got
   * the stale value and every later one, within the same window, the error.
   */
  readonly #stale = new Map<string, StaleValue<V>>();
  /** The sum of their `bytes`. */
  #staleBytes = 0;
  #staleSweepAt = STALE_SWEEP_FLOOR;
  coordinator: LoadCoordinator<V> | undefined;
  /** Loader calls started, and how many failed (statistics). */
  count = 0;
  failures = 0;

  constructor(host: LoadHost<V>) {
    this.#host = host;
  }

  /** Stale values kept now (statistics: staleValues). */
  get staleSize(): number {
    return this.#stale.size;
  }

  /** Their estimated bytes; 0 without a byte bound (statistics: staleBytes). */
  get staleBytes(): number {
    return this.#staleBytes;
  }

  /** A write or removal of `key`: a load running for it must not store its result. */
  overtake(key: string): void {
    if (this.#stale.size > 0) this.#dropStale(key);
    if (this.#inFlight.size === 0) return;
    const load = this.#inFlight.get(key);
    if (load !== undefined) load.overtaken = true;
  }

  /**
   * A peer's put or remove of `key` at `version` that left nothing here to change, the key being
   * held nowhere (a removal older than the tombstone retention, a write whose TTL ran out on its
   * way): it is applied as 'stale', and so never reached overtake, yet it is newer than a stale
   * value kept here, which went on answering failures, a removal made elsewhere undone here for
   * the rest of the window. Only the stale value goes, and only one older than the change; loads
   * in flight are left as they were.
   */
  endStale(key: string, version: Version): void {
    if (this.#stale.size === 0) return;
    const kept = this.#stale.get(key);
    if (kept !== undefined && isNewer(version, kept.version)) this.#dropStale(key);
  }

  /** A removeAll: no load running now may store its result. */
  overtakeAll(): void {
    this.#stale.clear();
    this.#staleBytes = 0;
    for (const load of this.#inFlight.values()) load.overtaken = true;
  }

  getOrLoad(key: string, loader: (key: string) => Promise<V> | V, options?: GetOrLoadOptions<V>): Promise<V> {
    const host: LoadHost<V> = this.#host;
    const staleWindow = options?.staleIfErrorSeconds ?? 0;
    if (staleWindow > 0) {
      // A live entry in memory answers at once, and nothing is copied: an API gateway's every
      // cached response went this way, and copied the entry, its version and a stale record (some
      // 160 bytes) for a failure that a hit never has. Anything else (an expired entry, one on
      // disk, none) is copied before get() reads it: that read frees an expired entry.
      const hit = host.memoryHit(key);
      if (hit !== undefined) return Promise.resolve(hit);
    }
    const stale = staleWindow > 0 ? this.#staleOf(key, staleWindow) : undefined;
    const value = host.get(key);
    if (value !== undefined) return Promise.resolve(value);
    const inFlight = this.#inFlight.get(key);
    if (inFlight !== undefined && !inFlight.overtaken) return inFlight.promise;
    host.checkKey(key);
    checkLoadArguments(host.name, loader, options);
    const lifespan = entryLifespan(host.name, host.defaults, options, LOAD_OPTIONS);
    // In the table before the loader is called: a loader that asks for its own key joins its own load.
    let resolve!: (value: V) => void;
    let reject!: (error: unknown) => void;
    const answered = new Promise<V>((settled, failed) => {
      resolve = settled;
      reject = failed;
    });
    const load: InFlightLoad<V> = { promise: answered, overtaken: false };
    this.#inFlight.set(key, load);
    this.count++;
    const coordinator = this.coordinator;
    // Built only when someone listens on `meshcache:load` (diagnostics.ts).
    const trace: LoadTrace | undefined = hasLoadSubscribers()
      ? { cache: host.name, key, answeredBy: undefined, stale: false }
      : undefined;
    const run = async (): Promise<V> => {
      try {
        let loaded: V;
        if (coordinator === undefined) {
          loaded = await loader(key);
        } else {
          const outcome = await coordinator.coordinate(key, async () => loader(key));
          // A value that arrived from a peer is held already (and newer than anything we'd stamp).
          if (outcome.fromPeer) {
            if (trace !== undefined) trace.answeredBy = 'peer';
            return outcome.value;
          }
          loaded = outcome.value;
        }
        if (trace !== undefined) trace.answeredBy = 'local';
        if (this.#stale.size > 0) this.#dropStale(key);
        if (loaded !== undefined && !load.overtaken && !host.closed) {
          host.checkValue(key, loaded);
          const own = options?.lifespanOf?.(loaded);
          const entryLife =
            own === undefined
              ? lifespan
              : entryLifespan(host.name, host.defaults, { ...options, ...checkedOwn(host.name, own) }, LOAD_OPTIONS);
          host.store(key, loaded, entryLife, host.now());
        }
        return loaded;
      } catch (error) {
        this.failures++;
        if (stale !== undefined && host.now() <= stale.until) {
          if (trace !== undefined) {
            trace.answeredBy = 'local';
            trace.stale = true;
          }
          host.warn(
            { cache: host.name, key, err: error },
            'loader failed; answering with the stale value (stale-if-error)',
          );
          // Not after a write or removal of the key that came meanwhile: it ended the stale value.
          if (!load.overtaken) this.#keepStale(key, stale);
          return stale.value;
        }
        throw error;
      } finally {
        if (this.#inFlight.get(key) === load) this.#inFlight.delete(key);
      }
    };
    (trace === undefined ? run() : loadChannel.tracePromise(run, trace)).then(resolve, reject);
    return answered;
  }

  /**
   * What may answer a failed load of `key` within `staleWindow` seconds: the value held, expired
   * or not, else the stale value kept from an earlier failure. Copied out: what the store holds
   * changes under us, and a kept record is replaced when it answers again.
   */
  #staleOf(key: string, staleWindow: number): StaleValue<V> | undefined {
    const held = this.#host.held(key) ?? this.#stale.get(key);
    if (held === undefined) return undefined;
    return {
      value: held.value,
      expiresAt: held.expiresAt,
      version: held.version,
      until: held.expiresAt + staleWindow * 1000,
      bytes: 0,
    };
  }

  /**
   * The memory store is about to hold `entries` more entries and `bytes` more bytes (a write, or a
   * promotion from disk, that fits the byte bound), and the key `ending` is written: its stale
   * value ends (overtake), so it goes first. Then the stale values kept first give way until they
   * and the entries fit both bounds together; the store evicts for the rest, as without them.
   * Called only while stale values are kept: a put costs nothing more otherwise.
   */
  makeRoom(entries: number, bytes: number, ending: string | undefined): void {
    if (ending !== undefined) this.#dropStale(ending);
    this.#fit(entries, bytes);
  }

  /** Sheds stale values, the first kept first, until they fit beside the entries (and `entries`, `bytes` more). */
  #fit(entries: number, bytes: number): void {
    const host = this.#host;
    const maxEntries = host.maxMemoryEntries;
    const maxBytes = host.maxMemoryBytes;
    let overEntries = maxEntries > 0 ? host.memorySize + entries + this.#stale.size - maxEntries : 0;
    let overBytes = maxBytes > 0 ? host.memoryBytes + bytes + this.#staleBytes - maxBytes : 0;
    if (overEntries <= 0 && overBytes <= 0) return;
    // A Map iterates in insertion order, and deleting the entry just visited is safe.
    for (const [key, kept] of this.#stale) {
      this.#forget(key, kept);
      overEntries--;
      overBytes -= kept.bytes;
      if (overEntries <= 0 && overBytes <= 0) return;
    }
  }

  #dropStale(key: string): void {
    const kept = this.#stale.get(key);
    if (kept !== undefined) this.#forget(key, kept);
  }

  /** Lets go of `key`'s stale value `kept`, and of its bytes. */
  #forget(key: string, kept: StaleValue<V>): void {
    this.#stale.delete(key);
    this.#staleBytes -= kept.bytes;
  }

  /** Forgets the stale values whose window has passed (the expiry sweep, and the map's own). */
  sweepStale(now: number): void {
    if (this.#stale.size === 0) return;
    for (const [key, kept] of this.#stale) if (now > kept.until) this.#forget(key, kept);
  }

  /**
   * Keeps a stale value that answered, weighed as the entry it was, within the memory bounds it
   * shares with the entries (#fit: it comes last, so the others go before it does); one larger
   * than maxBytesLocalHeap is not kept. The map is swept of those past their window whenever it
   * has doubled.
   */
  #keepStale(key: string, stale: StaleValue<V>): void {
    const host = this.#host;
    const before = this.#stale.get(key);
    // The same value answering again (its window's failures, one after another) is not walked again.
    stale.bytes = before !== undefined && before.value === stale.value ? before.bytes : host.weigh(key, stale.value);
    if (before !== undefined) this.#staleBytes -= before.bytes;
    const maxBytes = host.maxMemoryBytes;
    if (maxBytes > 0 && stale.bytes > maxBytes) {
      if (before !== undefined) this.#stale.delete(key);
      return;
    }
    // Set over `before`, it keeps its place: the order is the one they were first kept in.
    this.#stale.set(key, stale);
    this.#staleBytes += stale.bytes;
    this.#fit(0, 0);
    if (this.#stale.size < this.#staleSweepAt) return;
    this.sweepStale(host.now());
    this.#staleSweepAt = Math.max(STALE_SWEEP_FLOOR, this.#stale.size * 2);
  }
}
