/** Plain-text tables and figures for people; `--json` output bypasses all of this. */

/** Columns padded to their widest cell, two spaces apart, header first. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** "0.4 s ago", "12 min ago", or "never". */
export function ago(epochMillis: number | null, now = Date.now()): string {
  if (epochMillis === null) return 'never';
  const seconds = Math.max(0, (now - epochMillis) / 1000);
  if (seconds < 60) return `${seconds.toFixed(1)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

export function bytes(count: number): string {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / 1024 / 1024).toFixed(1)} MiB`;
}

export function millis(value: number | null): string {
  return value === null ? '-' : `${Math.round(value)} ms`;
}
