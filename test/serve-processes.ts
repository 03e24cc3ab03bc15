/**
 * `meshcache serve` and `meshcache` as a user runs them, for the adversarial suite: each node a
 * process started from source on 127.0.0.1 with port 0, its config file and store in a
 * temporary directory, stopped by its pid (stopServed, for afterEach); and the CLI as a process
 * to its end. The secret reaches the CLI by environment, never on its command line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../packages/cli/src/bin.ts', import.meta.url));
export const NODE_ARGS = ['--conditions=@meshcache/source', '--import', 'tsx', BIN];

export const CLUSTER_SECRET = 'the cluster secret of the adversarial suite, 48 bytes';

export interface Served {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
  /** Everything the process wrote to stderr so far (its log). */
  log(): string;
  alive(): boolean;
}

const children: ChildProcess[] = [];
let dir: string | undefined;

/** A temporary directory for this test file's configs and stores (removed by removeTemp). */
export function tempDir(): string {
  dir ??= mkdtempSync(join(tmpdir(), 'meshcache-adversarial-'));
  return dir;
}

export function removeTemp(): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}

/** Stops every serve process started here, by pid (SIGKILL), and waits for each to exit. */
export async function stopServed(): Promise<void> {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
}

export const CACHES = {
  'service tokens': {
    maxElementsInMemory: 1000,
    timeToLiveSeconds: 3300,
    replication: { replicateAsynchronously: false },
  },
  'Response Cache': {
    maxElementsInMemory: 10_000,
    timeToLiveSeconds: 3600,
    replication: { replicateAsynchronously: true, asynchronousReplicationIntervalMillis: 10 },
  },
};

export interface ServeOptions {
  readonly peers?: readonly string[];
  /** Merged into peerListener. */
  readonly listener?: Record<string, unknown>;
  /** Top-level fields, replacing the defaults. */
  readonly extra?: Record<string, unknown>;
  /** Run under this umask (a shell sets it), e.g. '000'. */
  readonly umask?: string;
}

/** Registers a process this file did not start, so stopServed stops it too. */
export function adopt(child: ChildProcess): ChildProcess {
  children.push(child);
  return child;
}

/**
 * Waits for a `meshcache serve` process to print `listening on URL`; rejects with its log if it
 * exits first. The process is registered for stopServed.
 */
export async function listening(child: ChildProcess, name: string): Promise<{ url: string; log: () => string }> {
  adopt(child);
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code, signal) => reject(new Error(`serve ${name} exited (${code ?? signal}): ${log}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const match = /^listening on (ws:\/\/127\.0\.0\.1:\d+)$/.exec(line);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
  });
  return { url, log: () => log };
}

/** Starts `meshcache serve --config FILE` and resolves once it prints `listening on URL`. */
export async function serve(name: string, options: ServeOptions = {}): Promise<Served> {
  const config = {
    name,
    cluster: 'gateways',
    secret: CLUSTER_SECRET,
    peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 2000, ...options.listener },
    peerDiscovery: { mode: 'manual', peers: options.peers ?? [] },
    caches: CACHES,
    ...options.extra,
  };
  const file = join(tempDir(), `${name}-${children.length}.json`);
  writeFileSync(file, JSON.stringify(config));
  const args = [...NODE_ARGS, 'serve', '--config', file];
  const env = { ...process.env };
  delete env['MESHCACHE_SECRET'];
  const child =
    options.umask === undefined
      ? spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('/bin/sh', ['-c', `umask ${options.umask} && exec "$0" "$@"`, process.execPath, ...args], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  const { url, log } = await listening(child, name);
  return {
    name,
    child,
    url,
    port: Number(new URL(url).port),
    log,
    alive: () => child.exitCode === null && child.signalCode === null,
  };
}

export interface CliResult {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** Runs `meshcache ARGS` to its end, the secret in MESHCACHE_SECRET (env is merged over it). */
export function meshcache(
  args: readonly string[],
  secret: string = CLUSTER_SECRET,
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...NODE_ARGS, ...args], {
      env: { ...process.env, MESHCACHE_SECRET: secret, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}
