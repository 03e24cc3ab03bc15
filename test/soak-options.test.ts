/**
 * The soak script (bench/README.md's 10-minute run) refuses an option it does not know, or a value
 * that is not a positive number, naming it, with exit 2 before any node starts. It used to ignore
 * `--second 60` and run ten minutes at the defaults, and to die on `--seconds abc` with a stack.
 */
import { describe, expect, it } from 'vitest';
import { runTsxScript, type ScriptResult } from './tsx-script.js';

/** The soak script, killed with its process group (and the nodes it would start) after 20 s. */
function soakScript(args: string[]): Promise<ScriptResult> {
  return runTsxScript('test/soak.ts', args, { killAfterMillis: 20_000 });
}

describe('test/soak.ts as a script', { timeout: 30_000 }, () => {
  it('refuses an unknown option, naming it, before any node starts', async () => {
    const { status, stdout, stderr } = await soakScript(['--second', '5']);
    expect(stderr).toContain("soak: Unknown option '--second'");
    expect(stderr).toContain('usage: node --conditions=@meshcache/source --import tsx test/soak.ts');
    expect(stdout).not.toContain('soak: 3 nodes');
    expect(status).toBe(2);
  });

  it('names a value that is not a positive number', async () => {
    const { status, stderr } = await soakScript(['--seconds', 'abc']);
    expect(stderr).toContain('soak: --seconds must be a positive number, got "abc"');
    expect(status).toBe(2);
  });
});
