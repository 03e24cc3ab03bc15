import { readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { ConfigError } from '@meshcache/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient, type ClusterConfig, resolveClusterConfig, WebSocketTransport } from '../src/index.js';
import { SECRET, startNode, until } from './nodes.js';
import { makeTestPki, SERVICE_NAME, type TestPki } from './tls-certs.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(() => rmSync(pki.dir, { recursive: true, force: true }));

function start(name: string, peers: string[], tls: ClusterConfig['tls']) {
  const caches = { tokens: { replication: { asynchronousReplicationIntervalMillis: 10 } } };
  return startNode(name, peers, { caches, ...(tls === undefined ? {} : { tls }) });
}

describe('TLS between nodes (wss)', () => {
  it('replicates over wss, verifying the listener against the cluster CA', async () => {
    const tls = { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.caFile };
    const a = await start('gw-1', [], tls);
    expect(a.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const b = await start('gw-2', [a.url], tls);
    await b.ready();
    a.manager.getCache('tokens')?.put('svc', 'token');
    await a.settle();
    expect(b.manager.getCache('tokens')?.get('svc')).toBe('token');
  });

  it('with mutual TLS, refuses a dialler whose certificate another CA signed, even with the secret', async () => {
    const mutual = { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.caFile, mutual: true };
    const a = await start('gw-1', [], mutual);
    const member = await start('gw-2', [a.url], mutual);
    await member.ready();
    const outsider = await start('gw-x', [a.url], {
      certFile: pki.outsiderCertFile,
      keyFile: pki.outsiderKeyFile,
      caFile: pki.caFile,
      mutual: true,
    });
    await outsider.ready();
    expect(outsider.peers()[0]?.state).not.toBe('connected');
    await until(() => a.peers().length === 1, 'the member to link');
    expect(a.peers().map((peer) => peer.id)).toEqual(['gw-2']);
  });

  it('refuses a plain ws:// dialler and a client that does not trust the CA', async () => {
    const a = await start('gw-1', [], { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.caFile });
    const plain = a.url.replace('wss:', 'ws:');
    await expect(AdminClient.connect(plain, { secret: SECRET, timeoutMillis: 1000 })).rejects.toMatchObject({
      code: expect.stringMatching(/E_UNREACHABLE|E_TIMEOUT/),
    });
    await expect(AdminClient.connect(a.url, { secret: SECRET, timeoutMillis: 1000 })).rejects.toMatchObject({
      code: 'E_UNREACHABLE',
    });
    const trusting = await AdminClient.connect(a.url, {
      secret: SECRET,
      transport: new WebSocketTransport({
        tls: { ca: readFileSync(pki.caFile) },
      }),
    });
    expect(await trusting.peers()).toEqual([]);
    trusting.close();
  });

  it('with tls.serverName, checks a peer dialled at its address against the name its certificate carries (peers found by DNS)', async () => {
    const service = { certFile: pki.serviceCertFile, keyFile: pki.serviceKeyFile, caFile: pki.caFile };
    const a = await start('gw-1', [], { ...service, serverName: SERVICE_NAME });
    // Dialled at 127.0.0.1, which the certificate does not carry: refused without the name.
    const unnamed = await start('gw-2', [a.url], service);
    await until(() => unnamed.peers().some((peer) => peer.state === 'down'), 'the dial refused');
    expect(unnamed.peers().some((peer) => peer.state === 'connected')).toBe(false);
    const named = await start('gw-3', [a.url], { ...service, serverName: SERVICE_NAME });
    await named.ready();
    a.manager.getCache('tokens')?.put('svc', 'token');
    await a.settle();
    expect(named.manager.getCache('tokens')?.get('svc')).toBe('token');
  });

  it("drops a connection that never finishes its TLS handshake as a ws:// listener drops a silent one, not after Node's 120 s (found by an outside audit)", async () => {
    const transport = new WebSocketTransport({
      tls: { cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) },
    });
    const listener = await transport.listen('wss://127.0.0.1:0', () => {});
    const port = Number(new URL(listener.address).port);
    const open = (first?: Buffer) => {
      const socket = connect(port, '127.0.0.1', () => {
        if (first !== undefined) socket.write(first);
      });
      let ended = false;
      socket.on('error', () => {});
      socket.once('close', () => {
        ended = true;
      });
      return { socket, ended: () => ended };
    };
    // One sends nothing; the other the header of a TLS record (a ClientHello) and never its body.
    const silent = open();
    const partial = open(Buffer.of(0x16, 0x03, 0x01, 0x02, 0x00));
    try {
      // A deadline far past the 5 s limit and far short of Node's default of 120 s.
      await until(() => silent.ended() && partial.ended(), 'both connections to be dropped', 40_000);
    } finally {
      silent.socket.destroy();
      partial.socket.destroy();
      await listener.close();
    }
  }, 60_000);

  it('names the field of a bad tls configuration', () => {
    const base = { name: 'gw-1', cluster: 'gateways', secret: 's' };
    const field = (raw: unknown) => {
      try {
        resolveClusterConfig(raw, {});
      } catch (error) {
        if (error instanceof ConfigError) return `${error.field}: ${error.message}`;
        throw error;
      }
      return 'accepted';
    };
    expect(field({ ...base, tls: { certFile: '/nonexistent.pem', keyFile: pki.keyFile } })).toMatch(
      /^tls.certFile: .*cannot be read/,
    );
    expect(field({ ...base, tls: { certFile: pki.certFile, keyFile: pki.keyFile, mutual: true } })).toMatch(
      /^tls.caFile:/,
    );
    expect(field({ ...base, tls: { certFile: pki.certFile, keyFile: pki.keyFile, ciphers: 'x' } })).toMatch(
      /^tls.ciphers:/,
    );
    expect(
      field({
        ...base,
        tls: { certFile: pki.certFile, keyFile: pki.keyFile },
        peerDiscovery: { mode: 'manual', peers: ['ws://127.0.0.1:1'] },
      }),
    ).toMatch(/^peerDiscovery.peers\[0\]: .*must be a wss:\/\/ URL/);
    // Contents, not only paths: OpenSSL's "no start line" at start-up named neither field nor file.
    expect(field({ ...base, tls: { certFile: pki.keyFile, keyFile: pki.keyFile } })).toMatch(
      /^tls.certFile: .*does not hold a PEM certificate \(.*node-key\.pem\)/,
    );
    expect(field({ ...base, tls: { certFile: pki.certFile, keyFile: pki.certFile } })).toMatch(
      /^tls.keyFile: .*does not hold a PEM private key \(.*node\.pem\)/,
    );
    expect(field({ ...base, tls: { certFile: pki.certFile, keyFile: pki.outsiderKeyFile } })).toMatch(
      /^tls.keyFile: .*is not the key of tls.certFile's certificate \(.*outsider-key\.pem/,
    );
    expect(field({ ...base, tls: { certFile: pki.certFile, keyFile: pki.keyFile, caFile: pki.keyFile } })).toMatch(
      /^tls.caFile: .*does not hold a PEM certificate/,
    );
    for (const serverName of ['', '10.0.0.5', 'gateways prod', 'https://gateways.test', 7, '-bad.test']) {
      expect(field({ ...base, tls: { certFile: pki.certFile, keyFile: pki.keyFile, serverName } })).toMatch(
        /^tls.serverName: .*must be a DNS name/,
      );
    }
    expect(
      field({
        ...base,
        tls: { certFile: pki.certFile, keyFile: pki.keyFile, serverName: 'gateways.prod.svc.cluster.local.' },
      }),
    ).toBe('accepted');
  });
});
