/**
 * Traces for the hit-ratio simulator: the real ones (cache2k's, CC BY 4.0, see
 * bench/traces/README.md) and synthetic ones generated here from a seeded generator, so every run
 * replays exactly the same accesses.
 *
 * A trace is a sequence of dense key ids (0..distinct-1) plus the string key of each id: the
 * simulator's OPT indexes arrays by id, and the Cache is given the strings, built once, so that
 * a replay measures the cache and not string building.
 */
import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface Trace {
  readonly name: string;
  readonly description: string;
  /** Real traces count towards the "gap closed" target; synthetic ones do not. */
  readonly real: boolean;
  readonly ids: Int32Array;
  readonly keys: readonly string[];
}

/** Gives each distinct raw key a dense id, in order of first appearance. */
function densify(raw: ArrayLike<number>, keyOf: (rawKey: number) => string): { ids: Int32Array; keys: string[] } {
  const idOf = new Map<number, number>();
  const keys: string[] = [];
  const ids = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const rawKey = raw[i] as number;
    let id = idOf.get(rawKey);
    if (id === undefined) {
      id = keys.length;
      idOf.set(rawKey, id);
      keys.push(keyOf(rawKey));
    }
    ids[i] = id;
  }
  return { ids, keys };
}

/** A cache2k trace file: gzip of big-endian signed 32-bit keys, one per access. */
export function readCache2kTrace(path: string, name: string, description: string): Trace {
  const bytes = gunzipSync(readFileSync(path));
  const raw = new Int32Array(bytes.length / 4);
  for (let i = 0; i < raw.length; i++) raw[i] = bytes.readInt32BE(4 * i);
  return { name, description, real: true, ...densify(raw, String) };
}

export interface RealTraceSource {
  readonly name: string;
  readonly file: string;
  readonly description: string;
  /** Where the file is looked for, in order. */
  readonly dirs: readonly string[];
}

/** The path of a real trace, or undefined when none of its directories has it. */
export function findTrace(source: RealTraceSource): string | undefined {
  for (const dir of source.dirs) {
    const path = `${dir}/${source.file}`;
    if (existsSync(path)) return path;
  }
  return undefined;
}

// ---------------------------------------------------------------- synthetic traces

/** splitmix32: small, fast, and good enough to draw a trace from; seeded, so reproducible. */
function generator(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 2 ** 32;
  };
}

/** Draws ranks 0..n-1 with probability proportional to 1 / (rank + 1)^skew, by inverting the CDF. */
function zipfSampler(n: number, skew: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1) ** skew;
    cdf[i] = sum;
  }
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * Popular keys are not small numbers in real life: ranks are scattered over the key space by a
 * fixed permutation, so a key's name says nothing about its popularity.
 */
function scatter(n: number, random: () => number): Int32Array {
  const keyOfRank = new Int32Array(n);
  for (let i = 0; i < n; i++) keyOfRank[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = keyOfRank[i] as number;
    keyOfRank[i] = keyOfRank[j] as number;
    keyOfRank[j] = t;
  }
  return keyOfRank;
}

export const SYNTHETIC_KEYS = 100_000;

/** `length` accesses to SYNTHETIC_KEYS keys, Zipf-distributed with the given skew. */
export function zipfTrace(skew: number, length: number, seed: number): Trace {
  const random = generator(seed);
  const draw = zipfSampler(SYNTHETIC_KEYS, skew, random);
  const keyOfRank = scatter(SYNTHETIC_KEYS, random);
  const raw = new Int32Array(length);
  for (let i = 0; i < length; i++) raw[i] = keyOfRank[draw()] as number;
  return {
    name: `zipf-${skew.toFixed(1)}`,
    description: `${length.toLocaleString('en-US')} accesses, Zipf (skew ${skew}) over ${SYNTHETIC_KEYS.toLocaleString('en-US')} keys`,
    real: false,
    ...densify(raw, (k) => `z${k}`),
  };
}

/**
 * A Zipf workload interrupted by scans: every `every` accesses, one pass over `scanLength` keys
 * that the Zipf part never asks for (the same range each time, as a report or a batch job reading
 * a whole table). LRU loses its popular keys to every scan; a frequency-aware policy should not.
 */
export function zipfWithScansTrace(
  skew: number,
  length: number,
  every: number,
  scanLength: number,
  seed: number,
): Trace {
  const random = generator(seed);
  const draw = zipfSampler(SYNTHETIC_KEYS, skew, random);
  const keyOfRank = scatter(SYNTHETIC_KEYS, random);
  const raw = new Int32Array(length);
  let i = 0;
  while (i < length) {
    for (let j = 0; j < every && i < length; j++) raw[i++] = keyOfRank[draw()] as number;
    for (let j = 0; j < scanLength && i < length; j++) raw[i++] = SYNTHETIC_KEYS + j;
  }
  return {
    name: `zipf-${skew.toFixed(1)}+scans`,
    description: `${length.toLocaleString('en-US')} accesses: Zipf (skew ${skew}) over ${SYNTHETIC_KEYS.toLocaleString('en-US')} keys, and after every ${every.toLocaleString('en-US')} a scan of the same ${scanLength.toLocaleString('en-US')} other keys`,
    real: false,
    ...densify(raw, (k) => `z${k}`),
  };
}

/**
 * Recency without frequency: every key is read `reads` times, each read `distance` new keys after
 * the previous one, and then never again (a user's session objects, read a few times over a few
 * minutes among everybody else's). Holding the last distance x reads keys gets every read but
 * the first; how often a key was read says nothing about whether it comes back.
 */
export function reuseTrace(distance: number, reads: number, length: number): Trace {
  const raw = new Int32Array(length);
  for (let i = 0; i < length; i++) raw[i] = Math.floor(i / reads) - (i % reads) * distance;
  return {
    name: `reuse-${distance}x${reads}`,
    description: `${length.toLocaleString('en-US')} accesses: each key read ${reads} times, ${distance.toLocaleString('en-US')} new keys apart, then never again`,
    real: false,
    ...densify(raw, (k) => `r${k}`),
  };
}

/** keys 0..loopLength-1, over and over: LRU's worst case once the loop is larger than the cache. */
export function loopTrace(loopLength: number, length: number): Trace {
  const raw = new Int32Array(length);
  for (let i = 0; i < length; i++) raw[i] = i % loopLength;
  return {
    name: `loop-${loopLength / 1000}k`,
    description: `${length.toLocaleString('en-US')} accesses: a loop over ${loopLength.toLocaleString('en-US')} keys, larger than every cache size`,
    real: false,
    ...densify(raw, (k) => `l${k}`),
  };
}
