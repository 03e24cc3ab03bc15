import { describe, expect, it } from 'vitest';
import { HillClimber } from '../src/policy/hill-climber.js';

describe('hill climber (the window of W-TinyLFU)', () => {
  it('grows the window when a slot of it earned more than a slot of the main space', () => {
    const climber = new HillClimber(1000);
    // 100-entry window, 900-entry main: 300 window hits (3 a slot) against 900 main hits (1 a slot).
    const next = climber.adapt(300, 900, 100);
    expect(next).toBeGreaterThan(100);
  });

  it('shrinks it in the opposite case, and moves further the further from balance', () => {
    const climber = new HillClimber(1000);
    const near = climber.adapt(90, 1000, 100); // 0.9 against 1.1 a slot
    const far = climber.adapt(10, 1000, 100); // 0.1 against 1.1 a slot
    expect(near).toBeLessThan(100);
    expect(far).toBeLessThan(near);
  });

  it('stays put at the balance', () => {
    const climber = new HillClimber(1000);
    expect(climber.adapt(200, 800, 200)).toBe(200);
  });

  it('never steps by more than 30% of the capacity', () => {
    const climber = new HillClimber(1000);
    expect(climber.adapt(100_000, 0, 100)).toBe(400);
    expect(climber.adapt(0, 100_000, 900)).toBe(600);
  });

  it('keeps the window between 2% of the capacity (at least 1) and all but one entry', () => {
    const climber = new HillClimber(1000);
    expect(climber.adapt(0, 100_000, 25)).toBe(20);
    expect(climber.adapt(100_000, 0, 990)).toBe(999);
    const tiny = new HillClimber(3);
    expect(tiny.adapt(0, 100, 1)).toBe(1);
    expect(tiny.adapt(100, 0, 1)).toBe(2);
    const one = new HillClimber(1);
    expect(one.adapt(100, 0, 1)).toBe(1);
    expect(one.adapt(0, 100, 1)).toBe(1);
  });

  it('samples 5 requests per entry, at least 1,280', () => {
    expect(new HillClimber(10_000).samplePeriod).toBe(50_000);
    expect(new HillClimber(10).samplePeriod).toBe(1280);
  });
});
