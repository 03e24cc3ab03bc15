/**
 * A link's replication lag, shown for a while after the batch it was measured on. A receiver knows
 * only how old the newest change of the last batch was when it applied it. While changes come, a
 * batch follows every asynchronous interval and the figure stays fresh; once none comes, the peer
 * has nothing on its way here, and the last figure, shown for good, read as a peer still behind:
 * after a burst that ran a second late, `meshcache_peer_lag_seconds > 1` fired on an idle link
 * forever. So the figure is shown for a minute after its batch (long enough for a scrape to see a
 * burst's lag), then not at all, as before the first batch: PostgreSQL's replay_lag does the same
 * once a standby has caught up and the primary goes quiet.
 */

/** How long a lag figure is shown after the batch it was measured on. */
export const LAG_HELD_MILLIS = 60_000;

export class HeldLag {
  /** The lag of the last batch (ms; null before the first), and when it was applied (epoch ms). */
  #millis: number | null = null;
  #at = 0;

  /** A batch whose newest change was stamped `newest` was applied at `now` (both epoch ms, this node's clock). */
  record(newest: number, now: number): void {
    this.#millis = Math.max(0, now - newest);
    this.#at = now;
  }

  /** The lag as shown at `now`: null before the first batch, and once LAG_HELD_MILLIS passed since the last. */
  shownAt(now: number): number | null {
    return this.#millis === null || now - this.#at > LAG_HELD_MILLIS ? null : this.#millis;
  }
}
