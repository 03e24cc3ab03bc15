/**
 * How long a link's replication lag is shown after the batch it was measured on. A receiver knows
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

/** The lag `millis` measured at `at`, as shown at `now`: null before the first, and once LAG_HELD_MILLIS passed. */
export function heldLag(millis: number | null, at: number, now: number): number | null {
  return millis === null || now - at > LAG_HELD_MILLIS ? null : millis;
}
