/**
 * Values many entries share, stored once and referred to by a small number: an entry's lifespan
 * (most entries have their cache's) and the node that stamped its version (a cluster has a
 * handful). Each is counted by the entries that hold it and forgotten when the last one lets go,
 * so a table never outgrows what the store holds, whatever a long run writes.
 */
import type { Lifespan } from '../config.js';

/** Numbers from 1 handed out and counted; a number whose count falls to 0 is handed out again. */
class Counted {
  readonly #refs: number[] = [0];
  readonly #free: number[] = [];

  /** Numbers counted now. */
  get size(): number {
    return this.#refs.length - 1 - this.#free.length;
  }

  /** A number not in use, counted 0 times. */
  take(): number {
    const id = this.#free.pop() ?? this.#refs.length;
    this.#refs[id] = 0;
    return id;
  }

  hold(id: number): void {
    this.#refs[id] = (this.#refs[id] as number) + 1;
  }

  /** One count less; true when that was the last, and the number is free again. */
  drop(id: number): boolean {
    const refs = (this.#refs[id] as number) - 1;
    this.#refs[id] = refs;
    if (refs > 0) return false;
    this.#free.push(id);
    return true;
  }

  clear(): void {
    this.#free.length = 0;
    this.#refs.length = 1;
  }
}

/**
 * Lifespans by number. Number 0 is the cache's own lifespan, always there and never counted: a
 * put without options refers to it at no cost. Milliseconds are kept beside the seconds so a hit
 * computes its deadlines exactly as a precomputed deadline would (`createdAt + seconds * 1000`).
 */
export class Lifespans {
  /** Seconds as given, 0 = never (what snapshots and peers see). */
  readonly ttlSeconds: number[];
  readonly ttiSeconds: number[];
  /** The same in milliseconds, Infinity = never (what expiry compares against). */
  readonly ttlMillis: number[];
  readonly ttiMillis: number[];
  readonly #counted = new Counted();
  readonly #ids = new Map<number, Map<number, number>>();

  constructor(defaults: Lifespan) {
    this.ttlSeconds = [defaults.timeToLiveSeconds];
    this.ttiSeconds = [defaults.timeToIdleSeconds];
    this.ttlMillis = [millis(defaults.timeToLiveSeconds)];
    this.ttiMillis = [millis(defaults.timeToIdleSeconds)];
  }

  /** Lifespans held by some entry now, the cache's own not counted. */
  get size(): number {
    return this.#counted.size;
  }

  /** The number of (ttl, tti), counted once more; release it when the entry lets go. */
  acquire(timeToLiveSeconds: number, timeToIdleSeconds: number): number {
    if (timeToLiveSeconds === this.ttlSeconds[0] && timeToIdleSeconds === this.ttiSeconds[0]) return 0;
    let byIdle = this.#ids.get(timeToLiveSeconds);
    if (byIdle === undefined) {
      byIdle = new Map();
      this.#ids.set(timeToLiveSeconds, byIdle);
    }
    let id = byIdle.get(timeToIdleSeconds);
    if (id === undefined) {
      id = this.#counted.take();
      this.ttlSeconds[id] = timeToLiveSeconds;
      this.ttiSeconds[id] = timeToIdleSeconds;
      this.ttlMillis[id] = millis(timeToLiveSeconds);
      this.ttiMillis[id] = millis(timeToIdleSeconds);
      byIdle.set(timeToIdleSeconds, id);
    }
    this.#counted.hold(id);
    return id;
  }

  release(id: number): void {
    if (id === 0 || !this.#counted.drop(id)) return;
    const ttl = this.ttlSeconds[id] as number;
    const byIdle = this.#ids.get(ttl);
    byIdle?.delete(this.ttiSeconds[id] as number);
    if (byIdle?.size === 0) this.#ids.delete(ttl);
  }

  /** Forgets every lifespan but the cache's own (the store was cleared). */
  clear(): void {
    this.#ids.clear();
    this.#counted.clear();
    for (const list of [this.ttlSeconds, this.ttiSeconds, this.ttlMillis, this.ttiMillis]) list.length = 1;
  }
}

function millis(seconds: number): number {
  return seconds > 0 ? seconds * 1000 : Number.POSITIVE_INFINITY;
}

/** Strings by number, from 1; 0 stands for none. */
export class Names {
  readonly names: string[] = [''];
  readonly #counted = new Counted();
  readonly #ids = new Map<string, number>();

  get size(): number {
    return this.#ids.size;
  }

  acquire(name: string): number {
    let id = this.#ids.get(name);
    if (id === undefined) {
      id = this.#counted.take();
      this.names[id] = name;
      this.#ids.set(name, id);
    }
    this.#counted.hold(id);
    return id;
  }

  release(id: number): void {
    if (id === 0 || !this.#counted.drop(id)) return;
    this.#ids.delete(this.names[id] as string);
    this.names[id] = '';
  }

  clear(): void {
    this.#ids.clear();
    this.#counted.clear();
    this.names.length = 1;
  }
}
