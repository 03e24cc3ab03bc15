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
  /**
   * Resolves with the signal's name when the user asks to stop (SIGINT, SIGTERM). In the real
   * process, reading it is what makes those signals this command's to answer: a command that
   * never reads it keeps Node's default, and ends at once.
   */
  readonly interrupted: Promise<string>;
  /** Resolves when standard output's reader has gone (a closed pipe): a watch ends; a server keeps serving. */
  readonly outputClosed?: Promise<void>;
  /**
   * Standard input, read to its end; rejects once it passes `maxBytes` (a value piped in: `put
   * --value-file -`). Absent where there is none to read.
   */
  readonly readStdin?: (maxBytes: number) => Promise<Buffer>;
}

/**
 * The Io of the real process. Output whose reader went away (a closed pipe: `| head`, a log
 * shipper that died) is dropped from then on, never an unhandled EPIPE that ends the process: a
 * node keeps serving without its log reader, and a watch ends as a Unix tool ends on SIGPIPE
 * (`outputClosed`).
 */
export function processIo(): Io {
  let stdoutOpen = true;
  let stderrOpen = true;
  // Taken over only by a command that reads `interrupted` (serve, demo, peers --watch), and only
  // from then on. Taken at start for every command, SIGINT and SIGTERM were caught and heard by
  // nothing in the others: Ctrl-C on a `get` whose node did not answer, or on a `put --value-file -`
  // waiting for its input, did nothing until --timeout ran out (up to 24 days) or a second one came.
  let interrupted: Promise<string> | undefined;
  const outputClosed = new Promise<void>((resolve) => {
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      stdoutOpen = false;
      // A reader gone is the usual end of a pipe; anything else (a full disk under `> log`) is said once.
      if (error.code !== 'EPIPE' && stderrOpen) {
        process.stderr.write(`meshcache: standard output failed (${error.message}); nothing more is written to it\n`);
      }
      resolve();
    });
  });
  process.stderr.on('error', () => {
    stderrOpen = false;
  });
  return {
    out: (text) => {
      if (stdoutOpen) process.stdout.write(text);
    },
    err: (text) => {
      if (stderrOpen) process.stderr.write(text);
    },
    env: process.env,
    tty: process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined,
    get interrupted() {
      interrupted ??= new Promise<string>((resolve) => {
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve(signal));
      });
      return interrupted;
    },
    outputClosed,
    readStdin: (maxBytes) => readAll(process.stdin, maxBytes),
  };
}

/** A stream read to its end, refused (and let go) once past `maxBytes`. */
export async function readAll(stream: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream) {
    const piece = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += piece.length;
    if (bytes > maxBytes) throw new RangeError(`more than ${maxBytes} bytes`);
    chunks.push(piece);
  }
  return Buffer.concat(chunks);
}

/**
 * Ends the process with `code` once what was written to stdout and stderr has been handed to
 * the system: process.exit() at once cut piped output at 64 KiB (`meshcache get ... | jq`). A
 * reader that never reads holds it at most `maxWaitMillis`, and the exit is then a failure (1).
 */
export function exitAfterOutput(code: number, maxWaitMillis = 30_000): void {
  let pending = 2;
  const done = () => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
  // Output cut short is a failure whatever the command's own code said.
  setTimeout(() => process.exit(code === 0 ? 1 : code), maxWaitMillis);
}

/** ANSI styles, or nothing when output is not a terminal. */
export function styles(io: Io) {
  const wrap = (code: string) => (text: string) => (io.tty ? `\u001b[${code}m${text}\u001b[0m` : text);
  return { bold: wrap('1'), dim: wrap('2'), red: wrap('31'), green: wrap('32'), yellow: wrap('33'), cyan: wrap('36') };
}
