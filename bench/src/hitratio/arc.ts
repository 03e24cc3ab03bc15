/**
 * ARC (Megiddo and Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache", FAST 2003), as a
 * reference column only: the best-known adaptive policy, to show what closing the LRU-to-OPT gap
 * looks like for a strong online policy on the same traces. meshcache does not ship it.
 *
 * Straight from the paper: T1 (seen once lately) and T2 (seen at least twice) hold the cache; B1
 * and B2 remember the keys evicted from each; a hit in B1 grows T1's target p, a hit in B2 shrinks
 * it. Lists are intrusive over dense key ids (typed arrays), O(1) a request.
 */

const T1 = 0;
const T2 = 1;
const B1 = 2;
const B2 = 3;
const NONE = -1;

/** Hits of ARC replaying `ids` (dense key ids, 0..distinct-1) through a cache of `capacity` keys. */
export function arcHits(ids: Int32Array, distinct: number, capacity: number): number {
  const prev = new Int32Array(distinct).fill(NONE);
  const next = new Int32Array(distinct).fill(NONE);
  const where = new Int8Array(distinct).fill(NONE);
  const head = [NONE, NONE, NONE, NONE];
  const tail = [NONE, NONE, NONE, NONE];
  const size = [0, 0, 0, 0];
  const len = (list: number): number => size[list] as number;

  const push = (list: number, id: number): void => {
    const last = tail[list] as number;
    prev[id] = last;
    next[id] = NONE;
    if (last === NONE) head[list] = id;
    else next[last] = id;
    tail[list] = id;
    size[list] = len(list) + 1;
    where[id] = list;
  };
  const remove = (id: number): void => {
    const list = where[id] as number;
    const p = prev[id] as number;
    const n = next[id] as number;
    if (p === NONE) head[list] = n;
    else next[p] = n;
    if (n === NONE) tail[list] = p;
    else prev[n] = p;
    size[list] = len(list) - 1;
    where[id] = NONE;
  };
  /** Moves the LRU key of T1 or T2 to its ghost list, as the paper's REPLACE. */
  const replace = (id: number, target: number): void => {
    const t1 = len(T1);
    if (t1 > 0 && (t1 > target || (where[id] === B2 && t1 === target))) {
      const victim = head[T1] as number;
      remove(victim);
      push(B1, victim);
    } else {
      const victim = head[T2] as number;
      remove(victim);
      push(B2, victim);
    }
  };

  let p = 0;
  let hits = 0;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    const list = where[id] as number;
    if (list === T1 || list === T2) {
      hits++;
      remove(id);
      push(T2, id);
    } else if (list === B1) {
      p = Math.min(capacity, p + Math.max(len(B2) / len(B1), 1));
      replace(id, p);
      remove(id);
      push(T2, id);
    } else if (list === B2) {
      p = Math.max(0, p - Math.max(len(B1) / len(B2), 1));
      replace(id, p);
      remove(id);
      push(T2, id);
    } else {
      const total = len(T1) + len(T2) + len(B1) + len(B2);
      if (len(T1) + len(B1) === capacity) {
        if (len(T1) < capacity) {
          remove(head[B1] as number);
          replace(id, p);
        } else {
          remove(head[T1] as number);
        }
      } else if (total >= capacity) {
        if (total === 2 * capacity) remove(head[B2] as number);
        replace(id, p);
      }
      push(T1, id);
    }
  }
  return hits;
}
