/**
 * The log of `meshcache serve`: one line per event on standard error, `time level message
 * key=value ...`, so peers coming and going, refusals and bootstrap progress can be read as
 * they happen. It has the pino-compatible shape the node takes (`info(obj, msg)`); debug lines
 * only with --verbose.
 */
import type { Logger } from '@meshcache/core';
import { jsonLine } from './format.js';
import { type Io, styles } from './io.js';

export function lineLogger(io: Io, verbose: boolean): Logger {
  const style = styles(io);
  const colour = { debug: style.dim, info: style.cyan, warn: style.yellow, error: style.red };
  const write = (level: keyof typeof colour) => (obj: object, msg?: string) => {
    const fields = Object.entries(obj)
      .filter(([, value]) => value !== undefined)
      .map(([key, value]) => `${key}=${describe(value)}`)
      .join(' ');
    io.err(
      `${new Date().toISOString()} ${colour[level](level.padEnd(5))} ${msg ?? ''}${fields === '' ? '' : ` ${style.dim(fields)}`}\n`,
    );
  };
  return {
    debug: verbose ? write('debug') : () => {},
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
  };
}

/** A field's value for the log line; anything a peer may have supplied is escaped (jsonLine). */
function describe(value: unknown): string {
  if (value instanceof Error) return jsonLine(value.message);
  if (typeof value === 'string') return /^[\w./:@-]+$/.test(value) ? value : jsonLine(value);
  return jsonLine(value);
}
