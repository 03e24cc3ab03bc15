/**
 * Starts the example: a fake auth server, a fake backend and N gateway instances, each its own
 * process on 127.0.0.1, and stops them all (by pid). Used by cluster.ts, the end-to-end test
 * and the gateway benchmark.
 */
import { randomBytes } from 'node:crypto';
import { ExampleProcesses } from '../processes.js';

export interface LaunchOptions {
  readonly instances?: number;
  readonly mode?: 'meshcache' | 'local' | 'none';
  readonly singleFlight?: boolean;
  /** The auth server's delay per token, ms. @default 800 */
  readonly authDelayMillis?: number;
  /** expires_in of the auth server's first token, seconds. @default 3600, as every other */
  readonly authFirstExpiresIn?: number;
  /** Where child processes' stderr goes. @default ignored */
  readonly log?: (line: string) => void;
  /**
   * Aborting stops every process started so far, also while the launch is still under way (a
   * test that timed out mid-launch leaks none).
   */
  readonly signal?: AbortSignal;
}

export interface LaunchedCluster {
  readonly authUrl: string;
  readonly backendUrl: string;
  readonly gateways: ReadonlyArray<{
    readonly name: string;
    readonly url: string;
    readonly peerUrl: string | undefined;
    readonly pid: number;
  }>;
  readonly secret: string;
  stop(): Promise<void>;
}

export async function launchGatewayCluster(options: LaunchOptions = {}): Promise<LaunchedCluster> {
  const processes = new ExampleProcesses(import.meta.url, options);
  const start = processes.start.bind(processes);
  const stop = () => processes.stop();
  try {
    const auth = await start(
      'auth-server',
      [],
      {
        AUTH_DELAY_MS: String(options.authDelayMillis ?? 800),
        ...(options.authFirstExpiresIn === undefined
          ? {}
          : { AUTH_FIRST_EXPIRES_IN: String(options.authFirstExpiresIn) }),
      },
      /auth listening on (\S+)/,
    );
    const backend = await start('backend', [], {}, /backend listening on (\S+)/);
    const secret = randomBytes(16).toString('hex');
    const gateways: Array<{ name: string; url: string; peerUrl: string | undefined; pid: number }> = [];
    for (let i = 1; i <= (options.instances ?? 3); i++) {
      const config = {
        name: `gw-${i}`,
        port: 0,
        peerPort: 0,
        peers: gateways.map((g) => g.peerUrl).filter((url): url is string => url !== undefined),
        authUrl: auth[1],
        backendUrl: backend[1],
        secret,
        mode: options.mode ?? 'meshcache',
        singleFlight: options.singleFlight ?? true,
      };
      const match = await start(
        'gateway',
        [JSON.stringify(config)],
        {},
        /gateway (\S+) listening on (\S+)(?: peer (\S+))?/,
      );
      gateways.push({ name: config.name, url: match[2] as string, peerUrl: match[3], pid: processes.lastPid });
    }
    return { authUrl: auth[1] as string, backendUrl: backend[1] as string, gateways, secret, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
