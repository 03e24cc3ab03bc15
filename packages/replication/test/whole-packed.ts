import { Packr } from 'msgpackr';
import type { ChangeMessage } from '../src/internals.js';
import { changeToWire, OPTIONS } from '../src/protocol/codec.js';

/**
 * How a previous release sends a Batch or Entries, and how this one still sends a batch of other
 * values: the whole message laid out as codec.ts's arrays and packed by one Packr per connection,
 * with the codec's options. The tests of ChangeWriter compare its bytes with these.
 */
export function wholePacker(): (type: number, changes: readonly ChangeMessage[]) => Buffer {
  const packr = new Packr({ ...OPTIONS });
  return (type, changes) => packr.pack([type, changes.map(changeToWire)]);
}
