/**
 * The replication scenarios, each across real processes on 127.0.0.1 with manual peers:
 * propagation of every kind of change in both modes, invalidate mode, expiry, concurrent
 * writes, a node killed and restarted, a late joiner with 100,000 entries, a cut link, and
 * garbage and oversized frames. Every wait polls with a deadline; every process is stopped by
 * its pid (cluster-harness.ts).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CACHE, connectedPeers, converged, type Running, startNode, until, valueOn } from './cluster-harness.js';

const found = (value: unknown) => ({ found: true, value });
const missing = { found: false };

/**
 * Each test starts two or three processes (each compiling its TypeScript with tsx) and then waits
 * on them with deadlines of 10 to 15 s a wait: under load (two CPU burners beside the suite) these
 * tests took up to 8.4 s of the default 20 s, and their own waits could add up past it, so a slow
 * run would end in vitest's unnamed timeout rather than the wait that named what did not happen.
 * They get 60 s, as the gateway, CLI and cache-manager process tests do. A bound on the harness,
 * not an assertion: nothing here measures how long anything took.
 */
const PROCESS_TEST = { timeout: 60_000 };

async function arrives(node: Running, key: string, expected: unknown, cache = CACHE): Promise<void> {
  await until(
    async () => JSON.stringify(await valueOn(node, key, cache)) === JSON.stringify(expected),
    `${key} to be ${JSON.stringify(expected)} on ${node.name}`,
  );
}

describe.each([
  ['asynchronous', { replicateAsynchronously: true, asynchronousReplicationIntervalMillis: 10 }],
  ['synchronous', { replicateAsynchronously: false }],
])('%s replication between three processes', PROCESS_TEST, (_mode, replication) => {
  it('carries put, update, remove, removeAll and TTL to every node', async () => {
    const caches = { 'Response Cache': { timeToLiveSeconds: 3600, replication } };
    const a = await startNode('gw-1', [], { caches });
    const b = await startNode('gw-2', [a.url], { caches });
    const c = await startNode('gw-3', [a.url, b.url], { caches });
    await until(async () => (await connectedPeers(a)) === 2, 'gw-1 to link with both');

    await a.ask(`put ${CACHE} GET%20/a {"v":1}`);
    for (const node of [b, c]) await arrives(node, 'GET /a', found({ v: 1 }));
    await b.ask(`put ${CACHE} GET%20/a {"v":2}`);
    for (const node of [a, c]) await arrives(node, 'GET /a', found({ v: 2 }));
    await c.ask(`remove ${CACHE} GET%20/a`);
    for (const node of [a, b]) await arrives(node, 'GET /a', missing);

    await a.ask(`put ${CACHE} short {"ttl":true} 1`); // a 1 s TTL travels with its creation time
    await arrives(c, 'short', found({ ttl: true }));
    await arrives(c, 'short', missing); // gone everywhere at the same moment, with no message needed

    await a.ask(`fill ${CACHE} 50 k`);
    for (const node of [b, c])
      await until(async () => ((await node.ask(`count ${CACHE}`)) as { count: number }).count === 50, 'the fill');
    await c.ask(`removeAll ${CACHE}`);
    for (const node of [a, b])
      await until(async () => ((await node.ask(`count ${CACHE}`)) as { count: number }).count === 0, 'the removeAll');
  });
});

describe('replication between processes', PROCESS_TEST, () => {
  it('invalidate mode: peers drop the key instead of receiving the value', async () => {
    const caches = {
      'Response Cache': {
        replication: {
          replicatePutsViaCopy: false,
          replicateUpdatesViaCopy: false,
          asynchronousReplicationIntervalMillis: 10,
        },
      },
    };
    const a = await startNode('gw-1', [], { caches });
    const b = await startNode('gw-2', [a.url], { caches });
    await until(async () => (await connectedPeers(a)) === 1, 'the link');
    await b.ask(`put ${CACHE} token {"v":"old"}`);
    await arrives(a, 'token', missing); // a never held it; an invalidation only removes
    await a.ask(`put ${CACHE} token {"v":"new"}`);
    await arrives(b, 'token', missing); // b dropped its copy instead of receiving the new value
    expect(await valueOn(a, 'token')).toEqual(found({ v: 'new' }));
  });

  it('an expiry found on one node removes the entry on peers still holding that version (replicateExpiries)', async () => {
    const idle = { timeToIdleSeconds: 1, diskExpiryThreadIntervalSeconds: 1 };
    const caches = {
      idle: { ...idle, replication: { asynchronousReplicationIntervalMillis: 10 } },
      'idle local': { ...idle, replication: { asynchronousReplicationIntervalMillis: 10, replicateExpiries: false } },
    };
    const a = await startNode('gw-1', [], { caches });
    const b = await startNode('gw-2', [a.url], { caches });
    await until(async () => (await connectedPeers(a)) === 1, 'the link');
    await a.ask('put idle session {"user":1}');
    await a.ask('put idle%20local session {"user":1}');
    await arrives(b, 'session', found({ user: 1 }), 'idle');
    await arrives(b, 'session', found({ user: 1 }), 'idle%20local');
    // b keeps reading both (so neither idles on b); a reads neither, so a's sweep expires both.
    await until(
      async () => {
        const [replicated, local] = [await valueOn(b, 'session', 'idle'), await valueOn(b, 'session', 'idle%20local')];
        expect(local).toEqual(found({ user: 1 })); // an expiry that is not replicated stays on a
        return JSON.stringify(replicated) === JSON.stringify(missing);
      },
      'a’s expiry to remove the entry on b',
      8000,
    );
  });

  it('concurrent writes of the same keys on three nodes converge to the same values everywhere', async () => {
    const a = await startNode('gw-1', []);
    const b = await startNode('gw-2', [a.url]);
    const c = await startNode('gw-3', [a.url, b.url]);
    await until(async () => (await connectedPeers(a)) === 2, 'the links');
    await Promise.all([a, b, c].map((node) => node.ask(`fill ${CACHE} 500 same`)));
    await converged([a, b, c], 'the three nodes to agree');
    const contents = (await a.ask(`contents ${CACHE}`)) as { count: number };
    expect(contents.count).toBe(500);
  });

  it('a node killed with SIGKILL and started again catches up on what it missed, removals included', async () => {
    const a = await startNode('gw-1', []);
    const b = await startNode('gw-2', [a.url]);
    await a.ask(`fill ${CACHE} 100 before`);
    await until(async () => ((await b.ask(`count ${CACHE}`)) as { count: number }).count === 100, 'the first fill');
    b.child.kill('SIGKILL');
    await b.exited;
    await a.ask(`fill ${CACHE} 100 while-down`);
    await a.ask(`remove ${CACHE} before7`);
    const back = await startNode('gw-2', [a.url]); // says it listens once its repair from a is done
    expect(await back.ask(`count ${CACHE}`)).toEqual({ count: 199 });
    expect(await valueOn(back, 'before7')).toEqual(missing);
    await converged([a, back], 'the restarted node to agree');
  });

  it('a late joiner bootstraps 100,000 entries before it says it is ready', async () => {
    const caches = {
      'Response Cache': { maxElementsInMemory: 200_000, replication: { asynchronousReplicationIntervalMillis: 10 } },
    };
    const a = await startNode('gw-1', [], { caches });
    await a.ask(`fill ${CACHE} 100000 k`);
    const late = await startNode('gw-2', [a.url], { caches });
    expect(await late.ask(`count ${CACHE}`)).toEqual({ count: 100_000 });
    await converged([a, late], 'the late joiner to hold the same entries');
  }, 60_000); // 100,000 entries written, then carried to a second process: tens of seconds when loaded
});

/** A TCP relay in front of a node, whose link can be cut and restored. */
async function relay(target: string): Promise<{ url: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((inbound) => {
    if (!open) {
      inbound.destroy();
      return;
    }
    const outbound = connect(Number(port), hostname);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `ws://127.0.0.1:${address.port}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('faults between processes', PROCESS_TEST, () => {
  it('a cut link repairs: writes made on both sides while it was down reach the other side', async () => {
    const a = await startNode('gw-1', []);
    const link = await relay(a.url);
    try {
      const b = await startNode('gw-2', [link.url]); // b reaches a only through the relay
      await a.ask(`fill ${CACHE} 200 shared`);
      await converged([a, b], 'the first fill');
      link.cut();
      await until(async () => (await connectedPeers(a)) === 0, 'a to see the link drop');
      await a.ask(`fill ${CACHE} 100 from-a`);
      await b.ask(`fill ${CACHE} 100 from-b`);
      await b.ask(`remove ${CACHE} shared3`);
      expect(await a.ask(`put ${CACHE} shared5 {"on":"a-while-cut"}`)).toEqual({ ok: true });
      link.restore();
      await converged([a, b], 'both sides to repair', CACHE, 20_000);
      expect(await a.ask(`count ${CACHE}`)).toEqual({ count: 399 });
      expect(await valueOn(b, 'shared5')).toEqual(found({ on: 'a-while-cut' }));
      expect(await valueOn(a, 'shared3')).toEqual(missing);
    } finally {
      await link.close();
    }
  });

  it('survives garbage, text and oversized frames from a stranger, closing only that connection', async () => {
    const a = await startNode('gw-1', []);
    const b = await startNode('gw-2', [a.url]);
    await until(async () => (await connectedPeers(a)) === 1, 'the link');
    const closeCode = (send: (socket: WebSocket) => void) =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(a.url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
        socket.on('error', () => {});
        socket.on('open', () => send(socket));
        socket.on('close', (code) => resolve(code));
        setTimeout(() => reject(new Error('the node did not close the connection')), 5000).unref();
      });
    expect(await closeCode((s) => s.send(Buffer.from([0xc1, 0xff, 0x00, 0x13])))).toBe(4002); // not a handshake
    expect(await closeCode((s) => s.send(Buffer.from([0x93, 0x63, 0x01, 0x02])))).toBe(4002); // msgpack, not a handshake
    expect(await closeCode((s) => s.send('hello'))).toBe(4002); // text
    // Before authentication a connection may send a few kilobytes in all: the socket is dropped
    // (1006, no close frame) long before a 17 MiB frame is buffered.
    expect(await closeCode((s) => s.send(Buffer.alloc(17 * 1024 * 1024)))).toBe(1006);
    // Still serving, still replicating.
    await a.ask(`put ${CACHE} after {"ok":true}`);
    await arrives(b, 'after', found({ ok: true }));
    expect(await connectedPeers(a)).toBe(1);
  });

  it('single flight: a waiter loads itself when the lease holder is killed with SIGKILL mid-load', async () => {
    const caches = {
      tokens: {
        replication: {
          asynchronousReplicationIntervalMillis: 10,
          clusterSingleFlight: true,
          singleFlightLeaseMillis: 30_000, // far longer than the test: only the kill can end it
          singleFlightClaimMillis: 50,
        },
      },
    };
    const holder = await startNode('gw-1', [], { caches });
    const waiter = await startNode('gw-2', [holder.url], { caches });
    await until(async () => (await connectedPeers(holder)) === 1, 'the link');
    expect(await holder.ask('load tokens svc 60000 "from-holder"')).toEqual({ started: true });
    await until(
      async () =>
        ((await waiter.ask('stats tokens')) as { replication: { singleFlight: { claimedKeys: number } } }).replication
          .singleFlight.claimedKeys === 1,
      'the holder’s claim to reach the waiter',
    );
    expect(await waiter.ask('load tokens svc 10 "from-waiter"')).toEqual({ started: true });
    holder.child.kill('SIGKILL');
    expect(await waiter.ask('loaded tokens svc')).toEqual({ value: 'from-waiter', loaderCalls: 1 });
  });
});
