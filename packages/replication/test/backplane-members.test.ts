/**
 * The backplane's bookkeeping without Redis: stream ids, the gap rule, and the member table.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EntrySealer, KIND_CONTROL } from '../src/backplane/entry-seal.js';
import { compareStreamIds } from '../src/backplane/keys.js';
import { decodePresence, encodePresence, FORGET_MILLIS, Members } from '../src/backplane/members.js';
import { encodeEntry } from '../src/backplane/redis-backplane.js';
import { gapIn, heldAfter, type Probe, renewedIn, type Standing } from '../src/backplane/stream-probe.js';
import { MessageType, WireCodec } from '../src/internals.js';

describe('stream ids and the gap rule', () => {
  it('orders ids by milliseconds, then sequence', () => {
    expect(compareStreamIds('5-1', '5-0')).toBeGreaterThan(0);
    expect(compareStreamIds('4-9', '5-0')).toBeLessThan(0);
    expect(compareStreamIds('10-0', '9-99')).toBeGreaterThan(0);
    expect(compareStreamIds('0-0', '0-0')).toBe(0);
  });

  const probe = (over: Partial<Probe>): Probe => ({
    generation: 'g1',
    serverNow: 0,
    lastGeneratedId: '100-0',
    maxDeletedId: '50-0',
    entriesAdded: 10,
    length: 8,
    inboxLastId: '0-0',
    holdsAt: true,
    firstId: '',
    ...over,
  });

  /** A node at 80-0, the 8th entry, in generation g1. */
  const AT_80: Standing = { at: '80-0', position: 8, generation: 'g1' };

  it('reads on in a stream whose generation key alone was rewritten: it still holds the entry read last', () => {
    expect(gapIn(probe({ generation: 'g2' }), AT_80)).toBeUndefined();
    expect(renewedIn(probe({ generation: 'g2' }), 'g1', '80-0', 8)).toBe(false);
    expect(renewedIn(probe({ generation: 'g2', holdsAt: false }), 'g1', '80-0', 8)).toBe(true);
    expect(renewedIn(probe({ holdsAt: false }), 'g1', '80-0', 8)).toBe(false);
  });

  it("reads on in a stream trimmed empty whose generation key was rewritten: its last id and count are the node's", () => {
    const emptied = { generation: 'g2', holdsAt: false, lastGeneratedId: '80-0', length: 0 };
    expect(gapIn(probe({ ...emptied, entriesAdded: 8 }), AT_80)).toBeUndefined();
    // Another count, or another last id: not the stream the node read.
    expect(renewedIn(probe({ ...emptied, entriesAdded: 9 }), 'g1', '80-0', 8)).toBe(true);
    expect(renewedIn(probe({ ...emptied, entriesAdded: 8 }), 'g1', '70-0', 8)).toBe(true);
  });

  it('reads on when nothing after the position is gone', () => {
    expect(gapIn(probe({}), AT_80)).toBeUndefined();
    expect(gapIn(probe({ maxDeletedId: '80-0' }), AT_80)).toBeUndefined(); // only what was read
    // Trimmed from the head, up to what was read: 10 added, 2 after the position, 2 held.
    expect(gapIn(probe({ length: 2 }), AT_80)).toBeUndefined();
  });

  it('finds a new generation, lost entries, a stream made anew, and entries deleted or trimmed before they were read', () => {
    expect(gapIn(probe({ generation: 'g2', holdsAt: false }), AT_80)).toMatch(/new one/);
    expect(gapIn(probe({ lastGeneratedId: '70-0' }), AT_80)).toMatch(/lost entries/);
    expect(gapIn(probe({ entriesAdded: 3, length: 3 }), AT_80)).toMatch(/made anew/);
    expect(gapIn(probe({ maxDeletedId: '90-0' }), AT_80)).toMatch(/deleted/);
    // A deletion taken as a gap already (the node read on past it): not a gap again; a later one is.
    expect(gapIn(probe({ maxDeletedId: '90-0' }), { ...AT_80, deletedSeen: '90-0' })).toBeUndefined();
    expect(gapIn(probe({ maxDeletedId: '95-0' }), { ...AT_80, deletedSeen: '90-0' })).toMatch(/deleted/);
    // XTRIM and MAXLEN do not move max-deleted-entry-id: the count tells. 2 added after the
    // position, 1 held: one of them is gone.
    expect(gapIn(probe({ length: 1 }), AT_80)).toMatch(/trimmed/);
  });

  it('finds entries a node passed over, trimmed between two of its reads, once it has read to the end', () => {
    // 10 added, the node at the last of them with a position of 8: two went before it read them,
    // and the 5 entries held (read since) never made the stream shorter than the 2 it lacked.
    expect(gapIn(probe({ lastGeneratedId: '80-0', length: 5 }), AT_80)).toMatch(/trimmed/);
    expect(
      gapIn(probe({ lastGeneratedId: '80-0', length: 5 }), { at: '80-0', position: 10, generation: 'g1' }),
    ).toBeUndefined();
    // Not at the end yet, the count cannot tell how many of the 5 held it read: no gap yet.
    expect(gapIn(probe({ length: 5 }), { at: '80-0', position: 6, generation: 'g1' })).toBeUndefined();
  });

  it('judges no trim by a position known only as a lower bound', () => {
    expect(gapIn(probe({ length: 1 }), { ...AT_80, exact: false })).toBeUndefined();
    expect(gapIn(probe({ lastGeneratedId: '80-0' }), { ...AT_80, exact: false })).toBeUndefined();
    // What a lower bound still proves: the counter behind it, a new stream.
    expect(gapIn(probe({ entriesAdded: 3, length: 3 }), { ...AT_80, exact: false })).toMatch(/made anew/);
  });

  it('takes a trim of the entry read last for a gap where the position is only a lower bound', () => {
    // The count is blind there; a trim that took `at` and what followed it went unreported.
    expect(gapIn(probe({ holdsAt: false, firstId: '90-0', length: 2 }), { ...AT_80, exact: false })).toMatch(/trimmed/);
    expect(gapIn(probe({ holdsAt: false, firstId: '', length: 0 }), { ...AT_80, exact: false })).toMatch(/trimmed/);
    // A first entry before `at` (that one deleted alone): no trim took it.
    expect(gapIn(probe({ holdsAt: false, firstId: '70-0', length: 9 }), { ...AT_80, exact: false })).toBeUndefined();
  });

  it('tells how many entries follow the one read last where the probe knows', () => {
    expect(heldAfter(probe({ lastGeneratedId: '80-0' }), '80-0')).toBe(0);
    expect(heldAfter(probe({ holdsAt: false, firstId: '90-0', length: 4 }), '80-0')).toBe(4);
    expect(heldAfter(probe({ holdsAt: false, firstId: '', length: 0 }), '80-0')).toBe(0);
    expect(heldAfter(probe({ length: 4 }), '80-0')).toBeUndefined();
  });

  it('finds a stream made anew that was given more entries than the node had read, before reading any of it', () => {
    // Not the entry read last, and every entry held is later: 5 held after the position, where
    // the counter says 12 - 8 = 4 were added since. The counter alone (12 >= 8) missed it.
    expect(gapIn(probe({ holdsAt: false, firstId: '90-0', entriesAdded: 12, length: 5 }), AT_80)).toMatch(/made anew/);
    // The same stream, trimmed up to and past the entry read last: it holds only what came after.
    expect(gapIn(probe({ holdsAt: false, firstId: '90-0', entriesAdded: 12, length: 4 }), AT_80)).toBeUndefined();
    // A first entry before the one read last (that one deleted alone): the count says nothing.
    expect(gapIn(probe({ holdsAt: false, firstId: '70-0', entriesAdded: 12, length: 9 }), AT_80)).toBeUndefined();
  });
});

describe('the member table', () => {
  const psk = randomBytes(32);
  const where = 'meshcache:{c}:members';
  const record = (
    writer: string,
    sealedAt: number,
    sealer = new EntrySealer({ cluster: 'c', writer, psks: [psk] }),
    heartbeatMillis?: number,
  ) => {
    const sealed = sealer.seal(
      KIND_CONTROL,
      encodePresence({ incarnation: sealer.incarnationHex, url: `ws://${writer}`, caches: ['a'], heartbeatMillis }),
      where,
      sealedAt,
    );
    const opened = new EntrySealer({ cluster: 'c', writer: 'me', psks: [psk] }).open(sealed, where);
    return { header: opened.header, record: decodePresence(opened.plaintext) };
  };

  /** A member table at a heartbeat of 1 s on `clock`, noting in `gone` who went. */
  const goneInto = (gone: string[], clock: () => number) =>
    new Members({
      heartbeatMillis: 1000,
      clock,
      onRestarted: () => {},
      onLive: () => {},
      onGone: (name) => gone.push(name),
    });

  it('is live while its records are recent, by their seal time; a restart and a long silence are reported', () => {
    let now = 1_000_000;
    const events: string[] = [];
    const members = new Members({
      heartbeatMillis: 1000,
      clock: () => now,
      onRestarted: (name) => events.push(`restarted ${name}`),
      onLive: (name) => events.push(`live ${name}`),
      onGone: (name) => events.push(`gone ${name}`),
    });
    const first = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk] });
    members.update(new Map([['gw-2', record('gw-2', now, first)]]));
    expect(members.live()).toEqual(['gw-2']);
    expect(members.get('gw-2')).toMatchObject({ url: 'ws://gw-2', caches: ['a'] });
    // A record replayed later says nothing new: its seal time is old.
    now += 10_000;
    members.update(new Map([['gw-2', record('gw-2', now - 10_000, first)]]));
    expect(members.live()).toEqual([]);
    expect(events).toContain('gone gw-2');
    // Back with a new incarnation: a restart.
    members.update(new Map([['gw-2', record('gw-2', now)]]));
    expect(events).toContain('restarted gw-2');
    expect(members.live()).toEqual(['gw-2']);
    // A record under another node's name is not taken; one older than FORGET_MILLIS is to delete.
    const forged = record('gw-3', now);
    expect(members.update(new Map([['gw-4', forged]]))).toEqual([]);
    expect(members.has('gw-4')).toBe(false);
    expect(members.update(new Map([['gw-5', record('gw-5', now - FORGET_MILLIS - 1)]]))).toEqual(['gw-5']);
  });

  it("knows which incarnation of a member reads addressed inbox messages: its own records say, not its former self's", () => {
    const now = 1_000_000;
    const members = goneInto([], () => now);
    const sealer = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk] });
    const sealed = (addressed?: boolean, by = sealer, at = now) => {
      const presence = encodePresence({ incarnation: by.incarnationHex, url: '', caches: [], addressed });
      const opened = new EntrySealer({ cluster: 'c', writer: 'me', psks: [psk] }).open(
        by.seal(KIND_CONTROL, presence, where, at),
        where,
      );
      return { header: opened.header, record: decodePresence(opened.plaintext) };
    };
    // A record of an earlier release has no such field: such a member is sent what it reads.
    expect(sealed().record.addressed).toBe(false);
    members.update(new Map([['gw-2', sealed(true)]]));
    expect(members.get('gw-2')?.addressed).toBe(true);
    // Its next run is heard from in an inbox message before its first record is read.
    const next = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk] });
    members.member('gw-2', next.incarnationHex);
    expect(members.get('gw-2')?.addressed).toBe(false);
    members.update(new Map([['gw-2', sealed(true, next, now + 1)]]));
    expect(members.get('gw-2')?.addressed).toBe(true);
    // Rolled back to a release that does not say it.
    const rolledBack = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk] });
    members.update(new Map([['gw-2', sealed(undefined, rolledBack, now + 2)]]));
    expect(members.get('gw-2')?.addressed).toBe(false);
  });

  it("judges a member by its own heartbeat when slower than this node's (a heartbeat change rolled out), never past the option's bound", () => {
    let now = 1_000_000;
    const gone: string[] = [];
    const members = goneInto(gone, () => now);
    const slow = new EntrySealer({ cluster: 'c', writer: 'slow', psks: [psk] });
    const forged = new EntrySealer({ cluster: 'c', writer: 'forever', psks: [psk] });
    const silent = new EntrySealer({ cluster: 'c', writer: 'old', psks: [psk] });
    const records = () =>
      new Map([
        ['slow', record('slow', start, slow, 15_000)],
        ['forever', record('forever', start, forged, 1e12)],
        ['old', record('old', start, silent)],
      ]);
    const start = now;
    members.update(records());
    now += 14_000; // past 6 of this node's heartbeats, within one of slow's
    members.update(records());
    expect(members.live().sort()).toEqual(['forever', 'slow']);
    expect(gone).toEqual(['old']);
    now = start + 6 * 60_000 + 1; // past 6 heartbeats of the longest a record may claim
    members.update(records());
    expect(members.live()).toEqual([]);
  });

  it("goes by its records' arrival, not their seal time against this clock: a writer behind or ahead is live while it writes, gone soon after it stops (found by the outside review)", () => {
    let now = 1_000_000;
    const gone: string[] = [];
    const members = goneInto(gone, () => now);
    const behind = new EntrySealer({ cluster: 'c', writer: 'behind', psks: [psk] });
    const ahead = new EntrySealer({ cluster: 'c', writer: 'ahead', psks: [psk] });
    const beat = () =>
      members.update(
        new Map([
          ['behind', record('behind', now - 15_000, behind)],
          ['ahead', record('ahead', now + 30_000, ahead)],
        ]),
      );
    // The first record of the one behind is old by this clock: unconfirmed until the next shows it moving.
    beat();
    expect(members.live()).toEqual(['ahead']);
    expect(members.hasUnconfirmed()).toBe(true);
    gone.length = 0; // not live yet counts as gone for what is kept for it: nothing is
    now += 1000;
    for (let i = 1; i < 20; i++) {
      beat();
      expect(members.live().sort()).toEqual(['ahead', 'behind']);
      now += 1000;
    }
    expect(members.hasUnconfirmed()).toBe(false);
    // Both stop: their last records stay in the hash, read again at every heartbeat.
    const last = new Map([
      ['behind', record('behind', now - 16_000, behind)],
      ['ahead', record('ahead', now + 29_000, ahead)],
    ]);
    for (let i = 0; i < 5; i++) {
      now += 1000;
      members.update(last);
      expect(members.live().sort()).toEqual(['ahead', 'behind']);
    }
    now += 2000; // past 6 heartbeats (5 missed, and one between reads) since they stopped
    members.update(last);
    expect(members.live()).toEqual([]);
    expect(gone.sort()).toEqual(['ahead', 'behind']);
    // A dead node's last record, first read long after it was sealed, makes nobody live; nor
    // one that crashed 15 s ago (a joiner stalled its first repair on it), read again and again.
    members.update(new Map([['dead', record('dead', now - 5 * 60_000)]]));
    expect(members.has('dead')).toBe(true);
    expect(members.live()).toEqual([]);
    const crashed = new Map([['crashed', record('crashed', now - 15_000)]]);
    for (let i = 0; i < 3; i++) {
      members.update(crashed);
      expect(members.live()).toEqual([]);
      now += 1000;
    }
  });

  it("says a member whose clock is past the drift bound is skewed, ahead or behind, once, and when it is in step again; a dead member's old record is not", () => {
    let now = 1_000_000;
    const said: string[] = [];
    const members = new Members({
      heartbeatMillis: 1000,
      clock: () => now,
      onRestarted: () => {},
      onLive: () => {},
      onGone: () => {},
      onClock: (name, skewed, offset) => said.push(`${name} ${skewed ? 'skewed' : 'in step'} ${offset}`),
    });
    const sealers = new Map(
      ['ahead90', 'ahead30', 'behind90', 'dead'].map((name) => [
        name,
        new EntrySealer({ cluster: 'c', writer: name, psks: [psk] }),
      ]),
    );
    const offsets = new Map([
      ['ahead90', 90_000],
      ['ahead30', 30_000],
      ['behind90', -90_000],
    ]);
    const dead = record('dead', now - 5 * 60_000, sealers.get('dead'));
    const beat = () =>
      members.update(
        new Map([
          ...[...offsets].map(
            ([name, offset]) =>
              [name, record(name, now + offset, sealers.get(name))] as [string, ReturnType<typeof record>],
          ),
          ['dead', dead],
        ]),
      );
    for (let i = 0; i < 5; i++) {
      beat();
      now += 1000;
    }
    const member = (name: string) => members.get(name) as NonNullable<ReturnType<Members['get']>>;
    expect(members.skewed(member('ahead90'))).toBe(true);
    expect(member('ahead90').clockOffsetMillis).toBe(90_000);
    expect(members.skewed(member('behind90'))).toBe(true); // its records move on, 90 s behind
    expect(member('behind90').clockOffsetMillis).toBe(-90_000);
    expect(members.skewed(member('ahead30'))).toBe(false); // within the bound: in step, live
    expect(members.live()).toContain('ahead30');
    expect(members.skewed(member('dead'))).toBe(false); // its record never moves: nothing said of its clock
    expect(member('dead').clockOffsetMillis).toBeNull();
    expect(said).toEqual(['ahead90 skewed 90000', 'behind90 skewed -90000']); // once each, not per record
    // The clocks agree again (this node's was the one behind, and is set right): said once.
    now += 90_000;
    offsets.set('ahead90', 0);
    beat();
    expect(members.skewed(member('ahead90'))).toBe(false);
    expect(said).toEqual(['ahead90 skewed 90000', 'behind90 skewed -90000', 'ahead90 in step 0']);
    // One that stops writing is skewed no longer (gone): its last record says nothing new.
    offsets.delete('behind90');
    now += 10_000;
    beat();
    expect(members.skewed(member('behind90'))).toBe(false);
  });

  it('takes nothing from a record older than one it read: not a restart, nor the heartbeat it had then', () => {
    let now = 1_000_000;
    const events: string[] = [];
    const members = new Members({
      heartbeatMillis: 2000,
      clock: () => now,
      onRestarted: (name) => events.push(`restarted ${name}`),
      onLive: () => {},
      onGone: () => {},
    });
    // gw-2 ran with a heartbeat of 60 s, then restarted with 2 s; then it died.
    const before = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk] });
    const old = record('gw-2', now, before, 60_000);
    members.update(new Map([['gw-2', old]]));
    now += 120_000;
    members.update(new Map([['gw-2', record('gw-2', now, undefined, 2000)]]));
    expect(events).toEqual(['restarted gw-2']);
    // 30 s later a Redis user writes the old record back (sealed, within the forget bound).
    now += 30_000;
    members.update(new Map([['gw-2', old]]));
    expect(events).toEqual(['restarted gw-2']);
    expect(members.live()).toEqual([]); // gone after 5 of its own 2 s heartbeats, not 5 minutes
  });

  it("takes a former run's message, read after a message of the live run and before any record of it, for nothing: not a restart back to that run", () => {
    const now = 1_000_000;
    const events: string[] = [];
    const members = new Members({
      heartbeatMillis: 1000,
      clock: () => now,
      onRestarted: (name) => events.push(`restarted ${name}`),
      onLive: () => {},
      onGone: () => {},
    });
    const header = (by: EntrySealer, at: number) => {
      const where = 'meshcache:{c}:inbox:me';
      return new EntrySealer({ cluster: 'c', writer: 'me', psks: [psk] }).open(
        by.seal(KIND_CONTROL, encodeEntry({ type: MessageType.BootstrapDone, cache: 'a' }), where, at),
        where,
      ).header;
    };
    const former = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk] });
    const live = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk] });
    members.update(new Map([['gw-2', record('gw-2', now - 5000, former)]]));
    // The live run's start offer is read; then, from an inbox read late, its former self's last
    // message, sealed after that run's record but before the offer.
    expect(members.heardFrom(header(live, now))?.incarnation).toBe(live.incarnationHex);
    expect(members.heardFrom(header(former, now - 100))).toBeUndefined();
    expect(members.get('gw-2')?.incarnation).toBe(live.incarnationHex);
    // Nor is the former run's record, still in the hash, read after the offer.
    members.update(new Map([['gw-2', record('gw-2', now - 50, former)]]));
    expect(members.get('gw-2')?.incarnation).toBe(live.incarnationHex);
    expect(events).toEqual(['restarted gw-2']);
    // A run after the live one is a restart, message or record.
    const next = new EntrySealer({ cluster: 'c', writer: 'gw-2', psks: [psk] });
    expect(members.heardFrom(header(next, now + 10))?.incarnation).toBe(next.incarnationHex);
    expect(events).toEqual(['restarted gw-2', 'restarted gw-2']);
  });
});

describe('the bytes of a stream entry', () => {
  it('are its own: a frame held while Redis is away keeps no more memory than the bytes the writer counts', () => {
    const version = { time: 1_700_000_000_000, counter: 1, node: 'a' };
    const batch = { type: MessageType.Batch, changes: [{ type: MessageType.Remove, cache: 'c', key: 'k', version }] };
    const entries = [
      encodeEntry(batch),
      encodeEntry({ type: MessageType.BootstrapDone, cache: 'c' }),
      // A batch some session wrote first, in its chunk of up to a MiB: the entry is a copy.
      (() => {
        const shared = { type: MessageType.Batch, changes: [...batch.changes] } as const;
        new WireCodec().encode(shared);
        return encodeEntry(shared);
      })(),
    ];
    for (const entry of entries) expect(entry.buffer.byteLength).toBe(entry.length);
    expect(new WireCodec().decode(entries[0] as Buffer)).toEqual(batch);
  });
});
