/**
 * `npm run simulate`'s command line (simulation/cli.ts), run as the process a user runs: a bad
 * option is refused with exit 2 and a line naming it, before any seed runs; a good one runs.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('./simulation/cli.ts', import.meta.url));

interface Exit {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the simulator's CLI with `args`. A run that ignored a bad option goes on to 500 seeds per
 * mode; execFile's bound stops that process (by its pid) so the test fails on its exit code.
 */
function simulate(...args: string[]): Promise<Exit> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--conditions=@meshcache/source', '--import', 'tsx', CLI, ...args],
      { timeout: 60_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('npm run simulate', () => {
  it.each([
    [['--seed', '5'], /--seed\b/], // misspelt: was ignored, and 2,500 seeds ran
    [['--seeds', '1', '--mode', 'calm', '--chaos-millis', 'abc'], /--chaos-millis .*"abc"/], // was NaN: never ended
    [['--seeds', '0'], /--seeds .*at least 1.*"0"/],
    [['--from', '2.5', '--seeds', '1'], /--from .*"2.5"/],
    [['--mode', 'chaotic', '--seeds', '1'], /--mode .*"chaotic"/],
    [['--seeds', '1', 'calm'], /calm/],
  ])(
    'refuses %j with exit 2 and a line naming what was wrong',
    async (args, names) => {
      const { code, stdout, stderr } = await simulate(...args);
      expect(code).toBe(2);
      expect(stderr).toMatch(/^simulate: /);
      expect(stderr).toMatch(names);
      expect(stdout).toBe('');
    },
    90_000,
  );

  it('runs the seeds of the mode it is given, written either way, after npm\'s "--"', async () => {
    const { code, stdout } = await simulate('--', '--mode=calm', '--seeds', '1', '--from', '3');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^calm: seeds 3-3: 1 passed, 0 failed;/);
  }, 90_000);
});
