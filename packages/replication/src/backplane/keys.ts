/**
 * The Redis keys of one cluster on the backplane, and stream ids. Every key carries the cluster
 * in a hash tag (`{cluster}`), so on a Redis Cluster they share one slot and one XREAD can read
 * the changes stream and a node's inbox together.
 *
 *   <prefix>:{<cluster>}:changes         the stream of changes, one for every cache of the cluster
 *   <prefix>:{<cluster>}:inbox:<node>    repair messages addressed to one node
 *   <prefix>:{<cluster>}:members         hash: node -> its sealed presence record
 *   <prefix>:{<cluster>}:generation      a random id, new whenever the stream's history is lost
 *   <prefix>:{<cluster>}:lease:<hmac>    single flight: who loads a key (SET NX PX)
 */
export class BackplaneKeys {
  readonly changes: string;
  readonly members: string;
  readonly generation: string;
  readonly #base: string;

  constructor(prefix: string, cluster: string) {
    this.#base = `${prefix}:{${cluster}}`;
    this.changes = `${this.#base}:changes`;
    this.members = `${this.#base}:members`;
    this.generation = `${this.#base}:generation`;
  }

  inbox(node: string): string {
    return `${this.#base}:inbox:${node}`;
  }

  lease(digest: string): string {
    return `${this.#base}:lease:${digest}`;
  }
}

/** A stream id as [milliseconds, sequence]; '0-0' for none. */
export function parseStreamId(id: string): [number, number] {
  const dash = id.indexOf('-');
  if (dash < 0) return [Number(id), 0];
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

/** Negative when a is older than b, positive when newer, 0 when equal. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = parseStreamId(a);
  const [bm, bs] = parseStreamId(b);
  return am !== bm ? am - bm : as - bs;
}
