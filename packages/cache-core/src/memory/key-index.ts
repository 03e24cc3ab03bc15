/**
 * The memory store's index from key to slot. A few keys are kept in a Map; past TABLE_FROM they
 * move to an open-addressing table of (hash, slot) pairs in one Int32Array, probed linearly, the
 * hashes computed here with a seed of the table's own.
 *
 * Why not a Map throughout. A Map of a million string keys was the largest single cost in every
 * profile of issue 20 (a replicated put, a remote put, a bootstrap: a quarter of a joiner's
 * time), and it is a get's miss path. V8's Map chains its entries: a lookup reads a bucket, then
 * each entry of the chain, then each candidate key's header to compare it, a cache miss apiece
 * once the table outgrows the CPU's caches. Here a lookup reads the pair at the key's home and, at
 * a load of at most one half, usually the next few beside it: one cache line, and a candidate's
 * key is read only when its 32-bit hash matches.
 *
 * Why a Map at first. V8 keeps a string's hash in the string, so a key string used again (a
 * benchmark's, a caller's constant) is looked up in a Map without hashing; here it is hashed on
 * every call. While the keys are few, the Map and its keys sit in the CPU's caches and that saved
 * hashing is the larger part of a lookup. A new string (a request's URL, a key decoded from a
 * frame) is hashed once per lookup either way, by V8 in C++ or here in JavaScript.
 *
 * The caller owns the keys: the store's slot-to-key array is handed to each call that compares
 * keys, so the table holds 8 bytes a position and nothing per key.
 *
 * Flooding. Keys chosen to share a home (a gateway's keys are its clients' URLs) would put every
 * key in one run, each operation then costing the whole run. So the hash is keyed:
 * HalfSipHash-1-3 under a random 64-bit key per index, which an attacker cannot aim at without
 * the key. (The first hash here, murmur3's rounds with a seed, was not: an attack found blocks of
 * four units with two forms that leave any state the same, so 2^n keys of ordinary CJK text shared
 * one hash under every seed.) Should an insertion still have to probe past MAX_PROBES (at a load
 * of one half that does not happen by chance), the index draws a new key and rehashes; if that
 * happens again, it gives up hashing and keeps its keys in a Map for good (`flooded`). So it is
 * never worse than the Map it replaced.
 *
 * Moves are gradual. Done in one go, the keys of a cache crossing TABLE_FROM were hashed and
 * placed by the one put that crossed it (70-100 ms with URL keys, on this machine), and each
 * doubling of the table re-placed every pair (150 ms at a million keys, 300 ms at two) while a
 * gateway served nothing. Now the new table is made then and takes the new keys, and every read,
 * add and delete after moves a few of the Map's keys (MOVE_STEP) or of the old table's positions
 * (4 * MOVE_STEP), until none is left. Meanwhile a lookup reads the Map or the old table as well
 * (each key is in exactly one place), and a pair moved out of the old table, or taken out of it,
 * is marked MOVED there rather than emptied, so the runs a lookup walks stay unbroken.
 *
 * Reading ahead. A caller about to look up many keys at once (a peer's batch, a repair's key list)
 * hands them to prefetch() first: their positions are read in a loop of their own, where the CPU
 * overlaps the misses to memory, and the lookups that follow find them in its caches.
 *
 * Guaranteed: get, add and remove are exact; a key is never found in a slot it was not added with.
 * Not guaranteed: the table does not shrink when keys leave (clear() starts again with a Map),
 * and the order of positions means nothing.
 */

const NONE = -1;
/** A position of the old table whose pair moved to the new one, or left: not empty, never a match. */
const MOVED = -1;
/**
 * Keys held before the index leaves its Map for the table. Below it the Map does as well or better:
 * its table and keys mostly sit in the CPU's caches, and V8 keeps each key string's hash, so a key
 * string used again costs no hashing. Where the Map outgrows a core's L2 (1 MiB here: about 50,000
 * keys of a Map's entries and buckets) the table wins every column (bench:memory, 2026-12-01, each
 * build interleaved with the other: at 30,000 and 50,000 keys the table's hits of held key strings
 * were 0.6x the Map's, its fresh-string hits 1.0x-1.3x; at 80,000 every column 1.05x-2x, at
 * 100,000 1.2x-1.9x but held hits, 0.95x). It was 131,072 until then; a replica receiving a
 * cache of 200,000 keys spent a quarter of its apply in the Map's lookups of fresh keys.
 * Exported for the tests.
 */
export const TABLE_FROM = 65_536;
/** An insertion that probes this far means the keys collide on purpose (or the seed is unlucky). */
const MAX_PROBES = 128;
/** New seeds drawn before giving up on hashing. */
const MAX_RESEEDS = 1;
/**
 * Keys moved from the Map to the table by each operation while it moves (each hashed and placed:
 * some microseconds for the lot, nothing a caller notices), and positions of the old table moved
 * while the table grows (4 * MOVE_STEP: about 2 * MOVE_STEP pairs, placed by their stored hashes).
 * Not fewer: while a move lasts, a lookup of a key not held reads two places (the Map or the old
 * table, and the table), so the sooner it ends the better. With 8 and 16, half the puts of a
 * million new keys met a move under way, each 8-18% slower than before (bench, /tmp A/B at 200k
 * and 1M keys); with 64 and 256, one in sixteen.
 */
export const MOVE_STEP = 64;
/**
 * The most keys one prefetch() reads ahead: their homes' cache lines (64 bytes each) stay well
 * within a core's L2 until the lookups come.
 */
export const PREFETCH_MOST = 1024;
/** Where prefetch() puts what it read, so that the reads are not optimized away. */
let _prefetchSink = 0;

export class KeyIndex {
  /** hash at 2 * position, slot + 1 at 2 * position + 1 (0 = empty); empty while the Map is used. */
  #table = new Int32Array(0);
  #mask = 0;
  #size = 0;
  /** Draws 32 random bits: a key is two draws. */
  readonly #seeds: () => number;
  readonly #tableFrom: number;
  readonly #moveStep: number;
  #key0: number;
  #key1: number;
  #reseeds = 0;
  /** Every key, while there are fewer than TABLE_FROM or once hashing gave up; else undefined. */
  #map: Map<string, number> | undefined = new Map();
  /**
   * While the keys move to the table: the Map they were in (no key is added to it meanwhile), where
   * the move is, and how many are not moved yet. A moved key stays in the Map (a Map's delete cost
   * more than the move itself): a lookup reads the table first, and a key taken out of the table
   * is taken out of the Map too, so the Map answers only for keys not moved yet.
   */
  #moving: Map<string, number> | undefined;
  #unmoved = 0;
  #cursor: Iterator<[string, number]> | undefined;
  /** While the table grows: the table before, its mask, its next position to move, and its pairs not moved yet. */
  #old: Int32Array | undefined;
  #oldMask = 0;
  #oldNext = 0;
  #oldSize = 0;
  #flooded = false;
  /** The last key hashed and its hash: a write looks a key up, then adds it. */
  #lastKey: string | undefined;
  #lastHash = 0;
  /**
   * The keys prefetch() hashed (a copy: the caller's array is the caller's to change) and their
   * hashes, made at the first prefetch of a table; how many; the next one a lookup is expected to
   * ask for; and how many hashes lookups took in all (for the tests).
   */
  #prefetched: { readonly keys: Array<string | undefined>; readonly hashes: Int32Array } | undefined;
  #prefetchedCount = 0;
  #prefetchedNext = 0;
  #prefetchedTaken = 0;

  /**
   * `seeds` draws 32 random bits (a hash key is two draws), `tableFrom` is when the Map gives way
   * to the table, `moveStep` the keys a move takes per operation: a test hands in its own, to make
   * keys collide, to test the table with a few keys, and to hold the index mid-move for many
   * operations.
   */
  constructor(
    options: { readonly seeds?: () => number; readonly tableFrom?: number; readonly moveStep?: number } = {},
  ) {
    this.#seeds = options.seeds ?? randomSeed;
    this.#key0 = this.#seeds();
    this.#key1 = this.#seeds();
    this.#tableFrom = options.tableFrom ?? TABLE_FROM;
    this.#moveStep = options.moveStep ?? MOVE_STEP;
    if (!Number.isInteger(this.#moveStep) || this.#moveStep < 1)
      throw new RangeError('moveStep must be a whole number >= 1');
  }

  get size(): number {
    return this.#map === undefined ? this.#size + this.moving : this.#map.size;
  }

  /** Keys still to move, from the Map to the table or from the table before it grew (0 when none is moving). */
  get moving(): number {
    return this.#unmoved + this.#oldSize;
  }

  /** Whether the keys are in the table (false while they are few, or once the index is flooded). */
  get hashed(): boolean {
    return this.#map === undefined;
  }

  /** Whether the index gave up hashing for a Map (an insertion kept colliding past MAX_PROBES). */
  get flooded(): boolean {
    return this.#flooded;
  }

  /**
   * Reads the table at the home of each of the first PREFETCH_MOST `keys`, for lookups of these
   * keys, in this order, to follow. Why: a lookup of a key not held (each key of a bootstrap, of a
   * burst of new keys from a peer) reads one position of a table of megabytes at random, a miss to
   * memory, and the hashing of the next key keeps the CPU from overlapping that miss with the
   * next one; a loop of nothing but those reads overlaps them (a million keys on this machine:
   * 165 ms of misses one at a time, 17 ms in a loop of reads). So the keys are hashed first, then
   * their homes read in a loop of their own, then the held keys (`held`, the caller's slot-to-key
   * array) that those homes name under the same hash, which a lookup of a key held compares; the
   * hashes are kept for the lookups: a lookup whose key is the next one prefetched (or the one
   * after: a change refused before its lookup skips one) takes its hash instead of hashing it
   * again. A lookup of any other key hashes it as before, and ends the read-ahead (its keys are let
   * go, and later lookups compare nothing with them): prefetching changes what a lookup costs,
   * never what it answers. The keys are held until the last is looked up, until a lookup goes
   * another way, or until the next prefetch: `prefetch([])` lets them go (a caller whose run ended).
   */
  prefetch(keys: readonly string[], held: ReadonlyArray<string | undefined>, first = keys.length): void {
    this.#forgetPrefetched();
    if (this.#map !== undefined || first === 0) return;
    this.#prefetched ??= {
      keys: new Array<string | undefined>(PREFETCH_MOST).fill(undefined),
      hashes: new Int32Array(PREFETCH_MOST),
    };
    const { keys: kept, hashes } = this.#prefetched;
    const count = Math.min(first, keys.length, PREFETCH_MOST);
    for (let i = 0; i < count; i++) {
      const key = keys[i] as string;
      kept[i] = key;
      hashes[i] = hashString(key, this.#key0, this.#key1);
    }
    const table = this.#table;
    const mask = this.#mask;
    let sink = 0;
    for (let i = 0; i < count; i++) sink ^= table[2 * ((hashes[i] as number) & mask) + 1] as number;
    // Then, where a key's home holds a key of the same hash (a key held, mostly), that key: the
    // lookup compares the two, and the one held sits somewhere in the heap (a miss of its own).
    for (let i = 0; i < count; i++) {
      const hash = hashes[i] as number;
      const at = hash & mask;
      const entry = table[2 * at + 1] as number;
      if (table[2 * at] === hash && entry > 0) sink ^= held[entry - 1]?.length ?? 0;
    }
    _prefetchSink = sink;
    this.#prefetchedCount = count;
  }

  /** How many lookups took a hash prefetch() had made, in all (for the tests: that a prefetch is used, not only exact). */
  get prefetchedHashesTaken(): number {
    return this.#prefetchedTaken;
  }

  /** Lets the keys prefetched go: not this index's to keep alive (a key may be a slice of a large string). */
  #forgetPrefetched(): void {
    if (this.#prefetchedCount === 0) return;
    this.#prefetched?.keys.fill(undefined, 0, this.#prefetchedCount);
    this.#prefetchedCount = 0;
    this.#prefetchedNext = 0;
  }

  /** The key's slot, or -1. `keys` is the caller's slot-to-key array. */
  get(key: string, keys: ReadonlyArray<string | undefined>): number {
    // Small, so that it inlines into the store's read: the Map's path is most caches' only one.
    const map = this.#map;
    if (map === undefined) {
      return this.#moving === undefined && this.#old === undefined
        ? this.#find(key, keys)
        : this.#findWhileMoving(key, keys);
    }
    const slot = map.get(key);
    return slot === undefined ? NONE : slot;
  }

  #find(key: string, keys: ReadonlyArray<string | undefined>): number {
    const at = this.#positionOf(key, keys);
    return at === NONE ? NONE : (this.#table[2 * at + 1] as number) - 1;
  }

  #findWhileMoving(key: string, keys: ReadonlyArray<string | undefined>): number {
    let slot = NONE;
    const at = this.#positionOf(key, keys);
    if (at !== NONE) slot = (this.#table[2 * at + 1] as number) - 1;
    else if (this.#moving !== undefined) slot = this.#moving.get(key) ?? NONE;
    if (slot === NONE && this.#old !== undefined) {
      const was = this.#positionIn(this.#old, this.#oldMask, key, keys);
      if (was !== NONE) slot = (this.#old[2 * was + 1] as number) - 1;
    }
    this.#step(keys);
    return slot;
  }

  /** The key's position in the table, or -1. */
  #positionOf(key: string, keys: ReadonlyArray<string | undefined>): number {
    return this.#positionIn(this.#table, this.#mask, key, keys);
  }

  /**
   * The key's position in `table` (the table, or the old one while the table grows), or -1. A
   * MOVED position (only the old table has them) keeps its hash: walked past, never a match.
   */
  #positionIn(table: Int32Array, mask: number, key: string, keys: ReadonlyArray<string | undefined>): number {
    const hash = this.#hashOf(key);
    for (let at = hash & mask; ; at = (at + 1) & mask) {
      const entry = table[2 * at + 1] as number;
      if (entry === 0) return NONE;
      if (table[2 * at] === hash && entry > 0 && keys[entry - 1] === key) return at;
    }
  }

  /** The position of `slot`'s pair in `table`, walking the run from the key's home (no key compared), or -1. */
  #slotPositionIn(table: Int32Array, mask: number, key: string, slot: number): number {
    // An eviction's key, held for sure: not one a caller is about to look up, so the read-ahead's
    // order is left alone (an eviction at each insertion of a full cache would end it).
    const hash = key === this.#lastKey ? this.#lastHash : hashString(key, this.#key0, this.#key1);
    for (let at = hash & mask; ; at = (at + 1) & mask) {
      const entry = table[2 * at + 1] as number;
      if (entry === 0) return NONE;
      if (entry === slot + 1) return at;
    }
  }

  /** Adds a key that is not held, at `slot`. */
  add(key: string, slot: number, keys: ReadonlyArray<string | undefined>): void {
    const map = this.#map;
    if (map === undefined) {
      this.#insert(key, slot, keys);
      if (this.#moving !== undefined || this.#old !== undefined) this.#step(keys);
    } else if (map.set(key, slot).size >= this.#tableFrom && !this.#flooded) this.#leaveMap();
  }

  #insert(key: string, slot: number, keys: ReadonlyArray<string | undefined>): void {
    this.#insertHashed(key, slot, keys, this.#hashOf(key));
  }

  #insertHashed(key: string, slot: number, keys: ReadonlyArray<string | undefined>, hash: number): void {
    if (2 * (this.#size + 1) > this.#mask + 1) this.#resize(2 * (this.#mask + 1));
    const table = this.#table;
    const mask = this.#mask;
    let at = hash & mask;
    for (let probes = 0; table[2 * at + 1] !== 0; probes++) {
      if (probes === MAX_PROBES) {
        this.#rehash(keys);
        this.add(key, slot, keys);
        return;
      }
      at = (at + 1) & mask;
    }
    table[2 * at] = hash;
    table[2 * at + 1] = slot + 1;
    this.#size++;
  }

  /** Takes a key out; returns the slot it had, or -1 when it was not held. */
  delete(key: string, keys: ReadonlyArray<string | undefined>): number {
    const map = this.#map;
    if (map === undefined) return this.#take(key, keys);
    const slot = map.get(key);
    if (slot === undefined) return NONE;
    map.delete(key);
    return slot;
  }

  #take(key: string, keys: ReadonlyArray<string | undefined>): number {
    let slot = NONE;
    const at = this.#positionOf(key, keys);
    if (at !== NONE) {
      slot = (this.#table[2 * at + 1] as number) - 1;
      this.#vacate(at);
      this.#moving?.delete(key); // moved, so still in the Map: it must not answer for it now
    } else {
      const held = this.#moving?.get(key);
      if (held !== undefined) {
        this.#takeUnmoved(key);
        slot = held;
      } else if (this.#old !== undefined) {
        const was = this.#positionIn(this.#old, this.#oldMask, key, keys);
        if (was !== NONE) {
          slot = (this.#old[2 * was + 1] as number) - 1;
          this.#takeOld(was);
        }
      }
    }
    this.#step(keys);
    // The key taken out is not kept alive as the last key hashed (it may be a slice of a large string).
    this.#lastKey = undefined;
    return slot;
  }

  /** Takes out a key known to be held at `slot` (an eviction): no key is compared. */
  remove(key: string, slot: number): void {
    const map = this.#map;
    if (map !== undefined) map.delete(key);
    else {
      const at = this.#slotPositionIn(this.#table, this.#mask, key, slot);
      if (at !== NONE) {
        this.#vacate(at);
        this.#moving?.delete(key); // as in #take
      } else if (!this.#takeUnmoved(key) && this.#old !== undefined) {
        const was = this.#slotPositionIn(this.#old, this.#oldMask, key, slot);
        if (was !== NONE) this.#takeOld(was);
      }
    }
    this.#lastKey = undefined; // as in #take
  }

  /** Takes a key not moved yet out of the moving Map (the last one ends the move); false when it is not there. */
  #takeUnmoved(key: string): boolean {
    if (this.#moving?.delete(key) !== true) return false;
    if (--this.#unmoved === 0) this.#endMapMove();
    return true;
  }

  /** Takes the old table's pair at `position` out (MOVED); the last one ends the move, with positions still unwalked. */
  #takeOld(position: number): void {
    (this.#old as Int32Array)[2 * position + 1] = MOVED;
    if (--this.#oldSize === 0) this.#old = undefined;
  }

  /** Empties the index: back to a Map, kept for good if the index was flooded (its sender is still out there). */
  clear(): void {
    this.#lastKey = undefined; // not to keep a key (or the string it was sliced from) alive
    this.#forgetPrefetched();
    this.#map = new Map();
    this.#moving = undefined;
    this.#cursor = undefined;
    this.#unmoved = 0;
    this.#old = undefined;
    this.#oldSize = 0;
    this.#table = new Int32Array(0);
    this.#mask = 0;
    this.#size = 0;
  }

  /** While keys move (from the Map, or from the table before it grew), moves a few more. */
  #step(keys: ReadonlyArray<string | undefined>): void {
    if (this.#moving !== undefined) this.#move(keys);
    if (this.#old !== undefined) this.#moveOld(4 * this.#moveStep);
  }

  /**
   * Moves the pairs of the old table's next `positions` positions to the table (by their stored
   * hashes: no key is read or hashed), marking each MOVED; the last position ends the move.
   */
  #moveOld(positions: number): void {
    const old = this.#old as Int32Array;
    const table = this.#table;
    const mask = this.#mask;
    const end = Math.min(this.#oldMask + 1, this.#oldNext + positions);
    let at = this.#oldNext;
    for (; at < end; at++) {
      const entry = old[2 * at + 1] as number;
      if (entry <= 0) continue;
      const hash = old[2 * at] as number;
      let to = hash & mask;
      while (table[2 * to + 1] !== 0) to = (to + 1) & mask;
      table[2 * to] = hash;
      table[2 * to + 1] = entry;
      this.#size++;
      old[2 * at + 1] = MOVED;
      if (--this.#oldSize === 0) break;
    }
    this.#oldNext = at;
    if (at > this.#oldMask || this.#oldSize === 0) this.#old = undefined;
  }

  /**
   * Room for up to `keys` keys in all, made now: a caller that knows about how many keys are
   * coming (a bootstrap) saves the moves on the way, each doubling of the table a re-placing of
   * every pair while lookups read two tables. `keys` is taken as an estimate that may be up to
   * twice what comes (a bootstrap's is): the Map is left only when half of it would reach
   * tableFrom anyway, so a cache the Map serves better stays in it. That rule also keeps the
   * table at least what the Map's own move makes (four times its keys: the Map holds fewer than
   * tableFrom, half of `keys`), so it cannot fill and grow while the Map's keys still move to it,
   * the two moves overlapping, which #resize's bookkeeping does not allow (a reserve just above
   * the keys held lost keys that way). The table is never made smaller, nor resized while the
   * Map's keys still move.
   */
  reserve(keys: number): void {
    if (this.#flooded || this.#moving !== undefined) return;
    const positions = positionsFor(keys);
    if (this.#map !== undefined) {
      if (keys / 2 >= this.#tableFrom) this.#leaveMap(positions);
    } else if (positions > this.#mask + 1) this.#resize(positions);
  }

  /**
   * The Map grew to tableFrom keys (or a reserve asked for `positions`): a table with room for
   * twice as many takes new keys from now on, and the Map's keys move to it a few at a time (#move).
   */
  #leaveMap(positions = positionsFor(2 * (this.#map as Map<string, number>).size)): void {
    const held = this.#map as Map<string, number>;
    this.#map = undefined;
    this.#table = new Int32Array(2 * positions);
    this.#mask = positions - 1;
    this.#size = 0;
    if (held.size === 0) return;
    this.#moving = held;
    this.#cursor = held.entries();
    this.#unmoved = held.size;
  }

  #endMapMove(): void {
    this.#moving = undefined;
    this.#cursor = undefined;
    this.#unmoved = 0;
  }

  /** Moves up to MOVE_STEP keys from the Map to the table; the last of them ends the move. */
  #move(keys: ReadonlyArray<string | undefined>): void {
    const cursor = this.#cursor as Iterator<[string, number]>;
    for (let moved = 0; moved < this.#moveStep; moved++) {
      // A Map's iterator skips the keys deleted since it began (taken out meanwhile).
      const next = cursor.next();
      if (next.done === true) {
        this.#endMapMove();
        return;
      }
      const [key, slot] = next.value;
      // Hashed here, not through #hashOf: the key the caller just looked up stays the one
      // remembered (its add, next, needs its hash).
      this.#insertHashed(key, slot, keys, hashString(key, this.#key0, this.#key1));
      // The insertion gave up hashing (a flood): every key is in the Map now, the move is over.
      if (this.#moving === undefined) return;
      if (--this.#unmoved === 0) {
        this.#endMapMove(); // not at the next operation: a cache gone quiet would keep the Map
        return;
      }
    }
  }

  /**
   * Empties a position, then moves back into it each pair of the run after it whose home is at or
   * before it (backward-shift deletion): the run stays unbroken and no tombstones pile up.
   */
  #vacate(position: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let hole = position;
    for (let at = (hole + 1) & mask; table[2 * at + 1] !== 0; at = (at + 1) & mask) {
      const home = (table[2 * at] as number) & mask;
      if (((at - home) & mask) >= ((at - hole) & mask)) {
        table[2 * hole] = table[2 * at] as number;
        table[2 * hole + 1] = table[2 * at + 1] as number;
        hole = at;
      }
    }
    table[2 * hole] = 0;
    table[2 * hole + 1] = 0;
    this.#size--;
  }

  /**
   * The table is half full: a table of `positions` takes new keys from now on, and the pairs of
   * this one move to it a few positions an operation (#moveOld). A move is never still under way
   * here: the new table starts at most a quarter full and each operation adds a pair at most,
   * while the move ends after (old positions) / 16 operations; finishing one is only a guard. Nor
   * do the Map's move and this one overlap (the table made for the Map's keys is four times their
   * number). Moves advance only with reads, adds and deletes: a cache that goes quiet keeps what
   * is left of either until it is used again.
   */
  #resize(positions: number): void {
    if (this.#old !== undefined) this.#moveOld(Number.POSITIVE_INFINITY);
    this.#old = this.#table;
    this.#oldMask = this.#mask;
    this.#oldNext = 0;
    this.#oldSize = this.#size;
    this.#table = new Int32Array(2 * positions);
    this.#mask = positions - 1;
    this.#size = 0;
  }

  /** An insertion probed past MAX_PROBES: a new key, or (the second time) a Map. */
  #rehash(keys: ReadonlyArray<string | undefined>): void {
    // The old table's pairs were hashed with the key being replaced: into this table first.
    if (this.#old !== undefined) this.#moveOld(Number.POSITIVE_INFINITY);
    const old = this.#table;
    const slots = new Int32Array(this.#size);
    let held = 0;
    for (let from = 1; from < old.length; from += 2) {
      const entry = old[from] as number;
      if (entry !== 0) slots[held++] = entry - 1;
    }
    this.#lastKey = undefined;
    if (this.#reseeds === MAX_RESEEDS) {
      this.#flooded = true;
      // The keys not moved yet stay where they are, and the table's join them: one Map for good.
      const map = this.#moving ?? new Map<string, number>();
      this.#moving = undefined;
      this.#cursor = undefined;
      this.#unmoved = 0;
      for (const slot of slots) map.set(keys[slot] as string, slot);
      this.#map = map;
      this.#table = new Int32Array(0);
      this.#mask = 0;
      this.#size = 0;
      return;
    }
    this.#reseeds++;
    this.#key0 = this.#seeds();
    this.#key1 = this.#seeds();
    this.#forgetPrefetched(); // hashed under the key replaced
    this.#table = new Int32Array(old.length);
    this.#size = 0;
    // add, not #insert: a key that collides again gives up hashing midway, and add then takes the
    // Map. Each add also moves Map keys, so a reseed during the Map's move ends that move at once:
    // a stall, but only where keys were made to collide.
    for (const slot of slots) this.add(keys[slot] as string, slot, keys);
  }

  #hashOf(key: string): number {
    if (key === this.#lastKey) return this.#lastHash;
    const hash = this.#prefetchedCount > 0 ? this.#prefetchedHash(key) : hashString(key, this.#key0, this.#key1);
    this.#lastKey = key;
    this.#lastHash = hash;
    return hash;
  }

  /** The key's hash, prefetched when it is the next key prefetched or the one after; see prefetch(). */
  #prefetchedHash(key: string): number {
    const { keys, hashes } = this.#prefetched as { keys: Array<string | undefined>; hashes: Int32Array };
    const count = this.#prefetchedCount;
    let next = this.#prefetchedNext;
    if (keys[next] !== key) next++;
    if (next >= count || keys[next] !== key) {
      this.#forgetPrefetched(); // the lookups went another way
      return hashString(key, this.#key0, this.#key1);
    }
    this.#prefetchedTaken++;
    if (next + 1 === count) this.#forgetPrefetched();
    else this.#prefetchedNext = next + 1;
    return hashes[next] as number;
  }
}

/**
 * HalfSipHash-1-3 (Aumasson and Bernstein's SipHash on 32-bit words, one round a word and three to
 * finish, as Linux's hsiphash) of the string's UTF-16LE bytes, two units a word, under the 64-bit
 * key (key0, key1): a keyed hash, so keys that collide under one key do not under another, which
 * murmur3's rounds did not give (a block of four units had two forms that left any state the
 * same, whatever the seed). One loop, one round a turn: the words, the last block, then the three
 * rounds of the finish as blocks of nothing (`v3 ^= 0`, `v0 ^= 0`); an inner loop over a round
 * count cost a third more. The tests hold it to a plain HalfSipHash-c-d of their own, itself
 * checked against the reference vectors.
 */
export function hashString(text: string, key0: number, key1: number): number {
  let v0 = key0 | 0;
  let v1 = key1 | 0;
  let v2 = 0x6c796765 ^ key0;
  let v3 = 0x74656462 ^ key1;
  const units = text.length;
  const words = units >> 1;
  for (let block = 0; block <= words + 3; block++) {
    let m = 0;
    if (block < words) m = text.charCodeAt(2 * block) | (text.charCodeAt(2 * block + 1) << 16);
    // The last block: the odd unit left, if any, and the byte length's low byte on top.
    else if (block === words) m = ((2 * units) << 24) | (units & 1 ? text.charCodeAt(units - 1) : 0);
    else if (block === words + 1) v2 ^= 0xff; // the finish begins
    v3 ^= m;
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
    v0 ^= m;
  }
  return v1 ^ v3;
}

/** Positions for `keys` keys at a load of at most one half (the insertion's bound): a power of two from 16. */
function positionsFor(keys: number): number {
  let positions = 16;
  while (positions < 2 * keys) positions *= 2;
  return positions;
}

function randomSeed(): number {
  return crypto.getRandomValues(new Int32Array(1))[0] as number;
}
