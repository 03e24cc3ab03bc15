/**
 * First in, first out: the victim is the entry written longest ago. Reads do not matter. A put
 * over a held key is a new write and goes to the back of the queue (Ehcache 2 orders FIFO by the
 * later of creation and update time, which is the same thing). LRU's list, with reads ignored.
 */
import { LruPolicy } from './lru.js';

export class FifoPolicy extends LruPolicy {
  override readonly name: string = 'FIFO';

  override access(_slot: number): void {}
}
