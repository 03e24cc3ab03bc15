/**
 * What every PeerProvider must do (src/peer-provider.ts), as one check that any test runner can
 * call: vitest for the manual and DNS providers, and a script inside a private network namespace
 * for mDNS (multicast may only run there). It throws an Error naming the first broken promise.
 */
import { until } from '@meshcache/core/testing';
import type { PeerEvent, PeerProvider } from '../src/index.js';

export interface ProviderHarness {
  /** A fresh provider that knows no peers yet. */
  create(): PeerProvider;
  /** Makes a peer called `id` appear to the provider; resolves with the URL it will report. */
  appear(id: string): Promise<string>;
  /** Makes it go away. */
  disappear(id: string): Promise<void>;
  /** How long an event may take to arrive. */
  readonly eventTimeoutMillis: number;
}

function check(condition: boolean, promise: string): void {
  if (!condition) throw new Error(`provider conformance: ${promise}`);
}

function waitFor(condition: () => boolean, timeoutMillis: number, what: string): Promise<true> {
  return until(condition, `provider conformance: ${what}`, timeoutMillis);
}

export async function checkProviderConformance(harness: ProviderHarness): Promise<void> {
  const provider = harness.create();
  const timeout = harness.eventTimeoutMillis;
  check(provider.peers().length === 0, 'peers() is empty before start');
  const events: PeerEvent[] = [];
  const unsubscribe = provider.onChange((event) => events.push(event));
  await provider.start();
  await provider.start(); // idempotent
  const count = (type: 'up' | 'down', url: string) =>
    events.filter((e) => e.type === type && e.peer.url === url).length;

  const one = await harness.appear('one');
  await waitFor(() => count('up', one) === 1, timeout, `"up" for ${one}`);
  const listed = provider.peers().find((peer) => peer.url === one);
  check(listed !== undefined, 'peers() lists a peer once it is up');
  check(listed?.foundBy === provider.mode, `a peer says it was found by "${provider.mode}"`);

  const two = await harness.appear('two');
  await waitFor(() => count('up', two) === 1, timeout, `"up" for ${two}`);
  check(count('up', one) === 1, 'a peer that stays up is reported up once');

  const second: PeerEvent[] = [];
  const unsubscribeSecond = provider.onChange((event) => second.push(event));
  unsubscribeSecond();
  await harness.disappear('one');
  await waitFor(() => count('down', one) === 1, timeout, `"down" for ${one}`);
  const urls = provider.peers().map((peer) => peer.url);
  check(!urls.includes(one) && urls.includes(two), 'peers() drops a peer that went down, and only that one');
  check(second.length === 0, 'an unsubscribed listener hears nothing');

  await provider.stop();
  await provider.stop(); // idempotent
  const before = events.length;
  await harness.disappear('two');
  await harness.appear('three');
  await new Promise((resolve) => setTimeout(resolve, Math.min(timeout, 1500)));
  check(events.length === before, 'no event is delivered after stop()');
  unsubscribe();
}
