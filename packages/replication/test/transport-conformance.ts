/**
 * The contract every Transport meets (src/transport/transport.ts). Each transport's test calls
 * describeTransportConformance; a new transport is not done until it passes.
 */
import { until } from '@meshcache/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { Connection, Listener, Transport } from '../src/transport/transport.js';
import { scopedAddress } from '../src/transport/transport.js';

export interface TransportHarness {
  readonly transport: Transport;
  /** An address to listen on (port 0 where ports exist). */
  readonly address: string;
}

export function describeTransportConformance(name: string, make: () => TransportHarness): void {
  describe(`${name}: transport conformance`, () => {
    const listeners: Listener[] = [];
    const connections: Connection[] = [];
    afterEach(async () => {
      for (const connection of connections.splice(0)) connection.close();
      for (const listener of listeners.splice(0)) await listener.close();
    });

    async function pair(): Promise<{ client: Connection; server: Connection }> {
      const { transport, address } = make();
      let server: Connection | undefined;
      const listener = await transport.listen(address, (connection) => {
        server = connection;
        connections.push(connection);
      });
      listeners.push(listener);
      const client = await transport.dial(listener.address);
      connections.push(client);
      await until(() => server !== undefined, 'the server side of the connection');
      // As a session does once the handshake proved the key: frames of any size may flow now.
      client.authenticated();
      (server as Connection).authenticated();
      return { client, server: server as Connection };
    }

    it('delivers frames whole and in order, both ways', async () => {
      const { client, server } = await pair();
      const atServer: string[] = [];
      const atClient: string[] = [];
      server.onFrame((frame) => atServer.push(Buffer.from(frame).toString()));
      client.onFrame((frame) => atClient.push(Buffer.from(frame).toString()));
      const sent = Array.from({ length: 200 }, (_, i) => `frame ${i} ${'x'.repeat(i * 10)}`);
      for (const text of sent) client.send(Buffer.from(text));
      server.send(Buffer.from('reply'));
      await until(() => atServer.length === sent.length && atClient.length === 1, 'every frame');
      expect(atServer).toEqual(sent);
      expect(atClient).toEqual(['reply']);
    });

    it('holds frames while reading is paused and delivers every one, in order, on resume', async () => {
      const { client, server } = await pair();
      const atServer: string[] = [];
      server.onFrame((frame) => atServer.push(Buffer.from(frame).toString()));
      server.pauseReading();
      server.pauseReading(); // idempotent
      const sent = Array.from({ length: 50 }, (_, i) => `frame ${i}`);
      for (const text of sent) client.send(Buffer.from(text));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(atServer).toEqual([]);
      server.resumeReading();
      server.resumeReading();
      await until(() => atServer.length === sent.length, 'every frame after the resume');
      expect(atServer).toEqual(sent);
    });

    it('never throws from close, whatever the reason (long, non-ASCII), and cuts it to 123 bytes', async () => {
      const { client, server } = await pair();
      const reasons: string[] = [];
      server.onClose((_code, reason) => reasons.push(reason));
      expect(() => client.close(4002, 'é'.repeat(100))).not.toThrow();
      expect(() => client.close(4002, 'again')).not.toThrow();
      await until(() => reasons.length === 1, 'the close');
      expect(Buffer.byteLength(reasons[0] as string)).toBeLessThanOrEqual(123);
      expect(reasons[0]).toMatch(/^(é)*$/);
    });

    it('says once when it is done with a frame, and after that the sender may write over its bytes, also behind a paused reader', async () => {
      // Not before: a socket that cannot write at once (the reader paused, its buffers full) still
      // holds the bytes it was handed, and what the sender wrote over them would go out instead.
      const { client, server } = await pair();
      const got: string[] = [];
      server.onFrame((frame) => got.push(Buffer.from(frame).toString('latin1', 0, 11)));
      server.pauseReading();
      const written = new Array<number>(20).fill(0);
      const sent = Array.from({ length: 20 }, (_, i) => `frame ${String(i).padStart(5, '0')}`);
      for (const [i, text] of sent.entries()) {
        const buffer = Buffer.alloc(256 * 1024, text);
        client.send(buffer, () => {
          written[i] = (written[i] as number) + 1;
          buffer.fill('X');
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      server.resumeReading();
      await until(() => got.length === sent.length, 'every frame');
      expect(got).toEqual(sent);
      await until(() => written.every((count) => count === 1), 'each frame said written', 5000).catch(() => {});
      // A transport that cannot tell never says it; one that says it says it once.
      expect(written.every((count) => count <= 1)).toBe(true);
    });

    it('closes both sides once, with the code and reason, and delivers nothing after', async () => {
      const { client, server } = await pair();
      const closes: string[] = [];
      client.onClose((code, reason) => closes.push(`client ${code} ${reason}`));
      server.onClose((code, reason) => closes.push(`server ${code} ${reason}`));
      const late: Uint8Array[] = [];
      server.onFrame((frame) => late.push(frame));
      client.close(4003, 'wrong secret');
      client.close(4003, 'again');
      client.send(Buffer.from('after close'));
      await until(() => closes.length === 2, 'both close events');
      expect(closes.sort()).toEqual(['client 4003 wrong secret', 'server 4003 wrong secret']);
      expect(client.open).toBe(false);
      expect(server.open).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(late).toEqual([]);
    });

    it('keeps frames that arrive before anyone listens, for the first listener', async () => {
      const { transport, address } = make();
      const listener = await transport.listen(address, (connection) => {
        connections.push(connection);
        connection.send(Buffer.from('hello first'));
      });
      listeners.push(listener);
      const client = await transport.dial(listener.address);
      connections.push(client);
      await new Promise((resolve) => setTimeout(resolve, 30));
      const got: string[] = [];
      client.onFrame((frame) => got.push(Buffer.from(frame).toString()));
      await until(() => got.length === 1, 'the early frame');
      expect(got).toEqual(['hello first']);
    });

    it('gives the listening side the caches a dialled path names, decoded, and none without a path', async () => {
      const { transport, address } = make();
      const scopes: Array<readonly string[] | undefined> = [];
      const listener = await transport.listen(address, (connection) => {
        connections.push(connection);
        scopes.push(connection.scope);
      });
      listeners.push(listener);
      const paths = [
        '',
        '/Response%20Cache',
        '/a%2Fb',
        scopedAddress('', ['Response Cache', 'a/b', 'Tokens']),
        '/R/%E0%A4%A', // a segment that does not decode names nothing: it does not widen the scope
        '/%E0%A4%A',
        '/R?x=1',
      ];
      for (const path of paths) connections.push(await transport.dial(`${listener.address}${path}`));
      await until(() => scopes.length === paths.length, 'a connection a path');
      expect(scopes).toEqual([
        undefined,
        ['Response Cache'],
        ['a/b'],
        ['Response Cache', 'a/b', 'Tokens'],
        ['R'],
        [],
        ['R'],
      ]);
    });

    it('refuses to dial an address where nothing listens', async () => {
      const { transport, address } = make();
      const listener = await transport.listen(address, () => {});
      const gone = listener.address;
      await listener.close();
      await expect(transport.dial(gone)).rejects.toThrow();
    });
  });
}
