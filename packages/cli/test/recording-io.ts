/** An Io that records what a command writes, with an interrupt the test can fire. */
import type { Io } from '../src/index.js';

export interface RecordingIo extends Io {
  readonly stdout: () => string;
  readonly stderr: () => string;
  interrupt(): void;
}

export function recordingIo(env: NodeJS.ProcessEnv = {}): RecordingIo {
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
    stdout: () => out,
    stderr: () => err,
    interrupt: () => fire('SIGINT'),
  };
}
