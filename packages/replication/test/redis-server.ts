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
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServerOptions {
  /** Persist with AOF (fsync always), so a restart keeps the data. @default false */
  readonly appendonly?: boolean;
  /** `requirepass`: clients must AUTH. */
  readonly password?: string;
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
    const auth = this.#options.password === undefined ? '' : `:${encodeURIComponent(this.#options.password)}@`;
    return `redis://${auth}127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /** Starts the server (again), and resolves once it answers PING. */
  async start(): Promise<void> {
    if (this.#process !== undefined) return;
    const args = [
      '--port',
      String(this.port),
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
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#process = child;
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 10_000) stderr += chunk.toString();
    });
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const deadline = Date.now() + 10_000;
    while (!(await answers(this.port))) {
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

function freePort(): Promise<number> {
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
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      const text = data.toString();
      done(text.startsWith('+PONG') || text.includes('NOAUTH'));
    });
  });
}
