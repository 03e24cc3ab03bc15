/**
 * Starts N instances of the Fastify example (server.ts), each its own process on 127.0.0.1,
 * each given the peer URLs of those before it, and stops them all (by pid). Used by
 * test/fastify.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { ExampleProcesses } from '../processes.js';

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

export async function launchFastifyCluster(options: FastifyLaunchOptions = {}): Promise<LaunchedFastifyCluster> {
  const processes = new ExampleProcesses(import.meta.url, options);
  const stop = () => processes.stop();
  // Secrets of 32 bytes and more, as a listener off loopback would demand.
  const secret = randomBytes(32).toString('hex');
  const instances: Array<{ name: string; url: string; peerUrl: string }> = [];
  try {
    for (let i = 1; i <= (options.instances ?? 3); i++) {
      const name = `api-${i}`;
      const config = { name, peers: instances.map((instance) => instance.peerUrl), secret };
      const match = await processes.start(
        'server',
        [JSON.stringify(config)],
        {},
        /^fastify \S+ listening on (\S+) peer (\S+)$/,
      );
      instances.push({ name, url: match[1] as string, peerUrl: match[2] as string });
    }
    return { instances, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
