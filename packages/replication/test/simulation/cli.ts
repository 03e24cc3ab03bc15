/**
 * `npm run simulate -- [--seeds N] [--from S] [--mode chaos|calm|overload|bounded|rounds-off|all] [--chaos-millis MS]`
 *
 * Runs the cluster simulator over N seeds per mode (default 500, all five modes), prints one
 * line per mode with its figures, and for the first failure of a mode its reproduction, shrunk:
 * the seed, the nodes and the steps. Exits 1 if any seed failed.
 */
import { type Mode, runSeeds } from './run-seeds.js';

const args = process.argv.slice(2).filter((arg) => arg !== '--');
const option = (name: string, fallback: string): string => {
  const at = args.indexOf(name);
  return at === -1 ? fallback : (args[at + 1] ?? fallback);
};
const seeds = Number(option('--seeds', '500'));
const from = Number(option('--from', '1'));
const chosen = option('--mode', 'all');
const chaosMillis = args.includes('--chaos-millis') ? Number(option('--chaos-millis', '12000')) : undefined;
const MODES: Mode[] = ['chaos', 'calm', 'overload', 'bounded', 'rounds-off'];
const modes: Mode[] = chosen === 'all' ? MODES : [chosen as Mode];
if (!Number.isInteger(seeds) || seeds < 1 || !Number.isInteger(from)) {
  console.error('simulate: --seeds and --from take whole numbers');
  process.exit(2);
}
if (modes.some((mode) => !MODES.includes(mode))) {
  console.error(`simulate: --mode is ${MODES.join(', ')} or all`);
  process.exit(2);
}

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
