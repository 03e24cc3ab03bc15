/**
 * Attacks on the reuse of sealed frames' buffers (sealed-frame-pool.ts, Connection.send's
 * `written`): many links over real sockets, plain and TLS, share one pool; a buffer said written
 * is scribbled over at once and handed to the next frame; readers pause, links are cut mid-write.
 * Every frame that arrives must be the bytes that were sent.
 */
import { readFileSync, rmSync } from 'node:fs';
import { until } from '@meshcache/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SealedFramePool } from '../src/security/sealed-frame-pool.js';
import type { Connection, Listener } from '../src/transport/transport.js';
import { WebSocketTransport } from '../src/transport/websocket.js';
import { makeTestPki, type TestPki } from './tls-certs.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));

/** Frame `seq` of link `link`: its size and every byte follow from the two. */
function sizeOf(link: number, seq: number): number {
  return 64 * 1024 + ((link * 7919 + seq * 104_729) % (1536 * 1024));
}
function fill(frame: Buffer, link: number, seq: number): void {
  frame.writeUInt32BE(link, 0);
  frame.writeUInt32BE(seq, 4);
  let x = (link * 2654435761 + seq * 40503 + 1) >>> 0;
  for (let i = 8; i < frame.length; i += 4) {
    x = (x * 1103515245 + 12345) >>> 0;
    if (i + 4 <= frame.length) frame.writeUInt32BE(x, i);
    else for (let j = i; j < frame.length; j++) frame[j] = x & 0xff;
  }
}
function intact(frame: Uint8Array, link: number, seq: number): boolean {
  const buffer = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (buffer.length !== sizeOf(link, seq)) return false;
  const expected = Buffer.allocUnsafe(buffer.length);
  fill(expected, link, seq);
  return expected.equals(buffer);
}

/**
 * LINKS links over `kind`, each side sending FRAMES frames to the other from one pool shared by
 * every link; a frame said written is scribbled over at once and given back. Half the readers of
 * each direction are paused while everything is sent; one link is closed by its dialler, one by
 * its listener, one dropped with bytes unsent (4008), each mid-stream.
 */
async function attack(kind: 'ws' | 'ws, zero mask' | 'wss') {
  const tls =
    kind === 'wss'
      ? { cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile), ca: readFileSync(pki.caFile) }
      : undefined;
  const transport = new WebSocketTransport({
    ...(tls === undefined ? {} : { tls }),
    ...(kind === 'ws, zero mask' ? { maskFrames: false } : {}),
    heartbeatMillis: 0,
  });
  const accepted: Connection[] = [];
  const listener: Listener = await transport.listen(`${kind === 'wss' ? 'wss' : 'ws'}://127.0.0.1:0`, (c) => {
    c.authenticated();
    accepted.push(c);
  });
  const pool = new SealedFramePool();
  const LINKS = 8;
  const FRAMES = 20;
  const clients: Connection[] = [];
  for (let i = 0; i < LINKS; i++) {
    const client = await transport.dial(listener.address);
    client.authenticated();
    clients.push(client);
    // Accepted in order: the listener's side of link i is accepted[i].
    await until(() => accepted.length === i + 1, `link ${i} accepted`);
  }
  // Stream s is link s's dialler sending; stream LINKS + s its listener sending.
  const senders = [...clients, ...accepted];
  const receivers = [...accepted, ...clients];
  const bad: string[] = [];
  const got = new Array<number>(2 * LINKS).fill(0);
  const writtenTwice: string[] = [];
  for (const [stream, receiver] of receivers.entries()) {
    receiver.onFrame((frame) => {
      if (!intact(frame, stream, got[stream] as number)) bad.push(`stream ${stream} frame ${got[stream]}`);
      got[stream] = (got[stream] as number) + 1;
    });
  }
  const paused = receivers.filter((_, stream) => stream % 2 === 0);
  for (const receiver of paused) receiver.pauseReading();
  const cuts = new Map<number, () => void>([
    [1, () => clients[1]?.close(4002, 'dialler leaves mid-stream')],
    [LINKS + 2, () => accepted[2]?.close(4002, 'listener leaves mid-stream')],
    [4, () => clients[4]?.close(4008, 'dropped with bytes unsent')],
  ]);
  let outstanding = 0;
  for (let seq = 0; seq < FRAMES; seq++) {
    for (const [stream, sender] of senders.entries()) {
      if (seq === 8 + (stream % 5)) cuts.get(stream)?.();
      if (!sender.open) continue;
      const frame = pool.take(sizeOf(stream, seq));
      fill(frame, stream, seq);
      let calls = 0;
      outstanding++;
      sender.send(frame, () => {
        calls++;
        if (calls > 1) writtenTwice.push(`stream ${stream} frame ${seq}`);
        else outstanding--;
        frame.fill(0xee); // what the next frame sealed into this buffer would do, at once
        pool.give(frame);
      });
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (const receiver of paused) receiver.resumeReading();
  const cutLinks = new Set([1, 2, 4]);
  const whole = [...receivers.keys()].filter((stream) => !cutLinks.has(stream % LINKS));
  await until(() => whole.every((stream) => got[stream] === FRAMES), 'every frame of the links left whole', 60_000);
  await until(() => outstanding === 0, 'every frame said written', 20_000).catch(() => {});
  for (const client of clients) client.close();
  await listener.close();
  return { bad, writtenTwice, outstanding };
}

describe('sealed frames sharing a pool across many links', () => {
  for (const kind of ['ws', 'ws, zero mask', 'wss'] as const) {
    it(`over ${kind}: every frame arrives as sent, a buffer said written is written once, and every frame is said written`, async () => {
      const { bad, writtenTwice, outstanding } = await attack(kind);
      expect(bad).toEqual([]);
      expect(writtenTwice).toEqual([]);
      expect(outstanding).toBe(0);
    }, 120_000);
  }
});
