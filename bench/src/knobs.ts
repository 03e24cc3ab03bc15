/**
 * The benchmarks' knobs (BENCH_* environment variables), read so that a mistake is named: a value
 * that is not a number (BENCH_KEYS=10k), below the least that makes sense (BENCH_ROUNDS=0), or a
 * BENCH_ONLY that names nothing the bench runs. Read loosely, BENCH_KEYS=abc ran with NaN keys
 * until a cache's configuration check threw, and BENCH_ONLY=lru_cache printed empty tables and
 * exited 0. Each bench exits 2 with one line naming the knob and what it accepts.
 */

/** A knob's bad value: the message names the knob, what it got, and what it accepts. */
export class KnobError extends Error {}

type Env = Readonly<Record<string, string | undefined>>;

/** `text` as a whole number (underscores allowed: 1_000_000) of at least `min`, or undefined. */
function wholeAtLeast(text: string, min: number): number | undefined {
  const digits = text.trim().replaceAll('_', '');
  const value = /^\d+$/.test(digits) ? Number(digits) : Number.NaN;
  return Number.isSafeInteger(value) && value >= min ? value : undefined;
}

/** A whole number (underscores allowed: 1_000_000) of at least `min`, or the fallback when unset. */
export function readWhole(env: Env, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = wholeAtLeast(raw, min);
  if (value === undefined) throw new KnobError(`${name}: ${JSON.stringify(raw)} is not a whole number >= ${min}`);
  return value;
}

/** A comma-separated list of whole numbers of at least `min` (BENCH_SCALE_NODES=4,8,16). */
export function readWholeList(env: Env, name: string, fallback: readonly number[], min = 1): number[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  return raw.split(',').map((item) => {
    const value = wholeAtLeast(item, min);
    if (value === undefined) {
      throw new KnobError(
        `${name}: ${JSON.stringify(item)} is not a whole number >= ${min} (got ${JSON.stringify(raw)})`,
      );
    }
    return value;
  });
}

/**
 * BENCH_ONLY as prefixes of subject names (memory, footprint): undefined when unset, else the
 * prefixes, each of which must start at least one of `names`.
 */
export function readOnlyPrefixes(env: Env, name: string, names: readonly string[]): string[] | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const prefixes = raw.split(',').map((item) => item.trim());
  for (const prefix of prefixes) {
    if (prefix === '' || !names.some((subject) => subject.startsWith(prefix))) {
      throw new KnobError(
        `${name}: ${JSON.stringify(prefix)} starts no subject's name; the subjects are ${names.map((n) => JSON.stringify(n)).join(', ')}`,
      );
    }
  }
  return prefixes;
}

/** BENCH_ONLY as one of a fixed set of parts (replication): undefined when unset. */
export function readOnlyPart(env: Env, name: string, parts: readonly string[]): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const part = raw.trim();
  if (!parts.includes(part)) throw new KnobError(`${name}: ${JSON.stringify(raw)} is not one of ${parts.join(', ')}`);
  return part;
}

/** Runs a knob reader on process.env; a bad value ends the process with exit 2 and its line. */
export function knob<T>(read: (env: Env) => T): T {
  try {
    return read(process.env);
  } catch (error) {
    if (!(error instanceof KnobError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
}
