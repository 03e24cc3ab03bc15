/**
 * What happens in one simulated run: a list of steps at virtual times, drawn from a seed. A
 * failing run prints its steps; shrink() cuts them down to a short list that still fails.
 */

export type Step =
  | {
      readonly at: number;
      readonly kind: 'put';
      readonly node: string;
      readonly cache: 'kv' | 'sync';
      readonly key: string;
      readonly value: number;
    }
  | {
      readonly at: number;
      readonly kind: 'remove';
      readonly node: string;
      readonly cache: 'kv' | 'sync';
      readonly key: string;
    }
  | { readonly at: number; readonly kind: 'removeAll'; readonly node: string; readonly cache: 'kv' }
  | {
      readonly at: number;
      readonly kind: 'putTtl';
      readonly node: string;
      readonly key: string;
      readonly ttlSeconds: number;
      readonly idle: boolean;
    }
  | {
      readonly at: number;
      readonly kind: 'load';
      readonly nodes: readonly string[];
      /** When each node's miss comes, after `at` (ms): misses a few ms apart race in every order. */
      readonly offsets: readonly number[];
      readonly key: string;
    }
  | {
      readonly at: number;
      readonly kind: 'partition';
      readonly a: string;
      readonly b: string;
      readonly oneWay: boolean;
    }
  | { readonly at: number; readonly kind: 'cut'; readonly a: string; readonly b: string }
  | { readonly at: number; readonly kind: 'crash'; readonly node: string }
  | { readonly at: number; readonly kind: 'restart'; readonly node: string }
  | { readonly at: number; readonly kind: 'slow'; readonly node: string; readonly millis: number }
  | { readonly at: number; readonly kind: 'lag'; readonly node: string; readonly millis: number }
  | { readonly at: number; readonly kind: 'lossy'; readonly loss: number; readonly duplicate: number }
  | { readonly at: number; readonly kind: 'heal' };

export interface Plan {
  readonly seed: number;
  readonly nodes: readonly string[];
  /** Clock skew of each node (ms), within the drift bound's reach but small enough for TTL checks. */
  readonly skews: Readonly<Record<string, number>>;
  readonly steps: readonly Step[];
  /** When the faults stop and healing begins (ms from the start). */
  readonly chaosMillis: number;
}

/** mulberry32, separate from the run's own generator: the plan does not depend on how the run draws. */
export function generator(seed: number): () => number {
  let state = (seed * 2654435761) >>> 0 || 1;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface PlanOptions {
  /** Milliseconds of workload and faults before healing. @default 12000 */
  readonly chaosMillis?: number;
  /** No faults at all (for the single-flight bound that holds only then). @default false */
  readonly calm?: boolean;
  /** Nodes whose every timer runs late throughout (the overload mode). @default false */
  readonly overload?: boolean;
}

export function plan(seed: number, options: PlanOptions = {}): Plan {
  const random = generator(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const count = 3 + Math.floor(random() * 3); // 3 to 5 nodes
  const nodes = Array.from({ length: count }, (_, i) => `gw-${i + 1}`);
  const skews = Object.fromEntries(nodes.map((node) => [node, Math.round((random() - 0.5) * 4000)]));
  const chaosMillis = options.chaosMillis ?? 12_000;
  const steps: Step[] = [];
  const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
  const crashed = new Set<string>();
  let loads = 0;
  if (options.overload === true) {
    for (const node of nodes) steps.push({ at: 0, kind: 'lag', node, millis: 50 + Math.floor(random() * 400) });
  }
  for (let at = 200; at < chaosMillis; at += 10 + Math.floor(random() * 120)) {
    const live = nodes.filter((node) => !crashed.has(node));
    const node = pick(live.length > 0 ? live : nodes);
    const roll = random();
    if (roll < 0.4)
      steps.push({ at, kind: 'put', node, cache: 'kv', key: pick(keys), value: Math.floor(random() * 1e6) });
    else if (roll < 0.52) steps.push({ at, kind: 'remove', node, cache: 'kv', key: pick(keys) });
    else if (roll < 0.53) steps.push({ at, kind: 'removeAll', node, cache: 'kv' });
    else if (roll < 0.63)
      steps.push({ at, kind: 'put', node, cache: 'sync', key: pick(keys), value: Math.floor(random() * 1e6) });
    else if (roll < 0.66) steps.push({ at, kind: 'remove', node, cache: 'sync', key: pick(keys) });
    else if (roll < 0.74) {
      steps.push({
        at,
        kind: 'putTtl',
        node,
        key: pick(keys),
        ttlSeconds: 1 + Math.floor(random() * 3),
        idle: random() < 0.3,
      });
    } else if (roll < 0.8) {
      const burst = live.filter(() => random() < 0.7);
      const offsets = burst.map(() => Math.floor(random() * 8));
      if (burst.length > 0) steps.push({ at, kind: 'load', nodes: burst, offsets, key: `load-${loads++}` });
    } else if (options.calm !== true && roll < 0.86) {
      const fault = random();
      const [a, b] = [pick(nodes), pick(nodes)];
      if (fault < 0.25 && a !== b) steps.push({ at, kind: 'partition', a, b, oneWay: random() < 0.3 });
      else if (fault < 0.45 && a !== b) steps.push({ at, kind: 'cut', a, b });
      else if (fault < 0.6 && live.length > 1 && !crashed.has(node)) {
        steps.push({ at, kind: 'crash', node });
        crashed.add(node);
      } else if (fault < 0.7 && crashed.size > 0) {
        const back = pick([...crashed]);
        crashed.delete(back);
        steps.push({ at, kind: 'restart', node: back });
      } else if (fault < 0.8) steps.push({ at, kind: 'slow', node, millis: 20 + Math.floor(random() * 300) });
      else if (fault < 0.88) steps.push({ at, kind: 'lossy', loss: random() * 0.02, duplicate: random() * 0.01 });
      else steps.push({ at, kind: 'heal' });
    }
  }
  return { seed, nodes, skews, steps, chaosMillis };
}

/**
 * Cuts a failing plan down: removes chunks of steps, then single steps, keeping each cut that
 * still fails, within `budget` runs. Restarts whose crash was cut go with it.
 */
export async function shrink(failing: Plan, stillFails: (plan: Plan) => Promise<boolean>, budget = 80): Promise<Plan> {
  let best = failing;
  let runs = 0;
  for (let chunk = Math.ceil(best.steps.length / 2); chunk >= 1 && runs < budget; chunk = Math.floor(chunk / 2)) {
    for (let start = 0; start < best.steps.length && runs < budget; ) {
      const steps = [...best.steps.slice(0, start), ...best.steps.slice(start + chunk)];
      const candidate = { ...best, steps: consistent(steps) };
      runs++;
      if (candidate.steps.length < best.steps.length && (await stillFails(candidate))) best = candidate;
      else start += chunk;
    }
  }
  return best;
}

/** Drops restarts of nodes that are not crashed at that point. */
function consistent(steps: readonly Step[]): Step[] {
  const crashed = new Set<string>();
  const kept: Step[] = [];
  for (const step of steps) {
    if (step.kind === 'crash') crashed.add(step.node);
    if (step.kind === 'restart') {
      if (!crashed.has(step.node)) continue;
      crashed.delete(step.node);
    }
    kept.push(step);
  }
  return kept;
}
