/**
 * The benchmarks' knobs (bench/src/knobs.ts) name a bad value instead of running with it:
 * BENCH_KEYS=abc ran the memory bench with NaN keys until a cache's configuration check threw,
 * and BENCH_ONLY=lru_cache (no subject starts so) printed empty tables and exited 0.
 */
import { describe, expect, it } from 'vitest';
import { KnobError, readOnlyPart, readOnlyPrefixes, readWhole, readWholeList } from '../bench/src/knobs.js';
import { runTsxScript, type ScriptResult } from './tsx-script.js';

describe('bench knobs', () => {
  it('reads a whole number, with its fallback when unset', () => {
    expect(readWhole({}, 'BENCH_KEYS', 100_000)).toBe(100_000);
    expect(readWhole({ BENCH_KEYS: '1_000' }, 'BENCH_KEYS', 100_000)).toBe(1000);
    expect(readWhole({ BENCH_WARM_UP: '0' }, 'BENCH_WARM_UP', 50_000, 0)).toBe(0);
  });

  it('names a value that is no whole number, or below the least', () => {
    expect(() => readWhole({ BENCH_KEYS: '10k' }, 'BENCH_KEYS', 1)).toThrow(
      new KnobError('BENCH_KEYS: "10k" is not a whole number >= 1'),
    );
    expect(() => readWhole({ BENCH_ROUNDS: '0' }, 'BENCH_ROUNDS', 7)).toThrow(
      'BENCH_ROUNDS: "0" is not a whole number >= 1',
    );
    expect(() => readWholeList({ BENCH_SCALE_NODES: '4,x' }, 'BENCH_SCALE_NODES', [4])).toThrow(
      'BENCH_SCALE_NODES: "x" is not a whole number >= 1 (got "4,x")',
    );
    expect(readWholeList({ BENCH_SCALE_NODES: '4, 8' }, 'BENCH_SCALE_NODES', [4])).toEqual([4, 8]);
  });

  it('names a BENCH_ONLY that selects nothing', () => {
    const names = ['meshcache (LRU, TTL+TTI)', 'lru-cache (max)'];
    expect(readOnlyPrefixes({}, 'BENCH_ONLY', names)).toBeUndefined();
    expect(readOnlyPrefixes({ BENCH_ONLY: 'meshcache,lru-cache' }, 'BENCH_ONLY', names)).toEqual([
      'meshcache',
      'lru-cache',
    ]);
    expect(() => readOnlyPrefixes({ BENCH_ONLY: 'meshcache,lru_cache' }, 'BENCH_ONLY', names)).toThrow(
      'BENCH_ONLY: "lru_cache" starts no subject\'s name; the subjects are "meshcache (LRU, TTL+TTI)", "lru-cache (max)"',
    );
    expect(readOnlyPart({ BENCH_ONLY: 'lag' }, 'BENCH_ONLY', ['throughput', 'lag'])).toBe('lag');
    expect(() => readOnlyPart({ BENCH_ONLY: 'thruput' }, 'BENCH_ONLY', ['throughput', 'lag'])).toThrow(
      'BENCH_ONLY: "thruput" is not one of throughput, lag',
    );
  });
});

/** The memory bench from its source, killed with its process group after 30 s. */
function memoryBench(env: Record<string, string>): Promise<ScriptResult> {
  return runTsxScript('bench/src/memory.ts', [], { env: { BENCH_ROUNDS: '1', ...env }, killAfterMillis: 30_000 });
}

describe('the memory bench', { timeout: 40_000 }, () => {
  it('exits 2 on a BENCH_KEYS that is no number, naming it, before it measures', async () => {
    const { status, stdout, stderr } = await memoryBench({ BENCH_KEYS: 'abc' });
    expect(stderr.trim()).toBe('BENCH_KEYS: "abc" is not a whole number >= 1');
    expect(stdout).toBe('');
    expect(status).toBe(2);
  });

  it('exits 2 on a BENCH_ONLY that names no contender', async () => {
    const { status, stdout, stderr } = await memoryBench({ BENCH_ONLY: 'nosuch' });
    expect(stderr).toContain(
      'BENCH_ONLY: "nosuch" starts no subject\'s name; the subjects are "meshcache (LRU, TTL+TTI)"',
    );
    expect(stdout).toBe('');
    expect(status).toBe(2);
  });
});
