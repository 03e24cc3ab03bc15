/**
 * The fuzzer: fast-check over the whole message union and raw byte mutation, against a real
 * ClusterNode (its listener, Sessions, links, replicators and admin service; the in-memory
 * network stands in for sockets, which the adversarial suite in test/ attacks separately).
 *
 * Before authentication, an outsider's frames: random bytes, handshake-shaped frames, Hellos
 * under the key with fuzzed payloads (right and wrong fields), Hellos with flipped bits, and
 * messages in the clear. The node must send nothing but a Welcome, and that only to a Hello the
 * key opens and whose payload is acceptable; it never establishes such a session; no cache
 * changes.
 *
 * After authentication, inside a correctly encrypted session (raw-peer.ts seals any plaintext
 * with the session keys): valid messages of every type, near-valid ones (a field wrong, missing
 * or extra, a retired or unknown type), values that are msgpack extensions the node must refuse,
 * mutated bytes, and sealed frames a relay spoiled (a bit flipped, cut, replayed, one dropped).
 * Each frame is followed by a Sync (on an admin session, a `peers` request), so its outcome is
 * known: accepted, or rejected with the session closed. A rejected frame must change no cache (a
 * valid Put legitimately does), and neither may an admin request answered with an error: no
 * cache event may fire between sending it and learning its outcome.
 *
 * Invariants throughout: nothing throws out of a callback (vitest fails on an unhandled error),
 * the node keeps serving (a fresh peer's write is applied and acknowledged, an admin client reads
 * it), and the heap after a forced GC grows by less than HEAP_BOUND_BYTES over the whole run.
 *
 * Counts: MESHCACHE_FUZZ_FRAMES frames each side of authentication (default 10,000, what CI runs);
 * `npm run fuzz` runs more (scripts/fuzz.mjs). MESHCACHE_FUZZ_SEED replays a run.
 */
import { serialize, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { replicaPortOf } from '@meshcache/core/internal';
import { until } from '@meshcache/core/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient, ClusterNode } from '../src/index.js';
import { MessageType } from '../src/internals.js';
import { derivePsk } from '../src/security/keyring.js';
import { MemoryNetwork } from '../src/transport/memory.js';
import type { Connection } from '../src/transport/transport.js';
import {
  adminRequestArb,
  CACHES,
  type FuzzPlaintext,
  mutate,
  plainPackr,
  plaintextArb,
  preAuthFrameArb,
  type Tampering,
  tamperingArb,
} from './fuzz-frames.js';
import { keyedHello, RawPeer } from './raw-peer.js';
import { TEST_SECRET } from './sessions.js';

const FRAMES = Number(process.env['MESHCACHE_FUZZ_FRAMES'] ?? 10_000);
const SEED = process.env['MESHCACHE_FUZZ_SEED'] === undefined ? undefined : Number(process.env['MESHCACHE_FUZZ_SEED']);
/** Heap growth allowed over a whole run, after a forced GC (docs/security.md states it). */
const HEAP_BOUND_BYTES = 32 * 1024 * 1024;
/** Each side's time limit: generous per frame, for a loaded machine (never asserted otherwise). */
const TEST_TIMEOUT = Math.max(600_000, FRAMES * 20);
/** How long one frame's outcome may take on a loaded machine before the node counts as hung. */
const OUTCOME_MILLIS = 20_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * A logger that keeps nothing (a fuzz run logs tens of thousands of refusals) but counts: `error`
 * counts only a handler that threw ('could not handle ...'); other error lines are what a fuzzed
 * but valid message may rightly cause (a ClockSample from a clock far off: 'skewed').
 */
const counts = { warn: 0, error: 0 };
const logger = {
  debug() {},
  info() {},
  warn() {
    counts.warn++;
  },
  error(_obj: object, msg?: string) {
    if (msg?.startsWith('could not handle') === true) counts.error++;
  },
};

let network: MemoryNetwork;
let node: ClusterNode;
let psk: Buffer;
/** Cache changes so far, counted by cache events. */
let changes = 0;

beforeAll(async () => {
  network = new MemoryNetwork();
  const replicated = { maxElementsInMemory: 200, replication: { replicateAsynchronously: false } };
  node = await ClusterNode.start(
    {
      name: 'gw-1',
      cluster: 'gateways',
      secret: TEST_SECRET,
      peerListener: { hostname: '127.0.0.1', port: 0, socketTimeoutMillis: 5000 },
      caches: {
        tokens: replicated,
        responses: { ...replicated, replication: { asynchronousReplicationIntervalMillis: 10 } },
        local: { maxElementsInMemory: 10 },
      },
    },
    { transport: network, logger },
  );
  psk = await derivePsk(TEST_SECRET);
  // Every change to a cache, whoever made it, except expiry found by the clock (time, not frames).
  for (const name of [...CACHES, 'local']) {
    const cache = node.manager.getCache(name);
    for (const type of ['put', 'update', 'remove', 'removeAll', 'evict'] as const) cache?.on(type, () => changes++);
    cache?.on('expire', () => changes++, { origin: 'remote' });
  }
  const tokens = node.manager.getCache('tokens');
  for (let i = 0; i < 20; i++) tokens?.put(`seed-${i}`, { token: `eyJ.${i}` });
  node.manager.getCache('local')?.put('never-replicated', 'local only');
});

afterAll(async () => {
  await node.stop();
});

/**
 * What the caches hold, to compare before and after a frame: every live entry (value, version,
 * expiry), every tombstone, each cache's last removeAll.
 */
interface Snapshot {
  readonly at: number;
  readonly entries: Map<string, { expiresAt: number; text: string }>;
  readonly tombstones: Set<string>;
  readonly clears: string;
}

function snapshot(): Snapshot {
  const entries = new Map<string, { expiresAt: number; text: string }>();
  const tombstones = new Set<string>();
  const clears: string[] = [];
  for (const name of [...CACHES, 'local']) {
    const cache = node.manager.getCache(name);
    if (cache === undefined) throw new Error(`no cache ${name}`);
    for (const entry of replicaPortOf(cache).entries()) {
      const { value, version, expiresAt, timeToLiveSeconds, timeToIdleSeconds, createdAt } = entry;
      const text = serialize([value, version, timeToLiveSeconds, timeToIdleSeconds, createdAt]).toString('base64');
      entries.set(`${name}/${entry.key}`, { expiresAt, text });
    }
    for (const { key, version } of replicaPortOf(cache).tombstones())
      tombstones.add(`${name}/${key}@${JSON.stringify(version)}`);
    clears.push(JSON.stringify(replicaPortOf(cache).clearVersion ?? null));
  }
  return { at: Date.now(), entries, tombstones, clears: clears.join() };
}

/** What changed from `before` to `after` (entries about to expire are left out), or undefined. */
function difference(before: Snapshot, after: Snapshot): string | undefined {
  const lasting = (entry: { expiresAt: number } | undefined) =>
    entry !== undefined && entry.expiresAt > before.at + 60_000;
  for (const key of new Set([...before.entries.keys(), ...after.entries.keys()])) {
    const was = before.entries.get(key);
    const is = after.entries.get(key);
    if (!lasting(was) && !lasting(is)) continue;
    if (was?.text !== is?.text) return `entry ${key} changed`;
  }
  for (const tombstone of after.tombstones) if (!before.tombstones.has(tombstone)) return `new tombstone ${tombstone}`;
  if (before.clears !== after.clears) return 'a removeAll was applied';
  return undefined;
}

/** Polls on every turn (the node runs in this process), up to OUTCOME_MILLIS. */
const settled = (check: () => boolean, what: string) =>
  until(check, what, { timeoutMillis: OUTCOME_MILLIS, intervalMillis: 0 });

/** A peer's Hello payload: [minProtocol, maxProtocol, role, cluster, node, url]. */
function helloPayload(role: 'peer' | 'admin', name: string): Buffer {
  return plainPackr.pack([2, 2, role, role === 'peer' ? 'gateways' : '', name, '']);
}

/**
 * The node still serves: a new peer links and its Sync is acknowledged, and an admin client
 * writes and reads back. (The admin writes with the node's own clock: a peer's write with the
 * wall clock may rightly lose to a removeAll the fuzzer sent up to 60 s ahead.)
 */
async function stillServes(tag: string): Promise<void> {
  const peer = await RawPeer.handshake(await network.dial(node.url), psk, helloPayload('peer', `check-${tag}`));
  if (!(peer instanceof RawPeer)) throw new Error(`a valid peer was refused: ${peer.join(' ')}`);
  expect(await peer.settled(1, OUTCOME_MILLIS)).toBe(true);
  peer.connection.close();
  const admin = await AdminClient.connect(node.url, {
    secret: TEST_SECRET,
    transport: network,
    timeoutMillis: OUTCOME_MILLIS,
  });
  try {
    await admin.put('tokens', `alive-${tag}`, tag);
    expect(await admin.get('tokens', `alive-${tag}`)).toEqual({ found: true, value: tag });
  } finally {
    admin.close();
  }
}

/** Each case sends at least one frame; once FRAMES are sent, the remaining runs return at once. */
const runs = () => ({
  numRuns: FRAMES + 200,
  endOnFailure: true,
  ...(SEED === undefined ? {} : { seed: SEED }),
});

describe('fuzzing a node', () => {
  it(
    `before authentication: ${FRAMES} outsider frames; nothing answered but Welcomes to keyed Hellos, nothing established, nothing changed`,
    async () => {
      const heapBefore = heapAfterGc();
      const initial = snapshot();
      let frames = 0;
      let welcomes = 0;
      let cases = 0;
      const now = Date.now();
      await fc.assert(
        fc.asyncProperty(fc.array(preAuthFrameArb(now), { minLength: 1, maxLength: 3 }), async (sequence) => {
          if (frames >= FRAMES) return; // enough: the remaining runs are skipped cheaply
          cases++;
          const connection: Connection = await network.dial(node.url);
          const received: Uint8Array[] = [];
          let closed: [number, string] | undefined;
          connection.onFrame((bytes) => received.push(bytes));
          connection.onClose((code, reason) => {
            closed = [code, reason];
          });
          let mayBeAnswered = false;
          for (const item of sequence) {
            let bytes: Buffer;
            if (item.kind === 'bytes') {
              bytes = item.bytes;
            } else {
              let payload: Buffer;
              try {
                payload = plainPackr.pack(item.payload);
              } catch {
                payload = Buffer.of(0xc0);
              }
              const hello = keyedHello(psk, payload).bytes;
              bytes = item.mutations === undefined ? hello : mutate(hello, item.mutations);
              // (a mutation may leave the bytes as they were: setting a byte to the value it had)
              if (bytes.equals(hello) && received.length === 0) mayBeAnswered = true;
            }
            const heard = received.length;
            connection.send(bytes);
            frames++;
            await settled(() => closed !== undefined || received.length > heard, 'the node to close or answer');
            if (closed !== undefined) break;
          }
          // Only a Hello the key opens may be answered, with one Welcome; nothing establishes.
          if (!mayBeAnswered) expect(received).toHaveLength(0);
          expect(received.length).toBeLessThanOrEqual(1);
          for (const answer of received) expect([...answer.subarray(0, 4)]).toEqual([0x6d, 0x63, 1, 2]);
          welcomes += received.length;
          if (closed !== undefined) {
            expect([4002, 4003]).toContain(closed[0]);
            expect(closed[1]).toMatch(/^[\x20-\x7e]{1,123}$/);
          }
          connection.close();
          expect(node.peers()).toHaveLength(0);
          if (cases % 250 === 0) expect(difference(initial, snapshot())).toBeUndefined();
        }),
        runs(),
      );
      expect(frames).toBeGreaterThanOrEqual(FRAMES);
      expect(difference(initial, snapshot())).toBeUndefined();
      await stillServes('pre-auth');
      const growth = heapAfterGc() - heapBefore;
      console.log(
        `fuzz before authentication: ${frames} frames in ${cases} connections, ${welcomes} Welcomes, heap ${(growth / 1048576).toFixed(1)} MiB`,
      );
      expect(growth).toBeLessThan(HEAP_BOUND_BYTES);
    },
    TEST_TIMEOUT,
  );

  it(
    `after authentication: ${FRAMES} frames inside encrypted sessions; every rejected frame closes its session and changes nothing`,
    async () => {
      const heapBefore = heapAfterGc();
      const tally = { frames: 0, accepted: 0, rejected: 0, adminErrors: 0, sessions: 0 };
      const reasons = new Map<string, number>();
      let ids = 2 ** 40; // above any id the fuzzer itself sends (fc.nat), so an answer is never mistaken
      const now = Date.now();
      const step = fc.tuple(plaintextArb(now), tamperingArb);
      const adminStep = fc.oneof(
        { weight: 5, arbitrary: adminRequestArb().map((message) => ({ kind: 'valid', message }) as FuzzPlaintext) },
        { weight: 1, arbitrary: plaintextArb(now) },
      );
      /**
       * Whether what was sent so far was accepted: a Sync answered (peer link), or a `peers` request
       * answered (admin session, where a Sync is refused); and whether an admin request `id` of the
       * fuzzer's was answered with an error.
       */
      const outcome = async (peer: RawPeer, role: 'peer' | 'admin', id: number | undefined) => {
        if (role === 'peer') return { accepted: await peer.settled(++ids, OUTCOME_MILLIS), adminError: false };
        const probe = ++ids;
        peer.send({ type: MessageType.AdminRequest, id: probe, op: 'peers', args: [] });
        const answered = (await peer.response(probe, OUTCOME_MILLIS)) !== undefined;
        const answer =
          id === undefined ? undefined : peer.received.find((m) => m.type === MessageType.AdminResponse && m.id === id);
        return { accepted: answered, adminError: answer !== undefined && (answer as { ok: boolean }).ok === false };
      };
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            {
              weight: 4,
              arbitrary: fc.record({
                role: fc.constant('peer' as const),
                steps: fc.array(step, { minLength: 1, maxLength: 6 }),
              }),
            },
            {
              weight: 1,
              arbitrary: fc.record({
                role: fc.constant('admin' as const),
                steps: fc.array(fc.tuple(adminStep, fc.constant('none' as Tampering)), { minLength: 1, maxLength: 6 }),
              }),
            },
          ),
          async ({ role, steps }) => {
            if (tally.frames >= FRAMES) return;
            const name = `fuzzer-${++tally.sessions}`;
            const peer = await RawPeer.handshake(await network.dial(node.url), psk, helloPayload(role, name));
            if (!(peer instanceof RawPeer)) throw new Error(`the fuzzer was refused: ${peer.join(' ')}`);
            for (const [fuzzed, tampering] of steps) {
              // An admin request gets an id of its own, so that its answer is known for sure.
              let plaintext = fuzzed;
              let adminId: number | undefined;
              if (plaintext.kind === 'valid' && plaintext.message.type === MessageType.AdminRequest) {
                adminId = ++ids;
                plaintext = { kind: 'valid', message: { ...plaintext.message, id: adminId } };
              }
              let bytes: Buffer;
              try {
                bytes =
                  plaintext.kind === 'bytes'
                    ? plaintext.bytes
                    : plaintext.kind === 'valid'
                      ? peer.codec.encode(plaintext.message)
                      : mutate(peer.codec.encode(plaintext.message), plaintext.mutations);
              } catch {
                continue; // a value msgpack cannot encode at all: nothing to send
              }
              let before = changes;
              const sealed = peer.seal(bytes);
              let spoiled = tampering !== 'none';
              switch (tampering) {
                case 'none':
                  peer.connection.send(sealed);
                  break;
                case 'flip':
                  sealed[sealed.length >> 1] = (sealed[sealed.length >> 1] as number) ^ 0x20;
                  peer.connection.send(sealed);
                  break;
                case 'cut':
                  peer.connection.send(sealed.subarray(0, sealed.length - 1));
                  break;
                case 'replay': {
                  // The frame itself may well be accepted; its second copy must not be.
                  peer.connection.send(sealed);
                  const first = await outcome(peer, role, undefined);
                  if (!first.accepted)
                    spoiled = false; // rejected on its own merits: judged as such below
                  else {
                    tally.accepted++;
                    tally.frames++;
                    before = changes;
                    peer.connection.send(sealed);
                  }
                  break;
                }
                case 'drop-then-next':
                  break; // never sent: the next frame (the Sync) carries the wrong nonce
              }
              tally.frames++;
              const { accepted, adminError } =
                tampering === 'replay' && !spoiled && peer.closed !== undefined
                  ? { accepted: false, adminError: false }
                  : await outcome(peer, role, adminId);
              if (spoiled) expect(accepted, `a ${tampering} frame was accepted`).toBe(false);
              if ((!accepted || adminError) && changes !== before) {
                throw new Error(`a rejected frame changed a cache: ${describeFrame(plaintext, tampering)}`);
              }
              if (adminError) tally.adminErrors++;
              if (!accepted) {
                tally.rejected++;
                const [code, reason] = peer.closed ?? [0, 'not closed'];
                expect(code).toBe(4002);
                expect(
                  [
                    'bad message',
                    'frame failed authentication',
                    'admin messages belong on an admin session',
                    'only admin requests are accepted on an admin session',
                  ],
                  `closed with "${reason}" after ${describeFrame(plaintext, tampering)}`,
                ).toContain(reason);
                reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
                break;
              }
              tally.accepted++;
            }
            peer.connection.close();
          },
        ),
        runs(),
      );
      expect(tally.frames).toBeGreaterThanOrEqual(FRAMES);
      expect(tally.accepted).toBeGreaterThan(FRAMES / 10);
      expect(tally.rejected).toBeGreaterThan(FRAMES / 10);
      expect(counts.error).toBe(0); // no handler threw ('could not handle a frame' is logged as an error)
      await stillServes('post-auth');
      const growth = heapAfterGc() - heapBefore;
      const held = CACHES.map((name) => {
        const cache = node.manager.getCache(name);
        return `${name} ${cache?.size ?? 0} entries, ${cache === undefined ? 0 : replicaPortOf(cache).tombstones().length} tombstones`;
      }).join('; ');
      console.log(
        `fuzz after authentication (the caches now hold ${held}): ${tally.frames} frames in ${tally.sessions} sessions (${tally.accepted} accepted, ${tally.rejected} rejected, ${tally.adminErrors} admin errors), heap ${(growth / 1048576).toFixed(1)} MiB; closes: ${JSON.stringify(Object.fromEntries(reasons))}`,
      );
      expect(growth).toBeLessThan(HEAP_BOUND_BYTES);
    },
    TEST_TIMEOUT,
  );
});

function describeFrame(plaintext: FuzzPlaintext, tampering: Tampering): string {
  const what =
    plaintext.kind === 'bytes'
      ? `${plaintext.what} ${plaintext.bytes.toString('hex').slice(0, 200)}`
      : `${plaintext.kind} ${JSON.stringify(plaintext.message, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)).slice(0, 200)}`;
  return `${what} (${tampering})`;
}
