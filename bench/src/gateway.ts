/**
 * The example gateway (examples/src/gateway) as three instances on 127.0.0.1, with a fake auth
 * server that takes AUTH_DELAY ms per token, in three set-ups, in one run:
 *   no cache        a token fetched for every request, every response from the backend
 *   per-instance    token and response caches in each instance, not replicated
 *   meshcache       the same caches replicated, tokens with cluster-wide single flight
 * For each: time to first byte of the first request on each instance (cold; the first instance
 * starts the cluster cold, the next two are new instances of a warm cluster), the median of 300
 * warm requests spread over the instances, and auth calls for 1,000 requests spread over the
 * instances and five tenants, 50 at a time.
 *
 * Run: npx --yes pnpm@10.34.8 run bench:gateway   (BENCH_AUTH_DELAY, default 200 ms)
 */
import { launchGatewayCluster } from '@meshcache/examples/gateway';
import { table } from './harness.js';
import { knob, readWhole } from './knobs.js';

const AUTH_DELAY = knob((env) => readWhole(env, 'BENCH_AUTH_DELAY', 200, 0));
const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];

async function ttfb(url: string, tenant: string): Promise<number> {
  const start = performance.now();
  const response = await fetch(url, { headers: { 'x-tenant': tenant } });
  const elapsed = performance.now() - start;
  await response.arrayBuffer();
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  return elapsed;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

async function measure(mode: 'none' | 'local' | 'meshcache') {
  const cluster = await launchGatewayCluster({ mode, singleFlight: true, authDelayMillis: AUTH_DELAY });
  try {
    const urls = cluster.gateways.map((g) => g.url);
    const cold: number[] = [];
    for (const url of urls) cold.push(await ttfb(`${url}/orders/1`, 'acme'));
    const warm: number[] = [];
    for (let i = 0; i < 300; i++) warm.push(await ttfb(`${urls[i % urls.length]}/orders/${i % 10}`, 'acme'));
    const before = ((await (await fetch(`${cluster.authUrl}/calls`)).json()) as { calls: number }).calls;
    let next = 0;
    const worker = async () => {
      while (next < 1000) {
        const i = next++;
        await ttfb(`${urls[i % urls.length]}/orders/${1000 + (i % 50)}`, TENANTS[i % TENANTS.length] as string);
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    const after = ((await (await fetch(`${cluster.authUrl}/calls`)).json()) as { calls: number }).calls;
    return { cold, warm: median(warm), authCalls: after - before };
  } finally {
    await cluster.stop();
  }
}

const ms = (value: number) => `${value.toFixed(1)} ms`;
const rows: string[][] = [];
for (const [label, mode] of [
  ['no cache', 'none'],
  ['per-instance caches', 'local'],
  ['meshcache (replicated, single flight)', 'meshcache'],
] as const) {
  const result = await measure(mode);
  rows.push([
    label,
    ms(result.cold[0] ?? 0),
    ms(result.cold[1] ?? 0),
    ms(result.cold[2] ?? 0),
    ms(result.warm),
    String(result.authCalls),
  ]);
}
console.log(`node ${process.version}; auth server ${AUTH_DELAY} ms per token; 3 gateway instances on 127.0.0.1\n`);
console.log(
  table(
    [
      'set-up',
      'cold TTFB gw-1',
      'cold TTFB gw-2',
      'cold TTFB gw-3',
      'warm TTFB (median of 300)',
      'auth calls / 1,000 requests (5 tenants)',
    ],
    rows,
  ),
);
