/**
 * `npm run simulate -- [--seeds N] [--from S] [--mode chaos|calm|overload|bounded|rounds-off|all] [--chaos-millis MS]`
 *
 * Runs the cluster simulator over N seeds per mode (default 500, all five modes), prints one
 * line per mode with its figures, and for the first failure of a mode its reproduction, shrunk:
 * the seed, the nodes and the steps. Exits 1 if any seed failed.
 */
import { parseArgs } from 'node:util';
import { type Mode, runSeeds } from './run-seeds.js';

const MODES: Mode[] = ['chaos', 'calm', 'overload', 'bounded', 'rounds-off'];

/** Says what was wrong with the command line, naming the option, and exits 2 (bad usage). */
function usage(problem: string): never {
  console.error(`simulate: ${problem}`);
  console.error(
    'usage: npm run simulate -- [--seeds N] [--from S] [--mode chaos|calm|overload|bounded|rounds-off|all] [--chaos-millis MS]',
  );
  process.exit(2);
}

// Strict: an option misspelt (`--seed 5`) or given another way was ignored, and the run went on
// with the defaults, 500 seeds in each of five modes, for the best part of an hour.
let values: Record<string, string | undefined>;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      seeds: { type: 'string' },
      from: { type: 'string' },
      mode: { type: 'string' },
      'chaos-millis': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  usage((error as Error).message);
}

/** A whole number from `min` up, or a usage error naming `--name` and what it got. */
function whole(name: string, fallback: number, min: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = /^-?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min) {
    usage(`--${name} takes a whole number of at least ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

const seeds = whole('seeds', 500, 1);
const from = whole('from', 1, 0);
// A workload phase that is not a number left the plan's loop and the run's virtual time at NaN:
// the run never ended.
const chaosMillis = values['chaos-millis'] === undefined ? undefined : whole('chaos-millis', 12_000, 0);
const chosen = values['mode'] ?? 'all';
if (chosen !== 'all' && !MODES.includes(chosen as Mode)) {
  usage(`--mode is ${MODES.join(', ')} or all, got ${JSON.stringify(chosen)}`);
}
const modes: Mode[] = chosen === 'all' ? MODES : [chosen as Mode];

let failed = 0;
for (const mode of modes) {
  const started = performance.now();
  const report = await runSeeds(mode, from, seeds, chaosMillis === undefined ? {} : { chaosMillis });
  const seconds = (performance.now() - started) / 1000;
  failed += report.failed.length;
  console.log(
    `${mode}: seeds ${from}-${from + seeds - 1}: ${seeds - report.failed.length} passed, ${report.failed.length} failed; ` +
      `${report.steps} steps, ${report.faults} faults${mode === 'bounded' ? `, ${report.roundsSkipped} rounds skipped` : ''}; converged after healing in ${report.convergedMillis.median} ms ` +
      `(median), ${report.convergedMillis.max} ms (max) of virtual time; ${seconds.toFixed(0)} s`,
  );
  if (report.reproduction !== undefined) console.log(report.reproduction);
}
process.exit(failed === 0 ? 0 : 1);
