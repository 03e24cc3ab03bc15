/**
 * The soak script (bench/README.md's 10-minute run) refuses an option it does not know, or a value
 * that is not a positive number, naming it, with exit 2 before any node starts. It used to ignore
 * `--second 60` and run ten minutes at the defaults, and to die on `--seconds abc` with a stack.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Runs the script in a process group of its own. A script that ignored the mistake would start
 * three nodes and run on: after 20 s the whole group (the script and its nodes, by the script's
 * pid) is killed, and the assertions below fail.
 */
function soakScript(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      ['--conditions=@meshcache/source', '--import', 'tsx', 'test/soak.ts', ...args],
      {
        cwd: root,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    }, 20_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      done({ status, stdout, stderr });
    });
  });
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
