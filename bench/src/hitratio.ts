/**
 * Hit ratios of every eviction policy on real and synthetic traces, next to Belady's OPT.
 *
 * Each trace is replayed through the real Cache API, as an application uses a cache: `get`, and
 * `put` on a miss. Every policy (LRU, LFU, FIFO, TINYLFU) at every size gets a fresh cache; the
 * hit ratio is hits / accesses, cold misses included. OPT is computed here (hitratio/optimal.ts),
 * with the same rule that every missed key is admitted, and so is ARC (hitratio/arc.ts), a
 * reference column: what a strong adaptive policy that meshcache does not ship achieves. The LRU and OPT columns of web07 and web12
 * are checked against the reference figures published with the traces (bench/traces/README.md),
 * which validates both the replay and the OPT code.
 *
 * Traces: web07 and web12 from bench/traces/ (cache2k, CC BY 4.0: copyright headissue GmbH, Jens
 * Wilke); orm-busy and orm-night from ../shared/traces/ beside the repository when present
 * (HITRATIO_TRACE_DIR overrides), skipped with a line saying so when not; synthetic traces
 * generated in hitratio/traces.ts from fixed seeds.
 *
 * Knobs: HITRATIO_TRACES=web07,zipf (names starting with those), HITRATIO_SIZES=1000,4000,
 * HITRATIO_POLICIES=LRU,TINYLFU, HITRATIO_TRACE_DIR=/path/to/traces.
 *
 * Run: npx --yes pnpm@10.34.8 run bench:hitratio   (from the repository root; builds first)
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CacheManager, EVICTION_POLICY_NAMES, type EvictionPolicyName } from '@meshcache/core';
import { table } from './harness.js';
import { arcHits } from './hitratio/arc.js';
import { nextUses, optimalHits } from './hitratio/optimal.js';
import {
  findTrace,
  loopTrace,
  type RealTraceSource,
  readCache2kTrace,
  reuseTrace,
  type Trace,
  zipfTrace,
  zipfWithScansTrace,
} from './hitratio/traces.js';

const here = dirname(fileURLToPath(import.meta.url));
const repository = resolve(here, '../..');
const inRepository = resolve(repository, 'bench/traces');
const beside = process.env['HITRATIO_TRACE_DIR'] ?? resolve(repository, '../shared/traces');

const REAL: readonly RealTraceSource[] = [
  {
    name: 'web07',
    file: 'web07.trace.gz',
    description: 'HTTP requests for a product page, July 2013',
    dirs: [inRepository, beside],
  },
  {
    name: 'web12',
    file: 'web12.trace.gz',
    description: 'HTTP requests for a product page, December 2013',
    dirs: [inRepository, beside],
  },
  {
    name: 'orm-busy',
    file: 'orm-busy.trace.gz',
    description: 'database objects of the same application, busy daytime',
    dirs: [beside],
  },
  {
    name: 'orm-night',
    file: 'orm-night.trace.gz',
    description: 'database objects of the same application, at night',
    dirs: [beside],
  },
];

/** Published with the traces; the simulator must reproduce them. */
const REFERENCE: ReadonlyArray<{ trace: string; size: number; lru: number; opt: number }> = [
  { trace: 'web07', size: 1000, lru: 50.41, opt: 63.58 },
  { trace: 'web07', size: 4000, lru: 60.82, opt: 71.59 },
  { trace: 'web12', size: 1000, lru: 64.73, opt: 77.75 },
  { trace: 'web12', size: 4000, lru: 78.97, opt: 85.29 },
];

const SYNTHETIC: ReadonlyArray<() => Trace> = [
  () => zipfTrace(0.7, 500_000, 1),
  () => zipfTrace(0.8, 500_000, 2),
  () => zipfTrace(0.9, 500_000, 3),
  () => zipfTrace(1.0, 500_000, 4),
  () => zipfWithScansTrace(0.9, 1_000_000, 50_000, 20_000, 5),
  () => loopTrace(20_000, 500_000),
  () => reuseTrace(500, 4, 1_000_000),
];

/** A knob's value, or exit with a line that names the knob and what it accepts. */
function knob<T>(name: string, fallback: string, parse: (item: string) => T | undefined, accepts: string): T[] {
  const raw = process.env[name] ?? fallback;
  return raw.split(',').map((item) => {
    const value = parse(item.trim());
    if (value === undefined) {
      console.error(`${name}: "${item}" is not ${accepts} (got ${JSON.stringify(raw)})`);
      process.exit(2);
    }
    return value;
  });
}

const sizes = knob(
  'HITRATIO_SIZES',
  '1000,4000,16000',
  (item) => (/^\d+$/.test(item) && Number(item) >= 1 ? Number(item) : undefined),
  'a whole number of entries >= 1',
);
const policies = knob(
  'HITRATIO_POLICIES',
  EVICTION_POLICY_NAMES.join(','),
  (item) => EVICTION_POLICY_NAMES.find((name) => name === item.toUpperCase()),
  `one of ${EVICTION_POLICY_NAMES.join(', ')}`,
);
const onlyTraces = process.env['HITRATIO_TRACES']?.split(',');
const wanted = (name: string): boolean => onlyTraces === undefined || onlyTraces.some((p) => name.startsWith(p));

/** Replays the trace through a fresh Cache: get, and put on a miss. Returns the hits. */
async function replay(trace: Trace, policy: EvictionPolicyName, size: number): Promise<number> {
  const manager = new CacheManager();
  const cache = manager.addCache<number>('simulated', {
    maxElementsInMemory: size,
    memoryStoreEvictionPolicy: policy,
    eternal: true,
  });
  const { ids, keys } = trace;
  let hits = 0;
  for (let i = 0; i < ids.length; i++) {
    const key = keys[ids[i] as number] as string;
    if (cache.get(key) === undefined) cache.put(key, 1);
    else hits++;
  }
  await manager.shutdown();
  return hits;
}

const percent = (hits: number, accesses: number): number => (100 * hits) / accesses;
const fmt = (p: number): string => `${p.toFixed(2)}%`;
const signed = (p: number): string => `${p >= 0 ? '+' : ''}${p.toFixed(2)}`;

interface Row {
  readonly trace: Trace;
  readonly size: number;
  readonly ratios: Map<string, number>;
  readonly arc: number;
  readonly opt: number;
}

function loadTraces(): Trace[] {
  const traces: Trace[] = [];
  for (const source of REAL) {
    if (!wanted(source.name)) continue;
    const path = findTrace(source);
    if (path === undefined) {
      console.log(`skipped ${source.name}: ${source.file} is in none of ${source.dirs.join(', ')}`);
      continue;
    }
    traces.push(readCache2kTrace(path, source.name, source.description));
  }
  for (const make of SYNTHETIC) {
    const trace = make();
    if (wanted(trace.name)) traces.push(trace);
  }
  return traces;
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(`node ${process.version}; sizes ${sizes.join(', ')}; policies ${policies.join(', ')}\n`);
  const traces = loadTraces();
  console.log(
    table(
      ['trace', 'accesses', 'distinct keys', 'what it is'],
      traces.map((t) => [
        t.name,
        t.ids.length.toLocaleString('en-US'),
        t.keys.length.toLocaleString('en-US'),
        t.description,
      ]),
    ),
  );
  console.log('');

  const rows: Row[] = [];
  for (const trace of traces) {
    const next = nextUses(trace.ids, trace.keys.length);
    for (const size of sizes) {
      const traceStart = Date.now();
      const ratios = new Map<string, number>();
      for (const policy of policies) ratios.set(policy, percent(await replay(trace, policy, size), trace.ids.length));
      const arc = percent(arcHits(trace.ids, trace.keys.length, size), trace.ids.length);
      const opt = percent(optimalHits(trace.ids, next, trace.keys.length, size), trace.ids.length);
      rows.push({ trace, size, ratios, arc, opt });
      process.stderr.write(`${trace.name} at ${size}: ${((Date.now() - traceStart) / 1000).toFixed(1)} s\n`);
    }
  }

  const header = ['trace', 'size', ...policies, 'ARC (reference)', "Belady's OPT"];
  const compare = policies.includes('LRU') && policies.includes('TINYLFU');
  if (compare) header.push('TINYLFU - LRU', 'LRU-to-OPT gap closed');
  const gapClosed = (row: Row): number => {
    const lru = row.ratios.get('LRU') as number;
    const tiny = row.ratios.get('TINYLFU') as number;
    return row.opt - lru > 0 ? (tiny - lru) / (row.opt - lru) : Number.NaN;
  };
  console.log(
    table(
      header,
      rows.map((row) => {
        const cells = [
          row.trace.name,
          row.size.toLocaleString('en-US'),
          ...policies.map((p) => fmt(row.ratios.get(p) as number)),
          fmt(row.arc),
          fmt(row.opt),
        ];
        if (compare) {
          const closed = gapClosed(row);
          cells.push(
            signed((row.ratios.get('TINYLFU') as number) - (row.ratios.get('LRU') as number)),
            Number.isNaN(closed) ? '-' : `${(100 * closed).toFixed(0)}%`,
          );
        }
        return cells;
      }),
    ),
  );

  const checks = REFERENCE.flatMap((ref) => {
    const row = rows.find((r) => r.trace.name === ref.trace && r.size === ref.size);
    const lru = row?.ratios.get('LRU');
    if (row === undefined || lru === undefined) return [];
    const ok = Math.abs(lru - ref.lru) < 0.005 && Math.abs(row.opt - ref.opt) < 0.005;
    return [
      [
        ref.trace,
        ref.size.toLocaleString('en-US'),
        fmt(lru),
        fmt(ref.lru),
        fmt(row.opt),
        fmt(ref.opt),
        ok ? 'yes' : 'NO',
      ],
    ];
  });
  if (checks.length > 0) {
    console.log('\nThe simulator against the figures published with the traces:\n');
    console.log(table(['trace', 'size', 'LRU here', 'LRU published', 'OPT here', 'OPT published', 'agree'], checks));
  }

  if (compare) {
    const worst = rows.reduce(
      (w, r) => {
        const d = (r.ratios.get('TINYLFU') as number) - (r.ratios.get('LRU') as number);
        return d < w.d ? { d, row: r } : w;
      },
      { d: Number.POSITIVE_INFINITY, row: rows[0] as Row },
    );
    const target = rows.filter((r) => r.trace.real && (r.size === 1000 || r.size === 4000));
    const closures = target.map(gapClosed).filter((c) => !Number.isNaN(c));
    const arcClosures = target.map((r) => {
      const lru = r.ratios.get('LRU') as number;
      return (r.arc - lru) / (r.opt - lru);
    });
    const arcMean = arcClosures.reduce((a, b) => a + b, 0) / arcClosures.length;
    const meanClosure = closures.reduce((a, b) => a + b, 0) / closures.length;
    const gain = target.reduce((a, r) => a + (r.ratios.get('TINYLFU') as number) - (r.ratios.get('LRU') as number), 0);
    const gap = target.reduce((a, r) => a + r.opt - (r.ratios.get('LRU') as number), 0);
    const realNames = [...new Set(target.map((r) => r.trace.name))];
    const targetSizes = [...new Set(target.map((r) => r.size.toLocaleString('en-US')))].join(' and ');
    console.log('\nTargets:\n');
    console.log(
      table(
        ['target', 'measured', 'met'],
        [
          [
            'TINYLFU never more than 0.5 points below LRU (any trace, any size)',
            `worst ${signed(worst.d)} (${worst.row.trace.name} at ${worst.row.size.toLocaleString('en-US')})`,
            worst.d >= -0.5 ? 'yes' : 'no',
          ],
          // Only where the run has cases for it: a run of other sizes printed "mean over  at" and NaN.
          ...(closures.length === 0
            ? []
            : [
                [
                  `TINYLFU closes >= 60% of the LRU-to-OPT gap, mean over ${realNames.join(', ')} at ${targetSizes}`,
                  `${(100 * meanClosure).toFixed(1)}% (mean of ${closures.length} cases; total gain / total gap: ${((100 * gain) / gap).toFixed(1)}%)`,
                  realNames.length === 4 && meanClosure >= 0.6
                    ? 'yes'
                    : realNames.length === 4
                      ? 'no'
                      : 'n/a (not all four real traces)',
                ],
                [
                  'for reference: ARC on the same cases',
                  `${(100 * arcMean).toFixed(1)}% (mean of ${arcClosures.length} cases)`,
                  '',
                ],
              ]),
        ],
      ),
    );
  }
  console.log(`\n${((Date.now() - started) / 1000).toFixed(0)} s in all`);
}

await main();
