/** An Io that records what a command writes, with an interrupt the test can fire. */
import { Readable } from 'node:stream';
import type { Io } from '../src/index.js';
import { readAll } from '../src/io.js';

export interface RecordingIo extends Io {
  readonly stdout: () => string;
  readonly stderr: () => string;
  interrupt(): void;
}

/** `stdin`: what standard input holds, read by readAll as the real one is; none when undefined. */
export function recordingIo(env: NodeJS.ProcessEnv = {}, stdin?: string | Buffer): RecordingIo {
  let out = '';
  let err = '';
  let fire: (signal: string) => void = () => {};
  const interrupted = new Promise<string>((resolve) => {
    fire = resolve;
  });
  return {
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
    env,
    tty: false,
    interrupted,
    ...(stdin === undefined
      ? {}
      : { readStdin: (maxBytes: number) => readAll(Readable.from([Buffer.from(stdin)]), maxBytes) }),
    stdout: () => out,
    stderr: () => err,
    interrupt: () => fire('SIGINT'),
  };
}
