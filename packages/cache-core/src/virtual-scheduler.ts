/**
 * A scheduler on virtual time, for tests and the cluster simulator: nothing happens until the
 * owner advances it, and then every timer due runs in order of its time (and, at the same time,
 * of when it was set), each followed by every promise chain it started, before the next one.
 * Randomness comes from a seeded generator. With every timer, clock and random draw of a program
 * going through one VirtualScheduler, the program runs the same way each time from the same seed,
 * as fast as the machine allows, whatever the machine's load.
 *
 * Not virtual: real I/O. Code under a VirtualScheduler must talk through in-process transports
 * (the in-memory network), whose deliveries are promise jobs.
 */
import type { Cancel, Scheduler } from './scheduler.js';

interface Timer {
  at: number;
  readonly seq: number;
  readonly task: () => void;
  /** 0 for a one-shot timer. */
  readonly every: number;
  cancelled: boolean;
}

export interface VirtualSchedulerOptions {
  /** Epoch ms the clock starts at. @default 1_700_000_000_000 */
  readonly start?: number;
  /** Seed of random(). @default 1 */
  readonly seed?: number;
}

/** Lets every promise job queued so far (and those they queue) run: one real event-loop turn. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

export class VirtualScheduler implements Scheduler {
  #now: number;
  #seq = 0;
  #state: number;
  readonly #heap: Timer[] = [];

  constructor(options: VirtualSchedulerOptions = {}) {
    this.#now = options.start ?? 1_700_000_000_000;
    this.#state = (options.seed ?? 1) >>> 0 || 1;
  }

  now = (): number => this.#now;

  // Delays are whole milliseconds, rounded up, as Node's timers keep them: time stays an integer,
  // as Date.now() is.
  setTimeout(task: () => void, millis: number): Cancel {
    return this.#add(task, Math.max(0, Math.ceil(millis)), 0);
  }

  setInterval(task: () => void, millis: number): Cancel {
    const every = Math.max(1, Math.ceil(millis));
    return this.#add(task, every, every);
  }

  nextTurn(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.setTimeout(resolve, 0);
    });
  }

  /** mulberry32: small, fast, and good enough for jitter and for a simulator's choices. */
  random(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Timers waiting (cancelled ones excluded). */
  get pending(): number {
    return this.#heap.filter((timer) => !timer.cancelled).length;
  }

  /** The time of the next live timer, or undefined when none is waiting. */
  get nextAt(): number | undefined {
    this.#dropCancelled();
    return this.#heap[0]?.at;
  }

  /** Moves the clock to `time`, running every timer due by then, in order. */
  async runUntil(time: number): Promise<void> {
    await settle();
    for (;;) {
      this.#dropCancelled();
      const next = this.#heap[0];
      if (next === undefined || next.at > time) break;
      this.#pop();
      this.#now = Math.max(this.#now, next.at);
      if (next.every > 0) {
        next.at = this.#now + next.every;
        this.#push(next);
      }
      next.task();
      await settle();
    }
    this.#now = Math.max(this.#now, Math.floor(time));
  }

  /** Runs every timer due in the next `millis`, and moves the clock that far. */
  advance(millis: number): Promise<void> {
    return this.runUntil(this.#now + millis);
  }

  #add(task: () => void, delay: number, every: number): Cancel {
    const timer: Timer = { at: this.#now + delay, seq: this.#seq++, task, every, cancelled: false };
    this.#push(timer);
    return () => {
      timer.cancelled = true;
    };
  }

  #dropCancelled(): void {
    while (this.#heap[0]?.cancelled === true) this.#pop();
  }

  // A binary min-heap on (at, seq).
  #before(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(heap[i] as Timer, heap[parent] as Timer)) break;
      [heap[i], heap[parent]] = [heap[parent] as Timer, heap[i] as Timer];
      i = parent;
    }
  }

  #pop(): Timer | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let smallest = i;
        if (left < heap.length && this.#before(heap[left] as Timer, heap[smallest] as Timer)) smallest = left;
        if (right < heap.length && this.#before(heap[right] as Timer, heap[smallest] as Timer)) smallest = right;
        if (smallest === i) break;
        [heap[i], heap[smallest]] = [heap[smallest] as Timer, heap[i] as Timer];
        i = smallest;
      }
    }
    return top;
  }
}
