#!/usr/bin/env node
import { exitAfterOutput, processIo } from './io.js';
import { run } from './program.js';

run(process.argv.slice(2), processIo()).then(
  (code) => exitAfterOutput(code),
  (error: unknown) => {
    process.stderr.write(`meshcache: unexpected failure: ${(error as Error).stack ?? String(error)}\n`);
    exitAfterOutput(1);
  },
);
