/**
 * Shared by the fault tests of test/ (chaos proxy, clock skew, kill loop, soak): whether this is
 * the long form (MESHCACHE_LONG=1, run by scripts/reliability.sh and documented in
 * docs/reliability.md) or CI's short one, and a way to print the figures as a table that can be
 * pasted into the docs. Figures are printed, never asserted: speed belongs in docs.
 */
import { readdirSync, readlinkSync } from 'node:fs';

export const LONG = process.env['MESHCACHE_LONG'] === '1';

/** Prints rows as a Markdown table, with a title, to stdout. */
export function printTable(title: string, rows: ReadonlyArray<Record<string, string | number | null>>): void {
  const first = rows[0];
  if (first === undefined) return;
  const columns = Object.keys(first);
  const line = (cells: ReadonlyArray<string | number | null>) =>
    `| ${cells.map((c) => String(c ?? '-')).join(' | ')} |`;
  const text = [
    '',
    `### ${title}`,
    '',
    line(columns),
    line(columns.map(() => '---')),
    ...rows.map((row) => line(columns.map((c) => row[c] ?? null))),
    '',
  ].join('\n');
  process.stdout.write(`${text}\n`);
}

/** Open file descriptors of a live process, counted from outside (/proc/PID/fd). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Open sockets of a live process: its fds that are sockets. */
export function openSockets(pid: number): number {
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // closed while we looked
    }
  }
  return sockets;
}

export const MiB = 1024 * 1024;
