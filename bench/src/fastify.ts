/**
 * Requests/s of a Fastify route through
 * @meshcache/fastify, hit and miss, beside the same route without it and beside @fastify/caching
 * where it applies (its ETag 304s, and its cache used by the handler), for two routes: GET
 * /item/:id, whose handler only builds a 1 KB object (serialised as JSON), and GET /slow/:id,
 * whose handler first waits BENCH_SLOW_MS (5 ms: a backend call). Each set-up is a server
 * process of its own (bench/src/fastify-server.ts) on 127.0.0.1; autocannon, as a library, loads
 * it from this process. Rounds of every set-up are interleaved and the median round is reported.
 * Besides requests/s (which the load generator, on the same two cores, bounds as much as the
 * server does), each run reports the server process's CPU time per request: what the plugin
 * costs or saves, whatever the load generator's share of the machine.
 *
 *   hit   the same URL every request: the plugin answers from the cache in onRequest; for
 *         @fastify/caching's ETag set-up, a request with If-None-Match answered 304 in onRequest;
 *         for its store set-up, the handler finds the object in the cache (and serialises it)
 *   miss  a new URL every request: the plugin looks up, the handler runs, the response is stored
 *         (into a 10,000-entry LRU cache, so evicting once full; replicated to a peer process in
 *         the replicated set-up)
 *
 * Run: npx --yes pnpm@10.34.8 run bench:fastify
 * Knobs: BENCH_DURATION (seconds per run, default 5), BENCH_CONNECTIONS (default 10),
 * BENCH_ROUNDS (default 3), BENCH_SLOW_MS (default 5).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { formatOps, table } from './harness.js';
import { knob, readWhole } from './knobs.js';

const DURATION = knob((env) => readWhole(env, 'BENCH_DURATION', 5));
const CONNECTIONS = knob((env) => readWhole(env, 'BENCH_CONNECTIONS', 10));
const ROUNDS = knob((env) => readWhole(env, 'BENCH_ROUNDS', 3));
const SERVER = fileURLToPath(new URL('./fastify-server.js', import.meta.url));

const children: ChildProcess[] = [];
async function start(config: object, pattern: RegExp): Promise<string> {
  const child = spawn(process.execPath, [SERVER, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${JSON.stringify(config)} exited with ${code}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = pattern.exec(line);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
  });
}
async function stopAll(): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        }),
    ),
  );
}

type Route = '/item' | '/slow';
const ROUTES: readonly Route[] = ['/item', '/slow'];

interface Subject {
  readonly name: string;
  readonly url: string;
  /** Request headers of a hit (If-None-Match for the ETag set-up). */
  readonly hitHeaders: (route: Route) => Record<string, string>;
  /** What a hit looks like, checked once before measuring. */
  readonly expectHit: (response: Response) => boolean;
}

interface Sample {
  readonly rps: number;
  readonly p99: number;
  /** Server CPU time (user + system) per request, µs. */
  readonly cpuPerRequest: number;
}

let missCounter = 0;
const cpuMicros = async (subject: Subject) =>
  ((await (await fetch(`${subject.url}/_cpu`)).json()) as { micros: number }).micros;

async function run(subject: Subject, route: Route, kind: 'hit' | 'miss') {
  const cpuBefore = await cpuMicros(subject);
  const result = await autocannon({
    url: subject.url,
    connections: CONNECTIONS,
    duration: DURATION,
    requests: [
      kind === 'hit'
        ? { method: 'GET', path: `${route}/1`, headers: subject.hitHeaders(route) }
        : { method: 'GET', setupRequest: (request) => ({ ...request, path: `${route}/m${missCounter++}` }) },
    ],
  });
  if (result.errors > 0 || result.timeouts > 0) {
    throw new Error(`${subject.name} ${route} ${kind}: ${result.errors} errors, ${result.timeouts} timeouts`);
  }
  const cpu = (await cpuMicros(subject)) - cpuBefore;
  return { rps: result.requests.average, p99: result.latency.p99, cpuPerRequest: cpu / result.requests.total };
}

try {
  const peer = await start({ mode: 'peer' }, /^peer (\S+)$/);
  const listening = /^listening on (\S+)$/;
  const xCache = (value: string) => (response: Response) => response.headers.get('x-cache') === value;
  const subjects: Subject[] = [
    {
      name: 'no plugin',
      url: await start({ mode: 'plain' }, listening),
      hitHeaders: () => ({}),
      expectHit: (r) => r.ok,
    },
    {
      name: '@meshcache/fastify (local cache)',
      url: await start({ mode: 'meshcache' }, listening),
      hitHeaders: () => ({}),
      expectHit: xCache('HIT'),
    },
    {
      name: '@meshcache/fastify (replicated to 1 peer)',
      url: await start({ mode: 'meshcache-replicated', peers: [peer] }, listening),
      hitHeaders: () => ({}),
      expectHit: xCache('HIT'),
    },
    {
      name: '@fastify/caching (ETag 304)',
      url: await start({ mode: 'caching-etag' }, listening),
      hitHeaders: (route) => ({ 'if-none-match': `"${route}-1"` }),
      expectHit: (r) => r.status === 304,
    },
    {
      name: '@fastify/caching (its cache in the handler)',
      url: await start({ mode: 'caching-store' }, listening),
      hitHeaders: () => ({}),
      expectHit: (r) => r.ok,
    },
  ];
  // Prime each hit (and check that it is one), and warm every server up.
  for (const subject of subjects) {
    for (const route of ROUTES) {
      await fetch(`${subject.url}${route}/1`).then((r) => r.arrayBuffer());
      const second = await fetch(`${subject.url}${route}/1`, { headers: subject.hitHeaders(route) });
      await second.arrayBuffer();
      if (!subject.expectHit(second)) throw new Error(`${subject.name}: the second request of ${route} was not a hit`);
    }
    await autocannon({ url: `${subject.url}/item/1`, connections: CONNECTIONS, duration: 1 });
  }
  const samples = new Map<string, Sample[]>();
  const at = (subject: Subject, route: Route, kind: string) => `${subject.name} ${route} ${kind}`;
  for (let round = 0; round < ROUNDS; round++) {
    for (const route of ROUTES) {
      for (const subject of subjects) {
        for (const kind of ['hit', 'miss'] as const) {
          const sample = await run(subject, route, kind);
          samples.set(at(subject, route, kind), [...(samples.get(at(subject, route, kind)) ?? []), sample]);
        }
      }
    }
    console.error(`round ${round + 1}/${ROUNDS} done`);
  }
  const middle = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  const of = (subject: Subject, route: Route, kind: string) => {
    const runs = samples.get(at(subject, route, kind)) ?? [];
    return {
      rps: middle(runs.map((r) => r.rps)),
      p99: middle(runs.map((r) => r.p99)),
      cpu: middle(runs.map((r) => r.cpuPerRequest)),
    };
  };
  const stats = (await (await fetch(`${subjects[1]?.url}/_stats`)).json()) as { served: Record<string, number> };
  console.log(
    `node ${process.version}; ${CONNECTIONS} connections, ${DURATION} s a run, median of ${ROUNDS} rounds; each server (and the peer) a process on 127.0.0.1`,
  );
  for (const route of ROUTES) {
    const base = subjects[0] as Subject;
    const rows = subjects.map((subject) => {
      const hit = of(subject, route, 'hit');
      const miss = of(subject, route, 'miss');
      return [
        subject.name,
        formatOps(hit.rps),
        `${(hit.rps / of(base, route, 'hit').rps).toFixed(2)}x`,
        `${hit.p99} ms`,
        `${hit.cpu.toFixed(0)} µs`,
        formatOps(miss.rps),
        `${(miss.rps / of(base, route, 'miss').rps).toFixed(2)}x`,
        `${miss.p99} ms`,
        `${miss.cpu.toFixed(0)} µs`,
      ];
    });
    console.log(
      `\nGET ${route}/:id (${route === '/item' ? 'the handler builds 1 KB of JSON' : `the handler waits ${process.env['BENCH_SLOW_MS'] ?? 5} ms, then builds 1 KB of JSON`})\n`,
    );
    console.log(
      table(
        [
          'set-up',
          'hit req/s',
          'vs no plugin',
          'hit p99',
          'hit: server CPU / req',
          'miss req/s',
          'vs no plugin',
          'miss p99',
          'miss: server CPU / req',
        ],
        rows,
      ),
    );
  }
  console.log(`\n@meshcache/fastify (local cache) answered, over the whole run: ${JSON.stringify(stats.served)}`);
} finally {
  await stopAll();
}
