/**
 * One node's view of the simulation's scheduler: its own clock (the shared virtual time plus the
 * node's skew), its timers (which a crash cancels all at once, as a killed process loses its
 * timers), and a lag that makes each timer fire late, as on an overloaded host.
 */
import type { Cancel, Scheduler } from '@meshcache/core';

export class NodeScheduler implements Scheduler {
  readonly #shared: Scheduler;
  readonly #cancels = new Set<Cancel>();
  #dead = false;
  /** Milliseconds this node's clock is ahead of the simulation's (negative: behind). */
  skewMillis: number;
  /** Milliseconds every timer of this node fires late (an overloaded event loop). */
  lagMillis = 0;

  constructor(shared: Scheduler, skewMillis = 0) {
    this.#shared = shared;
    this.skewMillis = skewMillis;
  }

  now = (): number => this.#shared.now() + this.skewMillis;

  setTimeout(task: () => void, millis: number): Cancel {
    if (this.#dead) return () => {};
    const cancel = this.#shared.setTimeout(() => {
      this.#cancels.delete(cancel);
      if (!this.#dead) task();
    }, millis + this.lagMillis);
    this.#cancels.add(cancel);
    return () => {
      cancel();
      this.#cancels.delete(cancel);
    };
  }

  setInterval(task: () => void, millis: number): Cancel {
    if (this.#dead) return () => {};
    const cancel = this.#shared.setInterval(() => {
      if (!this.#dead) task();
    }, millis + this.lagMillis);
    this.#cancels.add(cancel);
    return () => {
      cancel();
      this.#cancels.delete(cancel);
    };
  }

  nextTurn(): Promise<void> {
    // A dead node's pending work never resumes: its promise chains end here.
    return new Promise<void>((resolve) => {
      this.setTimeout(resolve, 0);
    });
  }

  random(): number {
    return this.#shared.random();
  }

  /** The process is gone: every timer of this node is cancelled, and none runs again. */
  kill(): void {
    this.#dead = true;
    for (const cancel of this.#cancels) cancel();
    this.#cancels.clear();
  }

  get dead(): boolean {
    return this.#dead;
  }
}
