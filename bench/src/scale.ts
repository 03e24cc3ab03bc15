/**
 * The scale benchmark: N ClusterNode processes on this machine, full mesh by manual peer lists,
 * one cache, asynchronous 10 ms. For N in BENCH_SCALE_NODES (4, 8, 16, 24, 32):
 *
 * 1. the mesh forms (time until every node has N - 1 links);
 * 2. one writer: 20,000 puts of 200 bytes on one node; time until every node holds them;
 * 3. every writer: 20,000 more spread over all nodes; time until every node holds all 40,000;
 *
 * then CPU-seconds summed over all processes, per delivered change (a change applied on one
 * receiving node: 40,000 x (N - 1) in all), links dropped (`peer left`) and RSS. Each N runs
 * quiet, and again with two CPU-burning processes beside it for the first 3 s of each write
 * phase (a fleet pegged by a traffic spike). Every wait is bounded (BENCH_SCALE_TIMEOUT, 120 s).
 *
 * Run: npx --yes pnpm@10.34.8 run bench:scale   (BENCH_SCALE_NODES=4,8 for a shorter run)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { table } from './harness.js';
import { knob, readWhole, readWholeList } from './knobs.js';

const NODE = fileURLToPath(new URL('./scale-node.js', import.meta.url));
const SIZES = knob((env) => readWholeList(env, 'BENCH_SCALE_NODES', [4, 8, 16, 24, 32]));
const PUTS = knob((env) => readWhole(env, 'BENCH_SCALE_PUTS', 20_000));
const TIMEOUT = knob((env) => readWhole(env, 'BENCH_SCALE_TIMEOUT', 120_000));

interface Running {
  readonly child: ChildProcess;
  readonly url: string;
  ask(line: string): Promise<Record<string, number>>;
}

function startNode(name: string, peers: string[]): Promise<Running> {
  const child = spawn(process.execPath, [NODE, name, JSON.stringify(peers)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const waiting: Array<(line: string) => void> = [];
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    lines.on('line', (line) => {
      if (line.startsWith('url ')) {
        resolve({
          child,
          url: line.slice(4),
          ask: (command) =>
            new Promise((answer) => {
              waiting.push((reply) => answer(JSON.parse(reply) as Record<string, number>));
              child.stdin?.write(`${command}\n`);
            }),
        });
      } else waiting.shift()?.(line);
    });
  });
}

/** Polls `check` until true; the time from `start` (default now), or null past TIMEOUT. */
async function until(check: () => Promise<boolean>, start = performance.now()): Promise<number | null> {
  while (performance.now() - start < TIMEOUT) {
    if (await check()) return performance.now() - start;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return null;
}

/** Burners not yet stopped: the bench may end before their time is up, and they must not outlive it. */
const burning = new Set<ChildProcess>();
process.once('exit', () => {
  for (const burner of burning) burner.kill('SIGKILL');
});

/** Two processes that burn a core each for `millis` (stopped by pid, at the latest when the bench exits). */
function burn(millis: number): void {
  for (let i = 0; i < 2; i++) {
    const burner = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
    burning.add(burner);
    const stop = () => {
      burner.kill('SIGKILL');
      burning.delete(burner);
    };
    // Unref'd, so that a burner alone does not keep the bench alive: the exit hook stops what is left.
    setTimeout(stop, millis).unref();
  }
}

async function run(size: number, loaded: boolean): Promise<string[]> {
  const nodes: Running[] = [];
  try {
    for (let i = 0; i < size; i++)
      nodes.push(
        await startNode(
          `n${i}`,
          nodes.map((node) => node.url),
        ),
      );
    const all = async (command: string) => Promise.all(nodes.map((node) => node.ask(command)));
    const mesh = await until(async () => (await all('figures')).every((f) => f['connectedPeers'] === size - 1));
    const held = (count: number) => async () => (await all('count')).every((c) => c['count'] === count);
    // Each phase is timed from the moment its writes are asked for: the writes themselves count.
    if (loaded) burn(3000);
    const oneStart = performance.now();
    await nodes[0]?.ask(`fill a 0 ${PUTS}`);
    const one = await until(held(PUTS), oneStart);
    if (loaded) burn(3000);
    const share = Math.ceil(PUTS / size);
    const everyStart = performance.now();
    await Promise.all(nodes.map((node, i) => node.ask(`fill b${i}- 0 ${Math.min(share, PUTS - i * share)}`)));
    const every = await until(held(2 * PUTS), everyStart);
    const figures = await all('figures');
    const cpu = figures.reduce((sum, f) => sum + (f['cpu'] ?? 0), 0);
    const delivered = 2 * PUTS * (size - 1);
    const seconds = (ms: number | null) => (ms === null ? `not in ${TIMEOUT / 1000} s` : `${(ms / 1000).toFixed(2)} s`);
    return [
      `${size}${loaded ? ' (loaded)' : ''}`,
      seconds(mesh),
      seconds(one),
      seconds(every),
      cpu.toFixed(1),
      `${((cpu / delivered) * 1e6).toFixed(1)} µs`,
      String(figures.reduce((sum, f) => sum + (f['left'] ?? 0), 0)),
      `${(Math.max(...figures.map((f) => f['rss'] ?? 0)) / 1e6).toFixed(0)} MB`,
      one !== null && every !== null ? 'yes' : 'no',
    ];
  } finally {
    for (const node of nodes) node.child.kill('SIGKILL');
  }
}

console.log(`node ${process.version}; ${PUTS.toLocaleString()} puts of 200 bytes per phase\n`);
const rows: string[][] = [];
for (const size of SIZES) {
  rows.push(await run(size, false));
  rows.push(await run(size, true));
  console.error(`done: ${size} nodes`);
}
console.log(
  table(
    [
      'nodes',
      'full mesh after',
      '1 writer: on all after',
      'N writers: on all after',
      'CPU-s, all nodes',
      'CPU per delivered change',
      'links dropped',
      'max RSS',
      'converged',
    ],
    rows,
  ),
);
process.exit(0);
