import { describe, expect, it } from 'vitest';
import { hashKey } from '../src/policy/frequency-sketch.js';
import { RecentKeys } from '../src/policy/recent-keys.js';

describe('recent keys (a ghost region)', () => {
  it('remembers every one of the last n keys added', () => {
    const recent = new RecentKeys(1000);
    for (let i = 0; i < 5000; i++) recent.add(hashKey(`k${i}`));
    const forgotten = [];
    for (let i = 4000; i < 5000; i++) if (!recent.has(hashKey(`k${i}`))) forgotten.push(i);
    expect(forgotten).toEqual([]);
  });

  it('forgets keys added more than 2n additions ago', () => {
    const recent = new RecentKeys(1000);
    recent.add(hashKey('old'));
    for (let i = 0; i < 2000; i++) recent.add(hashKey(`k${i}`));
    expect(recent.has(hashKey('old'))).toBe(false);
  });

  it('rarely claims a key it was never given (false positives under 5%)', () => {
    const recent = new RecentKeys(1000);
    for (let i = 0; i < 1999; i++) recent.add(hashKey(`k${i}`)); // both generations full
    let falsePositives = 0;
    for (let i = 0; i < 10_000; i++) if (recent.has(hashKey(`never-${i}`))) falsePositives++;
    expect(falsePositives).toBeLessThan(500);
  });
});
