/**
 * ClusterNodes as real processes (test/fixtures/cluster-process.ts): start one with a config,
 * ask it things over stdin, and stop every process started, by its own pid (stopAll). No test
 * runner here, so a script inside a network namespace can use it too; cluster-harness.ts wires
 * stopAll to vitest.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { until as untilTrue } from '@meshcache/core/testing';

const NODE = fileURLToPath(new URL('./fixtures/cluster-process.ts', import.meta.url));

export interface Running {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  ask(line: string): Promise<unknown>;
  /** Resolves once the process has exited. */
  readonly exited: Promise<void>;
}

export interface NodeOptions {
  readonly secret?: string;
  readonly port?: number;
  readonly caches?: Record<string, unknown>;
  readonly extra?: Record<string, unknown>;
  /** Instead of the manual list of `peers`. */
  readonly discovery?: Record<string, unknown>;
  readonly cluster?: string;
  /** Hold the node to these protocol versions (an older release). */
  readonly protocols?: { readonly min: number; readonly max: number };
  /** Replicate through this backplane (docs/backplane.md) instead of peer links. */
  readonly backplane?: Record<string, unknown>;
}

export const CACHE = 'Response%20Cache';
export const defaultCaches = { 'Response Cache': { replication: { asynchronousReplicationIntervalMillis: 10 } } };

const running: ChildProcess[] = [];

/** Stops every process started here that is still running (SIGKILL, by pid). */
export async function stopAll(): Promise<void> {
  for (const child of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT'); // in case a test stopped it
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
}

export async function startNode(name: string, peers: string[], options: NodeOptions = {}): Promise<Running> {
  const config = {
    name,
    cluster: options.cluster ?? 'gateways',
    secret: options.secret ?? 'cluster secret',
    peerListener: { hostname: '127.0.0.1', port: options.port ?? 0, socketTimeoutMillis: 1000 },
    ...(options.backplane === undefined
      ? { peerDiscovery: options.discovery ?? { mode: 'manual', peers } }
      : { backplane: options.backplane }),
    caches: options.caches ?? defaultCaches,
    ...options.extra,
  };
  const child = spawn(
    process.execPath,
    ['--conditions=@meshcache/source', '--import', 'tsx', NODE, JSON.stringify(config)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      env:
        options.protocols === undefined
          ? process.env
          : { ...process.env, MESHCACHE_TEST_PROTOCOLS: `${options.protocols.min}-${options.protocols.max}` },
    },
  );
  running.push(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const waiting: Array<(line: string) => void> = [];
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
    lines.on('line', (line) => {
      const listening = /^listening on (wss?:\/\/\S+)$/.exec(line);
      if (listening?.[1] !== undefined) resolve(listening[1]);
      else waiting.shift()?.(line);
    });
  });
  const ask = (line: string) =>
    new Promise<unknown>((resolve, reject) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`${name} is not running`));
        return;
      }
      waiting.push((answer) => resolve(JSON.parse(answer)));
      child.stdin?.write(`${line}\n`);
    });
  return { name, child, url, ask, exited };
}

/** The shared poll with a deadline (@meshcache/core/testing), with the longer default processes need. */
export function until(check: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<true> {
  return untilTrue(check, what, { timeoutMillis: timeoutMs, intervalMillis: 25 });
}

export async function connectedPeers(node: Running): Promise<number> {
  return ((await node.ask('peers')) as Array<{ state: string }>).filter((p) => p.state === 'connected').length;
}

export async function valueOn(node: Running, key: string, cache = CACHE): Promise<unknown> {
  return node.ask(`get ${cache} ${encodeURIComponent(key)}`);
}

/** Waits until every node holds exactly the same entries in `cache`. */
export async function converged(nodes: Running[], what: string, cache = CACHE, timeoutMs = 15_000): Promise<void> {
  await until(
    async () => {
      const contents = await Promise.all(nodes.map((node) => node.ask(`contents ${cache}`)));
      return contents.every((c) => JSON.stringify(c) === JSON.stringify(contents[0]));
    },
    what,
    timeoutMs,
  );
}
