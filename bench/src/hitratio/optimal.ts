/**
 * Belady's OPT (Belady, "A study of replacement algorithms for a virtual-storage computer", IBM
 * Systems Journal 1966): on a miss with a full cache, evict the key whose next use is farthest in
 * the future. No policy that has to admit every missed key, as a cache whose callers put on a miss
 * does, can hit more often on the same trace: it is the limit the other columns are measured
 * against.
 *
 * O(n log c) for n accesses and a cache of c keys: one backward pass gives every access the
 * position of the same key's next access; the resident keys sit in a max-heap by that position,
 * which a hit only ever increases (the key is next used later than now), so a hit is one sift up
 * and a miss with a full cache one pop and one push.
 */

/** For each access, the position of the next access to the same key, or `ids.length` if none. */
export function nextUses(ids: Int32Array, distinct: number): Int32Array {
  const next = new Int32Array(ids.length);
  const seenAt = new Int32Array(distinct).fill(ids.length);
  for (let i = ids.length - 1; i >= 0; i--) {
    const id = ids[i] as number;
    next[i] = seenAt[id] as number;
    seenAt[id] = i;
  }
  return next;
}

/** Hits of Belady's OPT replaying `ids` (dense key ids) through a cache of `capacity` keys. */
export function optimalHits(ids: Int32Array, next: Int32Array, distinct: number, capacity: number): number {
  const heap = new Int32Array(capacity); // key ids, max-heap on nextUse
  const nextUse = new Int32Array(distinct);
  const position = new Int32Array(distinct).fill(-1); // index in heap, -1 when not resident
  let size = 0;
  let hits = 0;

  const place = (id: number, at: number): void => {
    heap[at] = id;
    position[id] = at;
  };
  const siftUp = (from: number): void => {
    const id = heap[from] as number;
    const key = nextUse[id] as number;
    let at = from;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      const parentId = heap[parent] as number;
      if ((nextUse[parentId] as number) >= key) break;
      place(parentId, at);
      at = parent;
    }
    place(id, at);
  };
  const siftDown = (from: number): void => {
    const id = heap[from] as number;
    const key = nextUse[id] as number;
    let at = from;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= size) break;
      const right = left + 1;
      let child = left;
      if (right < size && (nextUse[heap[right] as number] as number) > (nextUse[heap[left] as number] as number)) {
        child = right;
      }
      const childId = heap[child] as number;
      if ((nextUse[childId] as number) <= key) break;
      place(childId, at);
      at = child;
    }
    place(id, at);
  };

  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    const at = position[id] as number;
    nextUse[id] = next[i] as number;
    if (at >= 0) {
      hits++;
      siftUp(at);
      continue;
    }
    if (size === capacity) {
      // Replace the root (farthest next use) with the new key, then restore the heap.
      position[heap[0] as number] = -1;
      place(id, 0);
      siftDown(0);
    } else {
      place(id, size++);
      siftUp(size - 1);
    }
  }
  return hits;
}
