/**
 * The soak script (bench/README.md's 10-minute run) refuses an option it does not know, or a value
 * that is not a positive number, naming it, with exit 2 before any node starts. It used to ignore
 * `--second 60` and run ten minutes at the defaults, and to die on `--seconds abc` with a stack.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { until } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { runTsxScript, type ScriptResult, startTsxScript } from './tsx-script.js';

/** The soak script, killed with its process group (and the nodes it would start) after 20 s. */
function soakScript(args: string[]): Promise<ScriptResult> {
  return runTsxScript('test/soak.ts', args, { killAfterMillis: 20_000 });
}

/** The pids of the cluster nodes (test/fixtures/cluster-process.ts) whose parent is `parent`, from /proc. */
function nodesOf(parent: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // The fields after the command's closing parenthesis: state, then the parent's pid.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parentPid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (parentPid === parent && command.includes('cluster-process.ts')) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Nodes a failing run left behind, stopped by pid. */
const leftover: number[] = [];
afterEach(() => {
  for (const pid of leftover.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe('test/soak.ts as a script', { timeout: 60_000 }, () => {
  it('stops its three nodes when it is stopped by its pid (SIGTERM)', async () => {
    const soak = startTsxScript('test/soak.ts', ['--seconds', '60'], { killAfterMillis: 50_000 });
    let nodes: number[] = [];
    await until(
      () => {
        nodes = nodesOf(soak.pid);
        return nodes.length === 3;
      },
      'the soak to start its three nodes',
      30_000,
    );
    leftover.push(...nodes);
    process.kill(soak.pid, 'SIGTERM');
    const { status } = await soak.finished;
    expect(status).toBe(143);
    // Before, the script exited and its nodes ran on.
    await until(() => nodes.every((pid) => !alive(pid)), 'the nodes to be stopped', 10_000);
  });

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
