/**
 * A bootstrap's sealed frames reuse buffers (sealed-frame-pool.ts) once the socket wrote them:
 * attacked over real WebSockets, plain and TLS, with several joiners taking 200k entries from one
 * holder at once and one of their links dropped mid-bootstrap with frames still unsent (their
 * buffers go back to the pool while the other links' frames are sealed into them). Every value on
 * every joiner must be the holder's, and no frame may fail authentication: a buffer written over
 * while its socket still held it does not corrupt a value silently (AES-GCM refuses the frame),
 * it closes the link (4002), and the repair after makes the joiner whole in the end.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync, rmSync } from 'node:fs';
import { replicaPortOf } from '@meshcache/core/internal';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { PEER_CHANNEL, type PeerDiagnostic } from '../src/diagnostics.js';
import type { ClusterConfig, ClusterNode } from '../src/index.js';
import { CloseCode, type Connection, delegatingConnection, type Transport } from '../src/transport/transport.js';
import { WebSocketTransport } from '../src/transport/websocket.js';
import { nodeCache, startNode, until } from './nodes.js';
import { makeTestPki, type TestPki } from './tls-certs.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));

const ENTRIES = 200_000;
const heldValue = (i: number) => `${i}:`.padEnd(60 + (i % 400), String.fromCharCode(97 + (i % 26)));

/**
 * The transport ClusterNode would make, whose listener drops (4008: at once, with its bytes
 * unsent) the first connection that holds bytes unsent after it was handed ten frames of 64 KiB
 * or more.
 */
function cuttingTransport(inner: WebSocketTransport): { transport: Transport; cut: () => boolean } {
  let cut = false;
  const transport: Transport = {
    dial: (address) => inner.dial(address),
    listen: (address, onConnection) =>
      inner.listen(address, (connection) => {
        let large = 0;
        const wrapped: Connection = delegatingConnection(connection, {
          send: (frame, written) => {
            connection.send(frame, written);
            if (frame.length >= 64 * 1024) large++;
            if (!cut && large >= 10 && connection.bufferedAmount > 0) {
              cut = true;
              connection.close(CloseCode.Backlog, 'cut mid-bootstrap by the test');
            }
          },
        });
        onConnection(wrapped);
      }),
  };
  return { transport, cut: () => cut };
}

function wrongValues(node: ClusterNode): { held: number; wrong: string[] } {
  const wrong: string[] = [];
  let held = 0;
  for (const { key, value } of replicaPortOf(nodeCache(node, 'c')).entries()) {
    held++;
    if (value !== heldValue(Number(key.slice(1))) && wrong.length < 5) wrong.push(key);
  }
  return { held, wrong };
}

describe('bootstraps whose sealed frames share buffers', () => {
  for (const secure of [false, true]) {
    it(`three joiners at once over ${secure ? 'wss' : 'ws'}, one link dropped mid-bootstrap with frames unsent: every value intact on every joiner`, async () => {
      const caches = { c: { maxElementsInMemory: 0, replication: {} } };
      const tls = secure ? { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.caFile } : undefined;
      const overrides: Partial<ClusterConfig> = { caches, ...(tls === undefined ? {} : { tls }) };
      const { transport, cut } = cuttingTransport(
        new WebSocketTransport({
          ...(secure
            ? {
                tls: { cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile), ca: readFileSync(pki.caFile) },
              }
            : {}),
          maskFrames: false, // as ClusterNode makes it when frames are sealed
        }),
      );
      const refused: string[] = [];
      const watch = (message: unknown) => {
        const event = message as PeerDiagnostic;
        if (event.event === 'left' && event.code === CloseCode.ProtocolError) {
          refused.push(`${event.node} -> ${event.peer}: ${event.reason}`);
        }
      };
      subscribe(PEER_CHANNEL, watch);
      onTestFinished(() => {
        unsubscribe(PEER_CHANNEL, watch);
      });
      const holder = await startNode('gw-1', [], overrides, { transport });
      for (let i = 0; i < ENTRIES; i++) nodeCache(holder, 'c').put(`k${i}`, heldValue(i));
      const joiners = await Promise.all(
        ['gw-2', 'gw-3', 'gw-4'].map((name) => startNode(name, [holder.url], overrides)),
      );
      await until(() => cut(), 'a link dropped with frames unsent', 60_000);
      for (const joiner of joiners) {
        await until(() => wrongValues(joiner).held === ENTRIES, `${joiner.id} to hold every entry`, 120_000);
        expect(wrongValues(joiner)).toEqual({ held: ENTRIES, wrong: [] });
      }
      expect(refused).toEqual([]);
    }, 240_000);
  }
});
