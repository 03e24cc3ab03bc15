import { isIPv4, isIPv6 } from 'node:net';

/**
 * For logs that someone outside could otherwise flood: says yes the first time a thing (a remote
 * host's refusal, a peer's outage) happens in a window, or its first `times` times, and no until
 * that window is over. It remembers at most `capacity` things; past it, it forgets them all at
 * once, so a flood of distinct things (rotating addresses) costs a log line each, never memory.
 */
export class OncePerWindow {
  readonly #now: () => number;
  readonly #windowMillis: number;
  readonly #capacity: number;
  readonly #times: number;
  /** Per thing: when its window began, and how many times it has been said yes in it. */
  readonly #windows = new Map<string, { readonly startedAt: number; count: number }>();

  constructor(now: () => number, windowMillis = 60_000, capacity = 1024, times = 1) {
    this.#now = now;
    this.#windowMillis = windowMillis;
    this.#capacity = capacity;
    this.#times = times;
  }

  /** True the first `times` times `what` happens in a window (once, by default), false until the window is over. */
  first(what: string): boolean {
    const now = this.#now();
    const window = this.#windows.get(what);
    if (window !== undefined && now - window.startedAt < this.#windowMillis) {
      if (window.count >= this.#times) return false;
      window.count++;
      return true;
    }
    if (this.#windows.size >= this.#capacity) this.#windows.clear();
    this.#windows.set(what, { startedAt: now, count: 1 });
    return true;
  }
}

/**
 * The host a connection comes from, for limits and logs per host: the address without its port
 * (`127.0.0.1:51234`, `::1:51234` and `?:?`, as the transports give them), an IPv6 address by its
 * /64 (a site's prefix: whoever holds one has 2^64 addresses to rotate through) and an IPv4
 * address mapped into IPv6 as the IPv4 address. A name without a port is its own host.
 */
export function hostOf(remoteAddress: string): string {
  const port = /:(\d+|\?)$/.exec(remoteAddress);
  const host = port === null || port.index === 0 ? remoteAddress : remoteAddress.slice(0, port.index);
  if (isIPv4(host)) return host;
  if (!isIPv6(host)) return host;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  if (mapped !== null) return mapped[1] as string;
  return `${ipv6Groups(host.replace(/%.*$/, '')).slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address (without a zone), each in lower-case hex without leading zeros. */
function ipv6Groups(address: string): string[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const front = head === '' ? [] : head.split(':');
  const back = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - front.length - back.length).fill('0');
  return [...front, ...zeros, ...back].map((group) => Number.parseInt(group, 16).toString(16));
}
