import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ChaosTransport } from '../src/transport/chaos.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import type { Connection } from '../src/transport/transport.js';
import { WebSocketTransport } from '../src/transport/websocket.js';
import { describeTransportConformance } from './transport-conformance.js';

let next = 0;
describeTransportConformance('MemoryNetwork', () => ({ transport: new MemoryNetwork(), address: `node-${++next}` }));
describeTransportConformance('WebSocketTransport', () => ({
  transport: new WebSocketTransport(),
  address: 'ws://127.0.0.1:0',
}));
describeTransportConformance('ChaosTransport with no chaos', () => ({
  transport: new ChaosTransport(new MemoryNetwork()),
  address: 'chaos',
}));

async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('WebSocketTransport limits', () => {
  async function server(maxPayload?: number) {
    const transport = new WebSocketTransport(maxPayload === undefined ? {} : { maxPayload });
    const accepted: Connection[] = [];
    const listener = await transport.listen('ws://127.0.0.1:0', (connection) => accepted.push(connection));
    return { transport, listener, accepted };
  }

  it('listens on a real port when asked for port 0', async () => {
    const { listener } = await server();
    expect(listener.address).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(listener.address).not.toBe('ws://127.0.0.1:0');
    await listener.close();
  });

  it('closes a connection that sends a frame over maxPayload, and the server keeps serving', async () => {
    const { transport, listener, accepted } = await server(1024);
    const client = await transport.dial(listener.address);
    const closed: number[] = [];
    client.onClose((code) => closed.push(code));
    client.send(Buffer.alloc(4096, 1));
    await until(() => closed.length === 1);
    expect(closed[0]).toBe(1009);
    const again = await transport.dial(listener.address);
    const got: number[] = [];
    await until(() => accepted.length === 2);
    accepted[1]?.onFrame((frame) => got.push(frame.length));
    again.send(Buffer.alloc(100));
    await until(() => got.length === 1);
    again.close();
    await listener.close();
  });

  it('closes a connection that sends a text frame with 4002', async () => {
    const { listener } = await server();
    const raw = new WebSocket(listener.address);
    await new Promise((resolve) => raw.once('open', resolve));
    const code = new Promise<number>((resolve) => raw.once('close', (c) => resolve(c)));
    raw.send('hello?');
    expect(await code).toBe(4002);
    await listener.close();
  });

  it('answers a plain HTTP request with 426 and nothing else', async () => {
    const { listener } = await server();
    const port = Number(new URL(listener.address).port);
    const answer = await new Promise<string>((resolve) => {
      const socket = createConnection(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk.toString();
        if (text.includes('\r\n\r\n')) {
          socket.destroy();
          resolve(text);
        }
      });
    });
    expect(answer).toMatch(/^HTTP\/1.1 426/);
    await listener.close();
  });
});

describe('ChaosTransport', () => {
  async function chaosPair(options: ConstructorParameters<typeof ChaosTransport>[1]) {
    const chaos = new ChaosTransport(new MemoryNetwork(), options);
    const received: number[] = [];
    const listener = await chaos.listen('x', (connection) =>
      connection.onFrame((frame) => received.push(frame[0] as number)),
    );
    const client = await chaos.dial(listener.address);
    return { chaos, client, received };
  }

  it('drops, duplicates and reorders frames, repeatably for a seed', async () => {
    const runs: number[][] = [];
    for (let run = 0; run < 2; run++) {
      const { client, received } = await chaosPair({ drop: 0.2, duplicate: 0.2, reorder: 0.2, seed: 42 });
      for (let i = 0; i < 100; i++) client.send(Uint8Array.of(i));
      await new Promise((resolve) => setTimeout(resolve, 20));
      runs.push(received);
    }
    expect(runs[0]).toEqual(runs[1]);
    const got = runs[0] as number[];
    expect(new Set(got).size).toBeLessThan(100); // some dropped
    expect(got.length).toBeGreaterThan(new Set(got).size); // some duplicated
    expect(got).not.toEqual([...got].sort((a, b) => a - b)); // some reordered
  });

  it('cuts every connection like a partition', async () => {
    const { chaos, client } = await chaosPair({});
    const closed: number[] = [];
    client.onClose((code) => closed.push(code));
    chaos.cutAll();
    await until(() => closed.length === 1);
    expect(closed).toEqual([4004]);
  });
});
