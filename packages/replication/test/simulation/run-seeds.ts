/**
 * Runs the simulator over a range of seeds, in five modes (chaos: faults of every kind; calm: no
 * faults, where single flight must load once; overload: every node's timers late; bounded: chaos,
 * with a small bounded cache beside the others, held to its own invariants; rounds-off: chaos,
 * with anti-entropy off in every cache),
 * shrinks the first failure of each mode to a short reproduction, and reports figures.
 * Used by simulation.test.ts (CI's fixed seeds) and by cli.ts (`npm run simulate`).
 */
import { plan, shrink } from './schedule.js';
import { describe, type Outcome, simulate } from './simulation.js';

export type Mode = 'chaos' | 'calm' | 'overload' | 'bounded' | 'rounds-off';

export interface SeedsReport {
  readonly mode: Mode;
  readonly seeds: number;
  readonly failed: readonly Outcome[];
  /** The first failure, shrunk, as lines a person can replay. */
  readonly reproduction: string | undefined;
  readonly steps: number;
  readonly faults: number;
  readonly roundsSkipped: number;
  readonly convergedMillis: { readonly median: number; readonly max: number };
}

export async function runSeeds(
  mode: Mode,
  from: number,
  count: number,
  options: { shrink?: boolean; chaosMillis?: number } = {},
): Promise<SeedsReport> {
  const failed: Outcome[] = [];
  const converged: number[] = [];
  let steps = 0;
  let faults = 0;
  let roundsSkipped = 0;
  const planOf = (seed: number) =>
    plan(seed, {
      calm: mode === 'calm',
      overload: mode === 'overload',
      ...(options.chaosMillis === undefined ? {} : { chaosMillis: options.chaosMillis }),
    });
  const simulateOptions = { bounded: mode === 'bounded', roundsOff: mode === 'rounds-off' };
  for (let seed = from; seed < from + count; seed++) {
    const outcome = await simulate(planOf(seed), simulateOptions);
    steps += outcome.figures.steps;
    faults += outcome.figures.faults;
    roundsSkipped += outcome.figures.roundsSkipped;
    if (outcome.figures.convergedMillis !== null) converged.push(outcome.figures.convergedMillis);
    if (outcome.failures.length > 0) failed.push(outcome);
  }
  let reproduction: string | undefined;
  const first = failed[0];
  if (first !== undefined) {
    const small =
      options.shrink === false
        ? first.plan
        : await shrink(
            first.plan,
            async (candidate) => (await simulate(candidate, simulateOptions)).failures.length > 0,
          );
    reproduction = [
      `${mode} mode, seed ${first.plan.seed}${report(failed)}; rerun it whole: npm run simulate -- --mode ${mode} --from ${first.plan.seed} --seeds 1${options.chaosMillis === undefined ? '' : ` --chaos-millis ${options.chaosMillis}`}`,
      `shrunk to the plan below; to keep it as a test, add it to FOUND in simulation.test.ts${mode === 'bounded' ? ' with { bounded: true }' : mode === 'rounds-off' ? ' with { roundsOff: true }' : ''}:`,
      describe(await simulate(small, simulateOptions)),
    ].join('\n');
  }
  converged.sort((a, b) => a - b);
  return {
    mode,
    seeds: count,
    failed,
    reproduction,
    steps,
    faults,
    roundsSkipped,
    convergedMillis: { median: converged[Math.floor(converged.length / 2)] ?? 0, max: converged.at(-1) ?? 0 },
  };
}

/** The other failing seeds, after the first: each reruns the same way. */
function report(failed: readonly Outcome[]): string {
  const others = failed.slice(1).map((outcome) => outcome.plan.seed);
  return others.length === 0 ? '' : ` (seeds ${others.join(', ')} failed too)`;
}
