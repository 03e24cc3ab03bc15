import { describe, expect, it } from 'vitest';
import { CacheManager } from '../src/index.js';
import { VirtualScheduler } from '../src/testing.js';

describe('VirtualScheduler', () => {
  it('runs timers in order of time, then of setting, and moves the clock to each', async () => {
    const scheduler = new VirtualScheduler({ start: 1000 });
    const ran: string[] = [];
    scheduler.setTimeout(() => ran.push(`b@${scheduler.now()}`), 20);
    scheduler.setTimeout(() => ran.push(`a@${scheduler.now()}`), 10);
    scheduler.setTimeout(() => ran.push(`c@${scheduler.now()}`), 20);
    const cancelled = scheduler.setTimeout(() => ran.push('never'), 15);
    cancelled();
    await scheduler.advance(19);
    expect(ran).toEqual(['a@1010']);
    expect(scheduler.now()).toBe(1019);
    await scheduler.advance(1);
    expect(ran).toEqual(['a@1010', 'b@1020', 'c@1020']);
  });

  it('repeats an interval until it is cancelled, and lets each task’s promise chains settle first', async () => {
    const scheduler = new VirtualScheduler({ start: 0 });
    const ran: number[] = [];
    const cancel = scheduler.setInterval(() => {
      void Promise.resolve().then(() => ran.push(scheduler.now()));
    }, 100);
    await scheduler.advance(350);
    expect(ran).toEqual([100, 200, 300]);
    cancel();
    await scheduler.advance(1000);
    expect(ran).toEqual([100, 200, 300]);
    expect(scheduler.pending).toBe(0);
  });

  it('gives the same random numbers for the same seed, and others for another', () => {
    const draw = (seed: number) => {
      const scheduler = new VirtualScheduler({ seed });
      return Array.from({ length: 5 }, () => scheduler.random());
    };
    const first = new VirtualScheduler({ seed: 7 });
    const again = new VirtualScheduler({ seed: 7 });
    const a = Array.from({ length: 100 }, () => first.random());
    expect(Array.from({ length: 100 }, () => again.random())).toEqual(a);
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(draw(8)).not.toEqual(draw(7));
  });

  it('drives a CacheManager’s expiry sweep on virtual time', async () => {
    // At a multiple of the interval: the sweep runs at the next one, a minute on.
    const scheduler = new VirtualScheduler({ start: 1_700_000_040_000 });
    const manager = new CacheManager({ scheduler });
    const cache = manager.addCache('c', { timeToLiveSeconds: 10, diskExpiryThreadIntervalSeconds: 60 });
    const expired: string[] = [];
    cache.on('expire', (event) => expired.push(event.key as string));
    cache.put('k', 1);
    await scheduler.advance(59_000);
    expect(expired).toEqual([]); // expired at 10 s, but nothing read it and the sweep has not run
    await scheduler.advance(1_000);
    expect(expired).toEqual(['k']);
    await manager.shutdown();
  });
});
