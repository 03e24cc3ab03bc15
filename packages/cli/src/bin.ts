#!/usr/bin/env node
import { processIo } from './io.js';
import { run } from './program.js';

run(process.argv.slice(2), processIo()).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`meshcache: unexpected failure: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
