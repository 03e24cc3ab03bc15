/**
 * For logs that someone outside could otherwise flood: says yes the first time a thing (a remote
 * host's refusal, a peer's outage) happens in a window, and no until that window is over. It
 * remembers at most `capacity` things; past it, it forgets them all at once, so a flood of
 * distinct things (rotating addresses) costs a log line each, never memory.
 */
export class OncePerWindow {
  readonly #now: () => number;
  readonly #windowMillis: number;
  readonly #capacity: number;
  readonly #firstAt = new Map<string, number>();

  constructor(now: () => number, windowMillis = 60_000, capacity = 1024) {
    this.#now = now;
    this.#windowMillis = windowMillis;
    this.#capacity = capacity;
  }

  /** True the first time `what` happens in a window, false until the window is over. */
  first(what: string): boolean {
    const now = this.#now();
    const firstAt = this.#firstAt.get(what);
    if (firstAt !== undefined && now - firstAt < this.#windowMillis) return false;
    if (this.#firstAt.size >= this.#capacity) this.#firstAt.clear();
    this.#firstAt.set(what, now);
    return true;
  }
}

/**
 * The host part of a connection's remote address (`127.0.0.1:51234`, `::1:51234`, `?:?` where the
 * socket did not say), for limits and logs per host; an address without a port is its own host.
 */
export function hostOf(remoteAddress: string): string {
  const port = /:(\d+|\?)$/.exec(remoteAddress);
  return port === null || port.index === 0 ? remoteAddress : remoteAddress.slice(0, port.index);
}
