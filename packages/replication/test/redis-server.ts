/**
 * A real redis-server for tests: started on 127.0.0.1 with a free port and a temporary
 * directory, stopped by its pid, its directory removed. `stop()` and `start()` again (same port,
 * same directory) simulate an outage; with `appendonly: true` the data survives it (AOF, fsync
 * always), without it the restarted server is empty. `pause()`/`resume()` (SIGSTOP/SIGCONT) make
 * it unreachable without losing anything.
 *
 * scripts/install-system-deps.sh installs redis-server; a machine without it fails these tests
 * with that hint rather than skipping them.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { ClusterConfig, ReplicationConfig } from '../src/index.js';
import { SECRET } from './nodes.js';

export interface RedisServerOptions {
  /** Persist with AOF (fsync always), so a restart keeps the data. @default false */
  readonly appendonly?: boolean;
  /** `requirepass`: clients must AUTH. */
  readonly password?: string;
  /** An ACL user (all commands, all keys; a password without spaces), and the default user turned off. */
  readonly user?: { readonly name: string; readonly password: string };
  /** TLS only (no plain port), with this certificate; clients are not asked for one. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
}

export class RedisServer {
  readonly port: number;
  readonly dir: string;
  readonly #options: RedisServerOptions;
  #process: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  private constructor(port: number, dir: string, options: RedisServerOptions) {
    this.port = port;
    this.dir = dir;
    this.#options = options;
  }

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    try {
      execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    } catch {
      throw new Error('redis-server is not installed: run scripts/install-system-deps.sh (as root)');
    }
    const dir = mkdtempSync(join(tmpdir(), 'meshcache-redis-'));
    const server = new RedisServer(await freePort(), dir, options);
    try {
      await server.start();
    } catch (error) {
      await server.close();
      throw error;
    }
    return server;
  }

  get url(): string {
    const { user, password, tls } = this.#options;
    const auth =
      user !== undefined
        ? `${encodeURIComponent(user.name)}:${encodeURIComponent(user.password)}@`
        : password === undefined
          ? ''
          : `:${encodeURIComponent(password)}@`;
    return `${tls === undefined ? 'redis' : 'rediss'}://${auth}127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /** Starts the server (again), and resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.#process !== undefined) return;
    const { tls, user } = this.#options;
    const args = [
      ...(tls === undefined
        ? ['--port', String(this.port)]
        : [
            '--port',
            '0',
            '--tls-port',
            String(this.port),
            '--tls-cert-file',
            tls.certFile,
            '--tls-key-file',
            tls.keyFile,
            '--tls-ca-cert-file',
            tls.caFile,
            '--tls-auth-clients',
            'no',
          ]),
      // Each word its own argument: redis-server joins what follows an option up to the next `--`.
      ...(user === undefined
        ? []
        : ['--user', user.name, 'on', `>${user.password}`, '~*', '&*', '+@all', '--user', 'default', 'off']),
      '--bind',
      '127.0.0.1',
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      this.#options.appendonly === true ? 'yes' : 'no',
      '--appendfsync',
      'always',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
      ...(this.#options.password === undefined ? [] : ['--requirepass', this.#options.password]),
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#process = child;
    let stderr = '';
    const keep = (chunk: Buffer) => {
      if (stderr.length < 10_000) stderr += chunk.toString();
    };
    child.stdout?.on('data', keep); // redis-server logs to stdout
    child.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 10_000;
    while (!(await answers(this.port, tls !== undefined))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        this.#process = undefined;
        throw new Error(`redis-server did not start on port ${this.port}: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops the server by its pid (SIGTERM; SIGKILL after 5 s) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#process;
    if (child === undefined) return;
    this.#process = undefined;
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGCONT'); // a paused server cannot handle SIGTERM
        process.kill(child.pid, signal);
      } catch {
        // gone already
      }
    }
    const killer = setTimeout(() => {
      if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, 5000);
    await this.#exited;
    clearTimeout(killer);
  }

  /** Makes the server unreachable (it stops answering) without losing anything. */
  pause(): void {
    if (this.#process?.pid !== undefined) process.kill(this.#process.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.#process?.pid !== undefined) process.kill(this.#process.pid, 'SIGCONT');
  }

  /** Stops the server and removes its directory. */
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A port nothing listens on right now, on 127.0.0.1 (the kernel's pick). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when something on the port answers a PING (or asks for AUTH). */
function answers(port: number, tls: boolean): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    if (tls) socket.once('secureConnect', () => socket.write('PING\r\n'));
    else socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      const text = data.toString();
      done(text.startsWith('+PONG') || text.includes('NOAUTH') || text.includes('-'));
    });
  });
}

/**
 * A TCP relay to a Redis server on 127.0.0.1, for one node to connect through: `cut()` drops its
 * connections and refuses new ones (that node alone loses Redis), `mend()` lets them through again.
 */
export class RedisLink {
  readonly port: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #open = true;

  private constructor(port: number, server: Server) {
    this.port = port;
    this.#server = server;
  }

  static async start(target: RedisServer): Promise<RedisLink> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const link = new RedisLink(typeof address === 'object' && address !== null ? address.port : 0, server);
    server.on('connection', (client) => link.#relay(client, target.port));
    return link;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.#open = false;
    for (const socket of this.#sockets) socket.destroy();
  }

  mend(): void {
    this.#open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #relay(client: Socket, port: number): void {
    if (!this.#open) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.once('error', end);
      socket.once('close', end);
    }
    upstream.connect(port, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/**
 * A node of the cluster 'gateways' on the backplane at `url` (a heartbeat every 200 ms), with one
 * memory-only cache `cache` replicated as `replication` says: what the backplane's tests start.
 */
export function backplaneNodeConfig(
  name: string,
  url: string,
  cache: string,
  replication: ReplicationConfig,
): ClusterConfig {
  return {
    name,
    cluster: 'gateways',
    secret: SECRET,
    peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 1000 },
    backplane: { type: 'redis', url, heartbeatMillis: 200, replayWindowSeconds: 60 },
    caches: { [cache]: { maxElementsInMemory: 0, replication } },
  };
}
