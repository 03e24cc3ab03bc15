/**
 * The backplane's sealing and replay rule, without Redis: what a Redis user without the secret
 * can and cannot do with an entry, and the configuration's checks.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '@meshcache/core';
import { describe, expect, it } from 'vitest';
import { EntrySealer, KIND_CONTROL, KIND_MESSAGE, SealError } from '../src/backplane/entry-seal.js';
import { ReplayGuard } from '../src/backplane/replay-guard.js';
import { resolveClusterConfig } from '../src/index.js';

const psk = randomBytes(32);
const other = randomBytes(32);
const where = 'meshcache:{c}:changes';

describe('sealed entries', () => {
  it('open with the cluster secret, in the key they were written to', () => {
    const writer = new EntrySealer({ cluster: 'c', writer: 'gw-1', psks: [psk] });
    const reader = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk] });
    const sealed = writer.seal(KIND_MESSAGE, Buffer.from('a token'), where, 1000);
    const opened = reader.open(sealed, where);
    expect(opened.plaintext.toString()).toBe('a token');
    expect(opened.header).toMatchObject({ writer: 'gw-1', sequence: 1, sealedAt: 1000 });
    expect(sealed.includes(Buffer.from('a token'))).toBe(false); // encrypted, not just signed
  });

  it('refuse another secret, another cluster, another key, and any changed byte', () => {
    const writer = new EntrySealer({ cluster: 'c', writer: 'gw-1', psks: [psk] });
    const sealed = writer.seal(KIND_MESSAGE, Buffer.from('v'), where, 1000);
    expect(() => new EntrySealer({ cluster: 'c', writer: 'x', psks: [other] }).open(sealed, where)).toThrow(SealError);
    expect(() => new EntrySealer({ cluster: 'd', writer: 'x', psks: [psk] }).open(sealed, where)).toThrow(SealError);
    const reader = new EntrySealer({ cluster: 'c', writer: 'x', psks: [psk] });
    expect(() => reader.open(sealed, 'meshcache:{c}:inbox:gw-2')).toThrow(SealError);
    for (const at of [1, 5, 30, sealed.length - 1]) {
      const changed = Buffer.from(sealed);
      changed[at] = (changed[at] as number) ^ 1;
      expect(() => reader.open(changed, where)).toThrow();
    }
  });

  it('never repeat a nonce under a key: each restart draws a new incarnation, so a new key', () => {
    const before = new EntrySealer({ cluster: 'c', writer: 'gw-1', psks: [psk] });
    const after = new EntrySealer({ cluster: 'c', writer: 'gw-1', psks: [psk] });
    const a = before.seal(KIND_MESSAGE, Buffer.from('same'), where, 1000);
    const b = after.seal(KIND_MESSAGE, Buffer.from('same'), where, 1000);
    expect(EntrySealer.peek(a)?.sequence).toBe(1);
    expect(EntrySealer.peek(b)?.sequence).toBe(1);
    expect(EntrySealer.peek(a)?.incarnation).not.toBe(EntrySealer.peek(b)?.incarnation);
    expect(a.subarray(-20).equals(b.subarray(-20))).toBe(false);
  });

  it("addressed to one incarnation of the inbox's node: the address opens with the message, sealed like it", () => {
    const writer = new EntrySealer({ cluster: 'c', writer: 'gw-1', psks: [psk] });
    const reader = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk] });
    const inbox = 'meshcache:{c}:inbox:gw-2';
    const addressed = writer.seal(KIND_CONTROL, Buffer.from('an offer'), inbox, 1000, reader.incarnation);
    expect(addressed[1]).toBe(KIND_CONTROL + 2); // the kind on the wire says it is addressed
    expect(EntrySealer.peek(addressed)).toMatchObject({ kind: KIND_CONTROL, addressed: true });
    const opened = reader.open(addressed, inbox);
    expect(opened).toMatchObject({ to: reader.incarnationHex, header: { kind: KIND_CONTROL, addressed: true } });
    expect(opened.plaintext.toString()).toBe('an offer');
    expect(addressed.includes(reader.incarnation)).toBe(false); // encrypted with the message
    // The address cannot be changed, nor taken off by rewriting the kind (it is in the associated data).
    for (const at of [1, 35 + 4, 35 + 4 + 15]) {
      const changed = Buffer.from(addressed);
      changed[at] = at === 1 ? KIND_CONTROL : (changed[at] as number) ^ 1;
      expect(() => reader.open(changed, inbox)).toThrow(SealError);
    }
    const plain = reader.open(writer.seal(KIND_MESSAGE, Buffer.from('m'), inbox, 1000), inbox);
    expect(plain).toMatchObject({ to: undefined, header: { kind: KIND_MESSAGE, addressed: false } });
    expect(() => writer.seal(KIND_MESSAGE, Buffer.from('m'), inbox, 1000, Buffer.alloc(8))).toThrow(SealError);
    // Kinds past the addressed two, and an addressed entry too short for its address, are not entries.
    const unknown = Buffer.from(addressed);
    unknown[1] = 5;
    expect(EntrySealer.peek(unknown)).toBeUndefined();
    expect(EntrySealer.peek(addressed.subarray(0, 35 + 4 + 16 + 15))).toBeUndefined();
  });

  it('open with a secret still accepted during a rotation', () => {
    const old = new EntrySealer({ cluster: 'c', writer: 'gw-1', psks: [other] });
    const rotated = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk, other] });
    expect(rotated.open(old.seal(KIND_MESSAGE, Buffer.from('v'), where, 5), where).plaintext.toString()).toBe('v');
  });
});

describe('the replay rule', () => {
  const writer = new EntrySealer({ cluster: 'c', writer: 'gw-1', psks: [psk] });
  const header = (sealedAt: number) => {
    const peeked = EntrySealer.peek(writer.seal(KIND_MESSAGE, Buffer.from('v'), where, sealedAt));
    if (peeked === undefined) throw new Error('no header');
    return peeked;
  };

  it('refuses an entry read again, and an older one of the same writer', () => {
    let now = 10_000;
    const guard = new ReplayGuard({ windowMillis: 5000, maxDriftMillis: 1000, clock: () => now });
    const first = header(now);
    const second = header(now);
    expect(guard.check(where, first)).toBe('fresh');
    expect(guard.check(where, second)).toBe('fresh');
    expect(guard.check(where, second)).toBe('replayed');
    expect(guard.check(where, first)).toBe('replayed');
    now += 1;
    expect(guard.check('meshcache:{c}:inbox:x', first)).toBe('fresh'); // each key has its own order
  });

  it('refuses an entry sealed before the window, or too far ahead, even on a node that never saw its writer', () => {
    const now = 1_000_000;
    const guard = new ReplayGuard({ windowMillis: 5000, maxDriftMillis: 1000, clock: () => now });
    expect(guard.check(where, header(now - 5001))).toBe('stale');
    expect(guard.check(where, header(now + 1001))).toBe('future');
    expect(guard.check(where, header(now - 4999))).toBe('fresh');
  });
});

describe('the backplane section of the configuration', () => {
  const base = { name: 'gw-1', cluster: 'c', secret: 'a shared secret of at least 32 bytes' };

  it('is an error together with peerDiscovery, naming both', () => {
    const both = () =>
      resolveClusterConfig({
        ...base,
        backplane: { type: 'redis', url: 'redis://127.0.0.1:6379' },
        peerDiscovery: { mode: 'manual', peers: [] },
      });
    expect(both).toThrow(ConfigError);
    expect(both).toThrow(/backplane.*peerDiscovery/);
  });

  it('names the field that is wrong', () => {
    const bad = (backplane: unknown) => () => resolveClusterConfig({ ...base, backplane });
    expect(bad({ type: 'kafka', url: 'redis://h' })).toThrow(/backplane\.type/);
    expect(bad({ type: 'redis', url: 'http://h' })).toThrow(/backplane\.url/);
    expect(bad({ type: 'redis', url: 'redis://h', replayWindowSeconds: 600 })).toThrow(
      /backplane\.replayWindowSeconds/,
    );
    expect(bad({ type: 'redis', url: 'redis://h', caFile: '/x' })).toThrow(/backplane\.caFile/);
    expect(bad({ type: 'redis', url: 'redis://h', colour: 'red' })).toThrow(/backplane\.colour/);
    // A file that is not a certificate failed only at the first TLS handshake with Redis (found by the outside attack).
    const notPem = join(mkdtempSync(join(tmpdir(), 'meshcache-ca-')), 'ca.pem');
    try {
      writeFileSync(notPem, 'not a certificate\n');
      expect(bad({ type: 'redis', url: 'rediss://h', caFile: notPem })).toThrow(
        /option "backplane.caFile" is not a PEM certificate/,
      );
    } finally {
      rmSync(dirname(notPem), { recursive: true, force: true });
    }
  });

  it('needs a secret of 32 bytes for a Redis off loopback', () => {
    const remote = { type: 'redis', url: 'rediss://user:pw@redis.internal:6380' };
    expect(() => resolveClusterConfig({ name: 'gw-1', cluster: 'c', backplane: remote }, {})).toThrow(/secret/);
    expect(() => resolveClusterConfig({ name: 'gw-1', cluster: 'c', secret: 'short', backplane: remote }, {})).toThrow(
      /secret/,
    );
    const resolved = resolveClusterConfig({ ...base, backplane: remote }, {});
    expect(resolved.backplane).toMatchObject({ tls: true, host: 'redis.internal', replayWindowMillis: 120_000 });
  });
});
