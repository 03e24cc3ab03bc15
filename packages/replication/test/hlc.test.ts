import { compareVersions, type Version } from '@meshcache/core';
import { ManualClock } from '@meshcache/core/testing';
import { describe, expect, it } from 'vitest';
import { HybridLogicalClock } from '../src/internals.js';

describe('HybridLogicalClock', () => {
  it('follows the wall clock and orders writes within one millisecond by a counter', () => {
    const wall = new ManualClock(1000);
    const hlc = new HybridLogicalClock({ node: 'a', clock: wall.now });
    expect(hlc.now()).toEqual({ time: 1000, counter: 0, node: 'a' });
    expect(hlc.now()).toEqual({ time: 1000, counter: 1, node: 'a' });
    wall.advance(5);
    expect(hlc.now()).toEqual({ time: 1005, counter: 0, node: 'a' });
  });

  it('never goes backwards, even when the wall clock does', () => {
    const wall = new ManualClock(1000);
    const hlc = new HybridLogicalClock({ node: 'a', clock: wall.now });
    const versions: Version[] = [];
    for (const step of [0, 3, -2, -100, 0, 50]) {
      wall.set(wall.now() + step);
      versions.push(hlc.now());
    }
    for (let i = 1; i < versions.length; i++) expect(compareVersions(versions[i], versions[i - 1])).toBeGreaterThan(0);
  });

  it('after receiving a peer version, stamps newer versions even with a slower wall clock', () => {
    const behind = new HybridLogicalClock({ node: 'b', clock: new ManualClock(1000).now });
    const peer: Version = { time: 5000, counter: 7, node: 'a' };
    behind.receive(peer);
    const next = behind.now();
    expect(compareVersions(next, peer)).toBeGreaterThan(0);
    expect(next).toEqual({ time: 5000, counter: 8, node: 'b' });
  });

  it('tells its time without making a version: the later of the wall clock and the newest version seen', () => {
    const wall = new ManualClock(1000);
    const hlc = new HybridLogicalClock({ node: 'a', clock: wall.now });
    expect(hlc.time()).toBe(1000);
    hlc.receive({ time: 5000, counter: 3, node: 'b' }); // a peer's clock 4 s ahead
    expect(hlc.time()).toBe(5000);
    expect(hlc.now()).toEqual({ time: 5000, counter: 4, node: 'a' }); // time() made no version
    wall.advance(10_000);
    expect(hlc.time()).toBe(11_000);
  });

  it("stamps newer than a version it is given (the cache's own, kept on disk across a restart), past the drift bound too", () => {
    const wall = new ManualClock(1000);
    const hlc = new HybridLogicalClock({ node: 'a', clock: wall.now });
    // An hour ahead of this clock: its own history, written before the wall clock was stepped back.
    const kept = { time: 3_601_000, counter: 7, node: 'a' };
    expect(hlc.now(kept)).toEqual({ time: 3_601_000, counter: 8, node: 'a' });
    expect(hlc.now()).toEqual({ time: 3_601_000, counter: 9, node: 'a' });
    // An older one changes nothing.
    expect(hlc.now({ time: 5, counter: 0, node: 'b' })).toEqual({ time: 3_601_000, counter: 10, node: 'a' });
  });

  it('ignores an older peer version', () => {
    const hlc = new HybridLogicalClock({ node: 'b', clock: new ManualClock(9000).now });
    hlc.now();
    hlc.receive({ time: 5000, counter: 99, node: 'a' });
    expect(hlc.now()).toEqual({ time: 9000, counter: 1, node: 'b' });
  });

  it('refuses a peer version too far ahead of this node, with E_CLOCK_DRIFT', () => {
    const hlc = new HybridLogicalClock({ node: 'b', clock: new ManualClock(1000).now, maxDriftMillis: 500 });
    expect(() => hlc.receive({ time: 1501, counter: 0, node: 'a' })).toThrow(
      expect.objectContaining({ code: 'E_CLOCK_DRIFT', message: expect.stringContaining('node "a" is 501 ms ahead') }),
    );
    expect(hlc.now().time).toBe(1000);
  });

  it('reads its clock for a received version only when the last reading would refuse it', () => {
    const wall = new ManualClock(1000);
    let readings = 0;
    const clock = () => {
      readings++;
      return wall.now();
    };
    const hlc = new HybridLogicalClock({ node: 'b', clock, maxDriftMillis: 500 });
    for (let counter = 0; counter < 1000; counter++) hlc.receive({ time: 1200, counter, node: 'a' });
    expect(readings).toBe(1);
    wall.advance(1000); // 2000: a version at 2400 is within the bound of the clock, not of the last reading
    hlc.receive({ time: 2400, counter: 0, node: 'a' });
    expect(readings).toBe(2);
    expect(() => hlc.receive({ time: 2501, counter: 0, node: 'a' })).toThrow(
      expect.objectContaining({ code: 'E_CLOCK_DRIFT' }),
    );
  });

  it('stamps whole milliseconds whatever its clock gives (a fractional time would not cross the wire)', () => {
    const hlc = new HybridLogicalClock({ node: 'a', clock: () => 1000.75 });
    expect(hlc.now()).toEqual({ time: 1000, counter: 0, node: 'a' });
  });

  it('refuses an empty node id', () => {
    expect(() => new HybridLogicalClock({ node: '' })).toThrow(/node must be a non-empty string/);
  });
});
