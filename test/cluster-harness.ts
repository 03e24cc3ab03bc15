/**
 * The process helpers of node-processes.ts for vitest: every process a test started is stopped,
 * by its pid, after the test.
 */
import { afterEach } from 'vitest';
import { stopAll } from './node-processes.js';

export * from './node-processes.js';

afterEach(stopAll);
