/**
 * The example launchers' processes: each example program started as its own Node.js process
 * (from source through tsx when the launcher itself runs from source, else the built file),
 * awaited until it prints the line that says it is ready, and every one stopped by pid. Aborting
 * the signal stops what was started so far, also in the middle of a launch.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export class ExampleProcesses {
  readonly #scripts: string;
  readonly #fromSource: boolean;
  readonly #children: ChildProcess[] = [];
  readonly #signal: AbortSignal | undefined;
  readonly #log: ((line: string) => void) | undefined;

  /** `launcherUrl`: the launcher's import.meta.url; the scripts it starts are beside it. */
  constructor(launcherUrl: string, options: { signal?: AbortSignal; log?: (line: string) => void }) {
    this.#scripts = dirname(fileURLToPath(launcherUrl));
    this.#fromSource = launcherUrl.endsWith('.ts');
    this.#signal = options.signal;
    this.#log = options.log;
    this.#signal?.throwIfAborted();
    this.#signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  /** The pid of the process started last. */
  get lastPid(): number {
    return this.#children.at(-1)?.pid ?? 0;
  }

  /** Starts script `name` with `args`; resolves with the first stdout line matching `ready`. */
  start(name: string, args: readonly string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<RegExpExecArray> {
    this.#signal?.throwIfAborted();
    const script = join(this.#scripts, `${name}.${this.#fromSource ? 'ts' : 'js'}`);
    const nodeArgs = this.#fromSource ? ['--conditions=@meshcache/source', '--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#children.push(child);
    child.stderr?.on('data', (chunk: Buffer) => this.#log?.(chunk.toString().trimEnd()));
    return new Promise<RegExpExecArray>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
      this.#signal?.addEventListener('abort', () => reject(new Error(`launch aborted while ${name} started`)), {
        once: true,
      });
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const match = ready.exec(line);
        if (match !== null) resolve(match);
      });
    });
  }

  /** Stops every process started (SIGTERM, SIGKILL after 3 s) and waits for each to exit. */
  async stop(): Promise<void> {
    await Promise.all(
      this.#children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 3000).unref();
          }),
      ),
    );
  }
}
