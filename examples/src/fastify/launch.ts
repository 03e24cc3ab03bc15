/**
 * Starts N instances of the Fastify example (server.ts), each its own process on 127.0.0.1,
 * each given the peer URLs of those before it, and stops them all (by pid). Used by
 * test/fastify.test.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface FastifyLaunchOptions {
  readonly instances?: number;
  /** Where child processes' stderr goes. @default ignored */
  readonly log?: (line: string) => void;
  /** Aborting stops every process started so far, also while the launch is still under way. */
  readonly signal?: AbortSignal;
}

export interface LaunchedFastifyCluster {
  readonly instances: ReadonlyArray<{ readonly name: string; readonly url: string; readonly peerUrl: string }>;
  stop(): Promise<void>;
}

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');
const script = join(here, `server.${fromSource ? 'ts' : 'js'}`);
const nodeArgs = fromSource ? ['--conditions=@meshcache/source', '--import', 'tsx'] : [];

export async function launchFastifyCluster(options: FastifyLaunchOptions = {}): Promise<LaunchedFastifyCluster> {
  options.signal?.throwIfAborted();
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
  };
  options.signal?.addEventListener('abort', () => void stop(), { once: true });
  // Secrets of 32 bytes and more, as a listener off loopback would demand.
  const secret = randomBytes(32).toString('hex');
  const instances: Array<{ name: string; url: string; peerUrl: string }> = [];
  try {
    for (let i = 1; i <= (options.instances ?? 3); i++) {
      options.signal?.throwIfAborted();
      const name = `api-${i}`;
      const config = { name, peers: instances.map((instance) => instance.peerUrl), secret };
      const child = spawn(process.execPath, [...nodeArgs, script, JSON.stringify(config)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      child.stderr?.on('data', (chunk: Buffer) => options.log?.(chunk.toString().trimEnd()));
      const match = await new Promise<RegExpExecArray>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
        options.signal?.addEventListener('abort', () => reject(new Error(`launch aborted while ${name} started`)), {
          once: true,
        });
        createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
          const listening = /^fastify \S+ listening on (\S+) peer (\S+)$/.exec(line);
          if (listening !== null) resolve(listening);
        });
      });
      instances.push({ name, url: match[1] as string, peerUrl: match[2] as string });
    }
    return { instances, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
