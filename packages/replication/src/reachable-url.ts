/**
 * The URL to show for a peer: the one it advertised, unless that names a wildcard host (a node
 * listening on 0.0.0.0 or ::, as in a container, advertises ws://0.0.0.0:port), which says
 * nothing about where it is. Then the address it was reached at, or came from, takes its place:
 * `meshcache peers` listed every such peer as ws://0.0.0.0:port (found by a review).
 */
import { isIP } from 'node:net';

const WILDCARDS = new Set(['0.0.0.0', '[::]']);

/** Whether `url` names a wildcard host (0.0.0.0 or ::). */
export function namesWildcard(url: string): boolean {
  try {
    return WILDCARDS.has(new URL(url).hostname);
  } catch {
    return false;
  }
}

/**
 * `advertised`, its wildcard host replaced by the IP address of `remoteAddress` (as a transport
 * gives it: `10.0.0.7:51234`, `::1:51234`), when it names one and that is an IP address.
 */
export function reachableUrl(advertised: string, remoteAddress: string): string {
  if (!namesWildcard(advertised)) return advertised;
  // An IPv4 peer reached over a dual-stack socket comes as ::ffff:a.b.c.d: shown as a.b.c.d.
  const ip = remoteAddress.replace(/:\d+$/, '').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
  const kind = isIP(ip);
  if (kind === 0) return advertised;
  const url = new URL(advertised);
  url.hostname = kind === 6 ? `[${ip}]` : ip;
  return url.href.replace(/\/$/, '');
}
