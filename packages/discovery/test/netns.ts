/**
 * mDNS runs only inside a private network namespace that a test makes (`unshare --net`): nothing
 * leaves the machine. That needs root (or user namespaces) and util-linux's unshare.
 *
 * - inNamespace(): the shell command that runs `command` in such a namespace, loopback up,
 *   multicast on, and a route for 224.0.0.0/4, so mDNS works there and nowhere else.
 * - namespaceSupport(): whether this machine can make one, probed once (`unshare --net true`).
 * - mdnsTest(): `it` for the tests that need one. In CI (CI set) they always run, and a machine
 *   that cannot make a namespace fails them. Elsewhere (a contributor without root) they do not
 *   run, and one line on stderr says why.
 *
 * Used by every test that starts mDNS (here and in the repository's test/).
 */
import { spawnSync } from 'node:child_process';
import { it } from 'vitest';

export function inNamespace(command: string): string {
  return `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec ${command}`;
}

let probed: { readonly ok: true } | { readonly ok: false; readonly why: string } | undefined;

/** Whether `unshare --net` works here, and if not, why (probed once per process). */
export function namespaceSupport(): { readonly ok: true } | { readonly ok: false; readonly why: string } {
  if (probed !== undefined) return probed;
  const run = spawnSync('unshare', ['--net', 'true'], { encoding: 'utf8', timeout: 10_000 });
  if (run.error !== undefined) {
    probed = {
      ok: false,
      why: (run.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'unshare is not installed' : run.error.message,
    };
  } else if (run.status !== 0) {
    probed = { ok: false, why: run.stderr.trim() || `unshare --net exited with ${run.status}` };
  } else {
    probed = { ok: true };
  }
  return probed;
}

/** `it`, for a test that needs a network namespace: see the header for when it runs. */
export function mdnsTest(name: string, test: () => void | Promise<void>, timeout: number): void {
  const support = namespaceSupport();
  if (!support.ok && process.env['CI'] === undefined) {
    process.stderr.write(
      `mDNS test not run: "${name}" needs a private network namespace, and this machine cannot make one (${support.why}); run the tests as root with util-linux's unshare to include it (CI always does)\n`,
    );
    it.skip(name, test, timeout);
    return;
  }
  it(name, test, timeout);
}
