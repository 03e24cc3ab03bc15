/**
 * The cluster simulator on a fixed set of seeds (CI): whole clusters of ClusterNodes on virtual
 * time, under every fault of the plan, healed, then held to the invariants of
 * simulation/simulation.ts. A failure prints its shrunk reproduction: the seed and the steps.
 * More seeds: `npm run simulate -- --seeds 2000` (docs/replication.md, "The simulator").
 * MESHCACHE_SIM_CHAOS_SEEDS, _CALM_SEEDS, _OVERLOAD_SEEDS, _BOUNDED_SEEDS, _ROUNDS_OFF_SEEDS change
 * the counts.
 */
import { describe, expect, it } from 'vitest';
import { type Mode, runSeeds } from './simulation/run-seeds.js';
import type { Plan } from './simulation/schedule.js';
import { describe as replay, type SimulateOptions, simulate } from './simulation/simulation.js';

const SEEDS: Record<Mode, number> = {
  chaos: Number(process.env['MESHCACHE_SIM_CHAOS_SEEDS'] ?? 150),
  calm: Number(process.env['MESHCACHE_SIM_CALM_SEEDS'] ?? 75),
  overload: Number(process.env['MESHCACHE_SIM_OVERLOAD_SEEDS'] ?? 75),
  bounded: Number(process.env['MESHCACHE_SIM_BOUNDED_SEEDS'] ?? 50),
  'rounds-off': Number(process.env['MESHCACHE_SIM_ROUNDS_OFF_SEEDS'] ?? 50),
};

/** Seed 69's plan: gw-2 writes while cut off from gw-3, then crashes. */
const MISSED_THEN_CRASHED: Plan = {
  seed: 69,
  nodes: ['gw-1', 'gw-2', 'gw-3', 'gw-4', 'gw-5'],
  skews: { 'gw-1': 382, 'gw-2': -900, 'gw-3': -1826, 'gw-4': 369, 'gw-5': -238 },
  chaosMillis: 12_000,
  steps: [
    { at: 1100, kind: 'partition', a: 'gw-3', b: 'gw-2', oneWay: false },
    { at: 11_544, kind: 'put', node: 'gw-2', cache: 'kv', key: 'k4', value: 998_019 },
    { at: 11_806, kind: 'crash', node: 'gw-2' },
  ],
};

/**
 * Failures the simulator found, shrunk, kept as they were found: each must pass now. A plan found
 * in bounded mode runs with { bounded: true } as a third element, one found in rounds-off mode
 * with { roundsOff: true }.
 */
const FOUND: ReadonlyArray<[string, Plan, SimulateOptions?]> = [
  [
    'a change that missed a node (its writer was cut off from it, then crashed) still reaches it: anti-entropy',
    MISSED_THEN_CRASHED,
  ],
  [
    'the same change reaches it without anti-entropy too: the digests its peers send when the writer leaves',
    MISSED_THEN_CRASHED,
    { roundsOff: true },
  ],
  [
    'a fractional clock reading never makes a version the wire refuses (the cluster stays in step)',
    {
      seed: 19,
      nodes: ['gw-1', 'gw-2', 'gw-3', 'gw-4', 'gw-5'],
      skews: { 'gw-1': -1093, 'gw-2': -1486, 'gw-3': 1581, 'gw-4': -899, 'gw-5': -280 },
      chaosMillis: 12_000,
      steps: [
        { at: 0, kind: 'lag', node: 'gw-4', millis: 242 },
        { at: 5247, kind: 'cut', a: 'gw-4', b: 'gw-5' },
        { at: 5537, kind: 'load', nodes: ['gw-1', 'gw-4', 'gw-5'], offsets: [6, 2, 1], key: 'load-3' },
      ],
    },
  ],
];

describe('failures the simulator found', () => {
  it.each(FOUND)('%s', async (_name, plan, options) => {
    const outcome = await simulate(plan, options);
    expect(outcome.failures, replay(outcome)).toEqual([]);
  });
});

describe('the cluster simulator', () => {
  it.each(Object.entries(SEEDS) as Array<[Mode, number]>)(
    'holds every invariant in %s mode over %i seeds',
    async (mode, seeds) => {
      const report = await runSeeds(mode, 1, seeds);
      if (report.reproduction !== undefined) console.log(report.reproduction);
      // Each failing seed reruns alone: npm run simulate -- --mode <mode> --from <seed> --seeds 1
      expect(report.failed.map((outcome) => `${mode} seed ${outcome.plan.seed}: ${outcome.failures[0]}`)).toEqual([]);
      expect(report.steps).toBeGreaterThan(seeds * 50); // the runs did something
      if (mode !== 'calm') expect(report.faults).toBeGreaterThan(seeds * 2);
      // Full bounded caches asked their peers to skip rounds: the runs crossed that path.
      if (mode === 'bounded') expect(report.roundsSkipped).toBeGreaterThan(seeds * 5);
    },
    240_000,
  );
});
