import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { WireCodec } from '../src/internals.js';

// ChangeReader must keep nothing of a frame once it has read it: not the frame's buffer (through
// the DataView it reads numbers with), nor a long cache or node name (it remembers the last short
// ones, to skip decoding them again). The full path keeps neither; a peer's 16 MiB batch must not
// stay in memory per connection until its next one. (Found by an attack on the reader.) Memory is
// measured after forced collections; vitest runs each file in a process of its own.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** MiB of ArrayBuffers still alive after 8 connections each decoded one small frame cut from a 16 MiB buffer. */
function retainedFrames(readChanges: boolean): number {
  const codecs: WireCodec[] = [];
  gc();
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 8; i++) {
    const codec = new WireCodec({ readChanges });
    const buffer = Buffer.alloc(16 << 20); // e.g. a transport's buffer; the frame is its first bytes
    Buffer.from([0x92, 5, 0x91, 0x95, 4, 0xa1, 0x63, 0, 0, 0xa1, 0x6e]).copy(buffer);
    const decoded = codec.decode(buffer.subarray(0, 11));
    if (decoded.type !== 5) throw new Error('not a batch');
    codecs.push(codec); // the connections are still open
  }
  gc();
  gc();
  return (process.memoryUsage().arrayBuffers - before) / 2 ** 20;
}

describe('ChangeReader memory retention', () => {
  it('the full path lets decoded frames go (msgpackr keeps at most its last one, process-wide)', () => {
    expect(retainedFrames(false)).toBeLessThan(20);
  });
  it('the fast path lets decoded frames go too', () => {
    expect(retainedFrames(true)).toBeLessThan(20);
  });
  it('does not keep a 16 MiB cache name alive after decoding', () => {
    const run = (readChanges: boolean) => {
      const codecs: WireCodec[] = [];
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 4; i++) {
        const codec = new WireCodec({ readChanges });
        const name = Buffer.alloc(16 << 20, 0x61);
        const frame = Buffer.concat([
          Buffer.from([0x92, 5, 0x91, 0x95, 4, 0xdb, 1, 0, 0, 0]),
          name,
          Buffer.from([0, 0, 0xa1, 0x6e]),
        ]);
        codec.decode(frame);
        codecs.push(codec);
      }
      gc();
      return (process.memoryUsage().heapUsed - before) / 2 ** 20;
    };
    const full = run(false);
    const fast = run(true);
    expect(full).toBeLessThan(20); // msgpackr may keep its last string, process-wide
    expect(fast).toBeLessThan(20); // four 16 MiB names, one per connection, if they were kept
  });
});
