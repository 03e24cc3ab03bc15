/**
 * The Redis Streams backplane against the full mesh, on this machine, in one run:
 *
 * - the backplane with 8, 16, 24 and 50 nodes (BENCH_BACKPLANE_NODES): several processes
 *   (BENCH_PER_PROCESS nodes each) through one redis-server started here (127.0.0.1, a temporary
 *   directory, no persistence), and the mesh with 8, 16 and 24 nodes (BENCH_MESH_NODES) laid out
 *   the same way;
 * - one writer node, alone in its process, puts BENCH_CHANGES entries of 200 bytes at a steady
 *   BENCH_RATE per second (asynchronous replication, 20 ms interval) while every other node counts
 *   what it applies;
 * - reported: the writer process's CPU per change (from the first put until every node holds every
 *   entry, so sending N-1 copies counts on the mesh), replication lag p50/p99 (a put's time in its
 *   value to the remote put event, same host so the clocks agree), time from the first put until
 *   every node holds every entry, and on the backplane redis-server's CPU (from /proc) and memory
 *   (INFO: used_memory, used_memory_peak).
 *
 * Run: npx --yes pnpm@10.34.8 run bench:backplane
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { table } from './harness.js';
import { knob, readWhole, readWholeList } from './knobs.js';

const WORKER = fileURLToPath(new URL('./backplane-worker.js', import.meta.url));
const BACKPLANE_NODES = knob((env) => readWholeList(env, 'BENCH_BACKPLANE_NODES', [8, 16, 24, 50]));
const MESH_NODES = knob((env) => readWholeList(env, 'BENCH_MESH_NODES', [8, 16, 24]));
const PER_PROCESS = knob((env) => readWhole(env, 'BENCH_PER_PROCESS', 10));
const CHANGES = knob((env) => readWhole(env, 'BENCH_CHANGES', 5000));
const RATE = knob((env) => readWhole(env, 'BENCH_RATE', 1000));
const SECRET = 'a benchmark secret of at least 32 bytes';
const TIMEOUT_MS = knob((env) => readWhole(env, 'BENCH_TIMEOUT_MS', 180_000));

interface Worker {
  readonly child: ChildProcess;
  ask(request: Record<string, unknown>): Promise<Record<string, unknown>>;
}

function worker(): Worker {
  const child = spawn(process.execPath, [WORKER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const pending = new Map<number, (answer: Record<string, unknown>) => void>();
  let ids = 0;
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const answer = JSON.parse(line) as Record<string, unknown> & { id: number };
    pending.get(answer.id)?.(answer);
    pending.delete(answer.id);
  });
  return {
    child,
    ask: (request) =>
      new Promise((resolve, reject) => {
        const id = ++ids;
        pending.set(id, (answer) =>
          answer['error'] === undefined ? resolve(answer) : reject(new Error(String(answer['error']))),
        );
        child.stdin?.write(`${JSON.stringify({ ...request, id })}\n`);
      }),
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** A Redis command over a bare socket (INFO), for the server's own figures. */
function redisCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(port, '127.0.0.1', () => socket.write(`${command}\r\n`));
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString();
      const header = /^\$(\d+)\r\n/.exec(text);
      if (header !== null && text.length >= header[0].length + Number(header[1])) {
        socket.end();
        resolve(text.slice(header[0].length));
      } else if (text.startsWith('+') || text.startsWith('-')) {
        socket.end();
        resolve(text);
      }
    });
    socket.once('error', reject);
  });
}

async function startRedis(): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'meshcache-bench-redis-'));
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await redisCommand(port, 'PING')).startsWith('+PONG')) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline)
      throw new Error('redis-server did not start (scripts/install-system-deps.sh installs it)');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    pid: child.pid as number,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** utime + stime of a process, in ms (Linux /proc; clock ticks of 10 ms). */
function cpuMillisOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

interface Row {
  readonly mode: string;
  readonly nodes: number;
  readonly cpuPerChange: number;
  readonly p50: number;
  readonly p99: number;
  readonly convergedMs: number | null;
  readonly redisCpuMs: number | null;
  readonly redisMemory: string | null;
}

async function run(mode: 'backplane' | 'mesh', count: number): Promise<Row> {
  const redis = mode === 'backplane' ? await startRedis() : undefined;
  const workers: Worker[] = [];
  try {
    const cache = { bench: { maxElementsInMemory: 0, replication: { asynchronousReplicationIntervalMillis: 20 } } };
    const base = (name: string) => ({
      name,
      cluster: `bench-${mode}-${count}`,
      secret: SECRET,
      peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 10_000 },
      caches: cache,
    });
    const writer = worker();
    workers.push(writer);
    const urls: string[] = [];
    const configFor = (name: string) =>
      mode === 'backplane'
        ? {
            ...base(name),
            backplane: { type: 'redis', url: `redis://127.0.0.1:${redis?.port}`, heartbeatMillis: 2000 },
          }
        : { ...base(name), peerDiscovery: { mode: 'manual', peers: [...urls] } };
    urls.push(String((await writer.ask({ op: 'start', config: configFor('writer') }))['url']));
    const readers: Worker[] = [];
    for (let i = 1; i < count; i++) {
      if ((i - 1) % PER_PROCESS === 0) {
        const next = worker();
        workers.push(next);
        readers.push(next);
      }
      const host = readers[readers.length - 1] as Worker;
      urls.push(String((await host.ask({ op: 'start', config: configFor(`node-${i}`) }))['url']));
    }
    // Let links, presence and first repairs settle before measuring.
    await new Promise((resolve) => setTimeout(resolve, mode === 'mesh' ? 3000 + 100 * count : 3000));
    const watching = readers.map((reader) => reader.ask({ op: 'watch', count: CHANGES }));
    const redisCpuBefore = redis === undefined ? 0 : cpuMillisOf(redis.pid);
    const started = Date.now();
    await writer.ask({ op: 'write', count: CHANGES, rate: RATE });
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), TIMEOUT_MS));
    const results = await Promise.race([Promise.all(watching), timeout]);
    const cpu = Number((await writer.ask({ op: 'cpu' }))['cpuMicros']);
    const redisCpuMs = redis === undefined ? null : cpuMillisOf(redis.pid) - redisCpuBefore;
    let redisMemory: string | null = null;
    if (redis !== undefined) {
      const info = await redisCommand(redis.port, 'INFO memory');
      const field = (name: string) => (info.split(`${name}:`)[1] ?? '').split('\r')[0];
      redisMemory = `${field('used_memory_human')} (peak ${field('used_memory_peak_human')})`;
    }
    const lags = results === null ? [] : results.flatMap((r) => r['lags'] as number[]).sort((a, b) => a - b);
    const done = results === null ? [] : results.flatMap((r) => r['done'] as number[]);
    return {
      mode,
      nodes: count,
      cpuPerChange: cpu / CHANGES,
      p50: percentile(lags, 50),
      p99: percentile(lags, 99),
      convergedMs: results === null ? null : Math.max(...done) - started,
      redisCpuMs,
      redisMemory,
    };
  } finally {
    await Promise.all(
      workers.map(async (w) => {
        const exited = new Promise((resolve) => w.child.once('exit', resolve));
        w.ask({ op: 'stop' }).catch(() => {});
        const killer = setTimeout(() => w.child.kill('SIGKILL'), 20_000);
        await exited;
        clearTimeout(killer);
      }),
    );
    await redis?.stop();
  }
}

const rows: Row[] = [];
for (const count of MESH_NODES) {
  rows.push(await run('mesh', count));
  console.error(`mesh ${count} done`);
}
for (const count of BACKPLANE_NODES) {
  rows.push(await run('backplane', count));
  console.error(`backplane ${count} done`);
}
console.log(
  `node ${process.version}; ${CHANGES} puts of 200 bytes at ${RATE}/s from one writer, async 20 ms; ${PER_PROCESS} nodes per process\n`,
);
console.log(
  table(
    [
      'replication',
      'nodes',
      'writer CPU / change',
      'lag p50',
      'lag p99',
      'every node holds every entry',
      'redis-server CPU',
      'redis-server memory',
    ],
    rows.map((row) => [
      row.mode,
      String(row.nodes),
      `${row.cpuPerChange.toFixed(0)} µs`,
      `${row.p50} ms`,
      `${row.p99} ms`,
      row.convergedMs === null ? `not within ${TIMEOUT_MS / 1000} s` : `${row.convergedMs} ms`,
      row.redisCpuMs === null ? '-' : `${row.redisCpuMs} ms`,
      row.redisMemory ?? '-',
    ]),
  ),
);
