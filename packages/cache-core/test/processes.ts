/**
 * Child processes for the disk tests (fixtures/disk-child.ts, run with tsx), stopped by their
 * own pid, and polling with a deadline where real time must pass.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { until } from '../src/until.js';

const CHILD = fileURLToPath(new URL('./fixtures/disk-child.ts', import.meta.url));
const children: ChildProcess[] = [];

/** Starts the child fixture and resolves once it has the store open; `lines` collects what it prints. */
export async function startChild(
  mode: 'hold' | 'write' | 'write-temporary' | 'cache' | 'race' | 'trap-sigint',
  path: string,
): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(process.execPath, ['--conditions=@meshcache/source', '--import', 'tsx', CHILD, mode, path], {
    stdio: [mode === 'race' || mode === 'trap-sigint' ? 'pipe' : 'ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines: string[] = [];
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      if (line === 'ready') resolve();
    });
    child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
  });
  await ready;
  return { child, lines };
}

export function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** The shared poll with a deadline (src/until.ts), with the longer default processes need. */
export function waitFor<T>(
  check: () => T | undefined,
  what: string,
  timeoutMs = 10_000,
): Promise<Exclude<T, undefined>> {
  return until(check, what, { timeoutMillis: timeoutMs, intervalMillis: 20 }) as Promise<Exclude<T, undefined>>;
}

/** Kills (SIGKILL, by pid) every child still running and waits for each to exit. */
export async function stopChildren(): Promise<void> {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await killed(child);
  }
}

/** The highest key index a writing child has reported, if any. */
export function highestWritten(lines: readonly string[]): number | undefined {
  const last = lines.filter((line) => line.startsWith('written ')).at(-1);
  return last === undefined ? undefined : Number(last.slice('written '.length));
}

/** How long before a kill -9 a write must have been made to be promised to survive it. */
export const SPOOL_WINDOW_MS = 1000;

/**
 * Starts a writing child, lets it write at least 2000 keys, notes the highest key written so
 * far, lets one spool window pass while it keeps writing, then kills it with SIGKILL. Returns
 * the noted key index: every key up to it must survive.
 */
export async function writeThenKill(mode: 'write' | 'write-temporary' | 'cache', path: string): Promise<number> {
  const { child, lines } = await startChild(mode, path);
  await waitFor(() => ((highestWritten(lines) ?? 0) >= 2000 ? true : undefined), 'the child to write 2000 keys');
  const writtenBeforeWindow = highestWritten(lines) as number;
  await new Promise((resolve) => setTimeout(resolve, SPOOL_WINDOW_MS));
  child.kill('SIGKILL');
  await killed(child);
  return writtenBeforeWindow;
}
