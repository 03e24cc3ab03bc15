/**
 * Plain-text tables and figures for people, and the escaping of everything a node or its peers
 * supplied (names, URLs, cache names, error messages, values): a peer that names itself
 * "\u001b]0;owned\u0007" must not get to write to the operator's terminal.
 */

/**
 * Control characters (C0, DEL, C1) and the Unicode bidirectional overrides that can reorder what a
 * terminal shows: what printable() and jsonLine() escape.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters escaped
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Text safe to print: every unsafe character as \xNN or \uNNNN. */
export function printable(text: string): string {
  return text.replace(UNSAFE, (character) => {
    const code = character.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** What JSON.stringify leaves raw in strings (it escapes C0 itself): DEL, C1, line separators, bidi overrides. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON (on one line unless indented) with the characters JSON leaves raw escaped too: still valid JSON. */
export function jsonLine(value: unknown, indent?: number): string {
  return (JSON.stringify(value, null, indent) ?? 'null').replace(
    UNSAFE_IN_JSON,
    (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * Where a value a node sent holds something JSON has no way to write, and what it is; undefined
 * when JSON.stringify writes the value as it is. An admin answer decodes to more than JSON holds
 * (a Map, a Set, a Buffer or Uint8Array, NaN, Infinity, undefined in an array), and
 * JSON.stringify wrote those as `{}`, `{"0":1}`, `{"type":"Buffer",...}` or `null`: another value,
 * printed in silence. `get` refuses such a value instead, naming where it is. A Date is written as
 * its ISO 8601 text (JSON.stringify's own rendering of one), and a field that is undefined is left
 * out (an absent optional field, as a cache takes it), as JSON.stringify does. A decoded value is a
 * tree no deeper than the protocol's guard takes (100), so the walk recurses.
 */
export function notJson(value: unknown, path = 'value'): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `${path} is ${value}`;
    case 'undefined':
      return `${path} is undefined`;
    case 'object':
      break;
    default:
      return `${path} is a ${typeof value}`;
  }
  if (value === null) return undefined;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? `${path} is an invalid Date` : undefined;
  if (value instanceof Uint8Array) return `${path} is binary (a ${Buffer.isBuffer(value) ? 'Buffer' : 'Uint8Array'})`;
  if (value instanceof Map) return `${path} is a Map`;
  if (value instanceof Set) return `${path} is a Set`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = notJson(value[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, field] of Object.entries(value)) {
    if (field === undefined) continue;
    const found = notJson(field, `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Columns padded to their widest cell, two spaces apart, header first; every cell made printable. */
export function table(header: readonly string[], unsafeRows: readonly (readonly string[])[]): string {
  const rows = unsafeRows.map((row) => row.map(printable));
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
