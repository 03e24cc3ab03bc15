/**
 * A small, honest benchmark harness. Each case runs a fixed number of operations per round;
 * rounds of all subjects are interleaved (A B C A B C ...) so that a noisy neighbour on this
 * shared machine slows every subject alike, and the median round is reported. A checksum of
 * every result is kept so the JIT cannot drop the work.
 */
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';

export interface Subject {
  readonly name: string;
  /** Runs `ops` operations and returns a checksum. */
  readonly run: (ops: number) => number;
  /** Called before each round, outside the timing (to refill a cache, say). */
  readonly prepare?: () => void;
}

export interface Result {
  readonly subject: string;
  readonly opsPerSec: number;
  readonly nsPerOp: number;
}

let sink = 0;

export function measure(subjects: readonly Subject[], ops: number, rounds: number): Result[] {
  const samples = new Map<string, number[]>(subjects.map((s) => [s.name, []]));
  for (const subject of subjects) {
    subject.prepare?.();
    sink += subject.run(ops); // warm up the JIT
  }
  for (let round = 0; round < rounds; round++) {
    for (const subject of subjects) {
      subject.prepare?.();
      const start = process.hrtime.bigint();
      sink += subject.run(ops);
      const elapsed = Number(process.hrtime.bigint() - start);
      samples.get(subject.name)?.push(elapsed);
    }
  }
  return subjects.map((subject) => {
    const sorted = [...(samples.get(subject.name) ?? [])].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
    return { subject: subject.name, opsPerSec: (ops / median) * 1e9, nsPerOp: median / ops };
  });
}

/** How many garbage collections ran while `fn` ran: 0 means it allocated nothing worth collecting. */
export async function countCollections(fn: () => void): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  await new Promise((resolve) => setTimeout(resolve, 10));
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    count += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  fn();
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return count;
}

export function formatOps(opsPerSec: number): string {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)}M`;
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)}k`;
  return opsPerSec.toFixed(0);
}

/** A Markdown table, so the output can be pasted into bench/README.md as it is. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function keepAlive(): number {
  return sink;
}

interface Sampled {
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly selfSize: number;
  readonly children: readonly Sampled[];
}

/**
 * Bytes allocated while `run` runs, in all and by the function that allocated them: V8's sampling
 * heap profiler, a sample every `samplingInterval` bytes on average. Allocations of a few bytes
 * each need a fine interval: at 256, 16 bytes a put read as 0.
 */
export async function allocated(
  run: () => void,
  samplingInterval = 256,
): Promise<{ total: number; by: Map<string, number> }> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.startSampling', {
    samplingInterval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  run();
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: Sampled } };
  session.disconnect();
  const by = new Map<string, number>();
  let total = 0;
  const walk = (node: Sampled) => {
    total += node.selfSize;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    by.set(where, (by.get(where) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk(profile.head);
  return { total, by };
}

/** `keys` in an order that is the same every run (a seeded Fisher-Yates shuffle): reads that do not follow the writes. */
export function shuffled(keys: readonly string[]): string[] {
  const out = [...keys];
  let seed = 7;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j] as string, out[i] as string];
  }
  return out;
}
