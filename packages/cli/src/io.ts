/**
 * Where a command's output goes, and what it may know of its surroundings. The real program
 * wires process streams and signals; tests pass an Io that records, so every command runs
 * in-process exactly as it runs in a terminal.
 */
export interface Io {
  /** Writes to standard output (text includes its own newlines). */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  readonly env: NodeJS.ProcessEnv;
  /** Colours and in-place refreshes only when a person is watching (a TTY, NO_COLOR unset). */
  readonly tty: boolean;
  /** Resolves with the signal's name when the user asks to stop (SIGINT, SIGTERM). */
  readonly interrupted: Promise<string>;
}

/**
 * The Io of the real process. A reader that goes away (`meshcache peers --watch | head`) ends
 * the command as SIGPIPE ends a Unix tool, but through the same graceful stop as SIGINT: the
 * write's EPIPE would otherwise be an unhandled error and a stack trace.
 */
export function processIo(): Io {
  let stdoutClosed = false;
  const interrupted = new Promise<string>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
      stdoutClosed = true;
      resolve('SIGPIPE');
    });
  });
  return {
    out: (text) => {
      if (!stdoutClosed) process.stdout.write(text);
    },
    err: (text) => process.stderr.write(text),
    env: process.env,
    tty: process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined,
    interrupted,
  };
}

/** ANSI styles, or nothing when output is not a terminal. */
export function styles(io: Io) {
  const wrap = (code: string) => (text: string) => (io.tty ? `\u001b[${code}m${text}\u001b[0m` : text);
  return { bold: wrap('1'), dim: wrap('2'), red: wrap('31'), green: wrap('32'), yellow: wrap('33'), cyan: wrap('36') };
}
