/**
 * Runs one of the repository's TypeScript scripts (a benchmark, the soak) from its source, as a
 * contributor types it, and collects what it printed. The script runs in a process group of its
 * own: one that ignored the mistake a test makes would start its nodes and run on, so after
 * `killAfterMillis` the whole group (the script and what it started, by the group's pid) is
 * killed, and the test's assertions on its exit then fail.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface ScriptOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Then the script's whole process group is killed (SIGKILL). */
  readonly killAfterMillis: number;
}

export interface ScriptResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runTsxScript(script: string, args: readonly string[], options: ScriptOptions): Promise<ScriptResult> {
  return startTsxScript(script, args, options).finished;
}

/** runTsxScript, with the script's pid known while it runs (to signal it as a user would). */
export function startTsxScript(
  script: string,
  args: readonly string[],
  options: ScriptOptions,
): { readonly pid: number; readonly finished: Promise<ScriptResult> } {
  const child = spawn(process.execPath, ['--conditions=@meshcache/source', '--import', 'tsx', script, ...args], {
    cwd: root,
    detached: true,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const finished = new Promise<ScriptResult>((done) => {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, options.killAfterMillis);
    child.on('close', (status) => {
      clearTimeout(timer);
      done({ status, stdout, stderr });
    });
  });
  return { pid: child.pid ?? -1, finished };
}
