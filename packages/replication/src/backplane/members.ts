/**
 * Who else is on the backplane: the table a node keeps of the other members, from their presence
 * records (a hash in Redis, one sealed record per node, rewritten every heartbeat) and from the
 * inbox messages they send.
 *
 * A member is live while its records keep moving forward: while this node, by its own clock, last
 * saw a newer one than before less than MISSED_HEARTBEATS heartbeats ago (plus the heartbeats
 * between two reads of the hash: past 50 members a node reads it every few heartbeats, so that
 * reading stays about 50 records a heartbeat whatever the cluster's size). Arrival decides, not
 * the seal time against this node's clock: a writer whose clock was 15 s behind was taken for
 * gone for ever (never a repair source; a joiner thought itself alone), and one ahead stayed live
 * that long after it stopped. The seal time still orders a member's records (an older one says
 * nothing), and one sealed longer ago than the clocks' drift bound plus that silence counts for
 * nothing either. The first record read of a member counts only if it is recent by this node's
 * clock too, as before: a node that crashed a few seconds ago left its last record in the hash,
 * and a joiner that took it for live stalled its first repair on it. A member whose first record
 * is older (a writer whose clock is behind, or one that died) is `unconfirmed` until its next
 * record shows which; a bootstrap that finds no live member waits one heartbeat for that. A
 * member gone for FORGET_MILLIS is forgotten, and its record deleted.
 *
 * Guarantees: only records sealed with the cluster secret by the node they name are taken.
 * Not guaranteed: that a live member answers (a repair from it can still stall: the caller tries
 * another).
 */
import { Packr, Unpackr } from 'msgpackr';
import { HeldLag } from '../held-lag.js';
import { DEFAULT_MAX_DRIFT_MILLIS } from '../hlc.js';
import type { SealHeader } from './entry-seal.js';

/** Heartbeats a member may miss before it counts as gone. */
export const MISSED_HEARTBEATS = 5;
/** A member gone this long is forgotten (and its presence record deleted). */
export const FORGET_MILLIS = 10 * 60_000;
/** Presence records a node reads per heartbeat, on average, in a large cluster. */
const RECORDS_PER_HEARTBEAT = 50;

export interface Member {
  incarnation: string;
  url: string;
  caches: readonly string[];
  /** Seal time of its newest presence record (epoch ms, the writer's clock; 0 before one). */
  lastSeen: number;
  /**
   * Seal time of the newest record or inbox message read from this incarnation (0 before one):
   * what tells a message from a former run, read late, from a restart when no record of the live
   * run has been read yet.
   */
  newestSeal: number;
  /** This node's clock when that seal time last moved forward (0 before): what liveness goes by. */
  advancedAt: number;
  changesReceived: number;
  /** The lag of the last batch read from it. */
  readonly lag: HeldLag;
  repairs: number;
  /** Epoch ms of the last inbox message from it (a repair in progress is alive while these come). */
  lastHeard: number;
  /** How often it says it writes its record (undefined from a release that did not say). */
  heartbeatMillis: number | undefined;
  /**
   * This incarnation reads inbox messages addressed to it: its records say so (PresenceRecord), or
   * it sent an addressed one itself (redis-backplane.ts, #onInbox).
   */
  addressed: boolean;
  /**
   * Its clock minus this node's (ms): the seal time of its newest record less this node's clock
   * when that record was read (a little low: the record waited up to a read interval); null until
   * a record of it moved on.
   */
  clockOffsetMillis: number | null;
  /** This node's clock when a record of it sealed past the drift bound from it last moved on (0: in step). */
  skewedAt: number;
}

/** What a presence record says, besides its seal. */
export interface PresenceRecord {
  readonly incarnation: string;
  readonly url: string;
  readonly caches: readonly string[];
  /**
   * How often the writer heartbeats: a member is judged by its own rate (a node at 15 s seen by
   * one at 1 s went down and came back every few seconds, mid-rollout of a heartbeat change).
   */
  readonly heartbeatMillis?: number | undefined;
  /**
   * The writer drops inbox messages addressed to another incarnation of it (entry-seal.ts), so it
   * may be sent addressed ones; false from a release that did not say, which is sent neither.
   */
  readonly addressed?: boolean;
}

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

export function encodePresence(record: PresenceRecord): Buffer {
  return packr.pack({
    i: record.incarnation,
    u: record.url,
    c: record.caches,
    h: record.heartbeatMillis,
    ...(record.addressed === true ? { a: true } : {}),
  });
}

/** The longest heartbeat a record may claim (the option's own bound): a forged 10^9 must not keep a member live for ever. */
const MAX_CLAIMED_HEARTBEAT_MILLIS = 60_000;

export function decodePresence(bytes: Buffer): Omit<PresenceRecord, 'incarnation'> {
  const raw = unpackr.unpack(bytes) as { u?: unknown; c?: unknown; h?: unknown; a?: unknown };
  const heartbeat = raw.h;
  return {
    url: typeof raw.u === 'string' ? raw.u : '',
    caches: Array.isArray(raw.c) ? raw.c.filter((c): c is string => typeof c === 'string') : [],
    heartbeatMillis:
      typeof heartbeat === 'number' && Number.isFinite(heartbeat) && heartbeat > 0
        ? Math.min(heartbeat, MAX_CLAIMED_HEARTBEAT_MILLIS)
        : undefined,
    addressed: raw.a === true,
  };
}

export interface MembersOptions {
  readonly heartbeatMillis: number;
  readonly clock: () => number;
  /** How far apart the nodes' clocks may be (the hybrid clock's bound). @default 60000 */
  readonly maxDriftMillis?: number;
  /** The member restarted (a new incarnation): whatever was under way with its former self is over. */
  readonly onRestarted: (name: string) => void;
  /** The member is live (seen in a presence record just now). */
  readonly onLive: (name: string) => void;
  /** The member has been silent for long: drop what is kept for it. */
  readonly onGone: (name: string) => void;
  /** The member's clock went past the drift bound from this node's (`skewed`), or came back within it. */
  readonly onClock?: (name: string, skewed: boolean, offsetMillis: number) => void;
}

export class Members {
  readonly #options: MembersOptions;
  readonly #members = new Map<string, Member>();
  #beats = 0;
  /** Heartbeats between two reads of the presence hash. */
  #readEvery = 1;

  constructor(options: MembersOptions) {
    this.#options = options;
  }

  get(name: string): Member | undefined {
    return this.#members.get(name);
  }

  /** Members known, live or not (until forgotten). */
  get size(): number {
    return this.#members.size;
  }

  has(name: string): boolean {
    return this.#members.has(name);
  }

  entries(): IterableIterator<[string, Member]> {
    return this.#members.entries();
  }

  /** The member named, created (not live yet) when first heard of; a new incarnation resets it. */
  member(name: string, incarnation: string): Member {
    let member = this.#members.get(name);
    if (member === undefined) {
      member = {
        incarnation,
        url: '',
        caches: [],
        lastSeen: 0,
        newestSeal: 0,
        advancedAt: 0,
        changesReceived: 0,
        lag: new HeldLag(),
        repairs: 0,
        lastHeard: 0,
        heartbeatMillis: undefined,
        addressed: false,
        clockOffsetMillis: null,
        skewedAt: 0,
      };
      this.#members.set(name, member);
    } else if (member.incarnation !== incarnation) {
      member.incarnation = incarnation;
      // What its former self said of itself is not known of this one until its own record.
      member.addressed = false;
      member.newestSeal = 0;
      this.#options.onRestarted(name);
    }
    return member;
  }

  /**
   * The member that sealed an inbox message (`header`), created or reset as member() does; or
   * undefined when the message comes from a run of it before the one read since, by a record or a
   * message (an inbox read late, behind a restart): that run is over, and taking the message for a
   * restart would end whatever is under way with the live run, until its next message ended it
   * again.
   */
  heardFrom(header: SealHeader): Member | undefined {
    if (fromFormerRun(this.#members.get(header.writer), header)) return undefined;
    const member = this.member(header.writer, header.incarnation);
    member.newestSeal = Math.max(member.newestSeal, header.sealedAt);
    return member;
  }

  /**
   * Whether `member`'s clock is past the drift bound from this node's, by a record that moved on
   * lately. Its entries are refused then (ahead: as from the future, replay-guard.ts), or it
   * refuses this node's (behind), so it replicates nothing with this node; a state of its own
   * where 'connected' (ahead) or 'down' (behind) was shown, as a mesh link shows 'skewed'.
   */
  skewed(member: Member): boolean {
    return member.skewedAt > 0 && member.skewedAt >= this.#options.clock() - this.#silenceAllowed(member);
  }

  alive(member: Member): boolean {
    return member.advancedAt > 0 && member.advancedAt >= this.#options.clock() - this.#silenceAllowed(member);
  }

  /** How long `member` may go unheard and still be live. */
  #silenceAllowed(member: Member): number {
    return (MISSED_HEARTBEATS + this.#readEvery) * this.#everyOf(member);
  }

  /** How often `member` is to be heard from: its own heartbeat, or this node's if that is slower (or unsaid). */
  #everyOf(member: Member): number {
    return Math.max(this.#options.heartbeatMillis, member.heartbeatMillis ?? 0);
  }

  /** Whether a member was read whose liveness its next record will tell (see above). */
  hasUnconfirmed(): boolean {
    for (const member of this.#members.values()) if (member.advancedAt === 0 && member.lastSeen > 0) return true;
    return false;
  }

  /** Names of the live members, but those in `excluding`. */
  live(excluding?: ReadonlySet<string>): string[] {
    return [...this.#members.entries()]
      .filter(([name, member]) => excluding?.has(name) !== true && this.alive(member))
      .map(([name]) => name);
  }

  /**
   * Names of the live members this node can repair from, or send its digest to, but those in
   * `excluding`: live and not skewed. A skewed member refuses this node's repair offer (sealed
   * too far in its past or future), so a joiner that drew it waited out a stall, and warned that
   * the repair stalled, before it tried another.
   */
  sources(excluding?: ReadonlySet<string>): string[] {
    return this.live(excluding).filter((name) => this.isSource(name));
  }

  /** Whether `name` is live and not skewed (sources). */
  isSource(name: string): boolean {
    const member = this.#members.get(name);
    return member !== undefined && this.alive(member) && !this.skewed(member);
  }

  /** Whether this heartbeat reads the whole presence hash (every one up to 50 members). */
  readsThisBeat(): boolean {
    this.#readEvery = Math.max(1, Math.ceil(this.#members.size / RECORDS_PER_HEARTBEAT));
    return this.#beats++ % this.#readEvery === 0;
  }

  /**
   * Takes in the presence hash, each record already opened (undefined: it did not authenticate).
   * Returns the names whose records are too old to keep (the caller deletes them from Redis).
   */
  update(records: ReadonlyMap<string, { header: SealHeader; record: Omit<PresenceRecord, 'incarnation'> }>): string[] {
    const now = this.#options.clock();
    const drift = this.#options.maxDriftMillis ?? DEFAULT_MAX_DRIFT_MILLIS;
    const expired: string[] = [];
    const seen = new Set<string>();
    for (const [name, { header, record }] of records) {
      if (header.writer !== name) continue;
      if (header.sealedAt < now - FORGET_MILLIS) {
        expired.push(name);
        continue;
      }
      seen.add(name);
      // A record older than one already read, written back into the hash (any Redis user can),
      // says nothing: not a restart (its incarnation), nor a heartbeat, URL or caches left since.
      // Nor does a former run's record older than a message read from the live run.
      const known = this.#members.get(name);
      if (known !== undefined && header.sealedAt < known.lastSeen) continue;
      if (fromFormerRun(known, header)) continue;
      const member = this.member(name, header.incarnation);
      const silence = this.#silenceAllowed(member);
      const firstRecent = member.lastSeen === 0 && header.sealedAt >= now - silence;
      const movedOn = member.lastSeen > 0 && header.sealedAt > member.lastSeen;
      if (firstRecent || (movedOn && header.sealedAt >= now - drift - silence)) member.advancedAt = now;
      // A record that moved on says how far its writer's clock stands from this one's. Past the
      // drift bound ahead (as the replay rule refuses its entries), or behind by more than the
      // bound and the silence a record may wait to be read: skewed. A record that did not move
      // (a member that died, its last record still in the hash) says nothing of its clock.
      if (firstRecent || movedOn) {
        const offset = header.sealedAt - now;
        const skewed = offset > drift || offset < -drift - silence;
        if (skewed !== member.skewedAt > 0) this.#options.onClock?.(name, skewed, offset);
        member.clockOffsetMillis = offset;
        member.skewedAt = skewed ? now : 0;
      }
      member.lastSeen = header.sealedAt;
      member.newestSeal = Math.max(member.newestSeal, header.sealedAt);
      member.url = record.url;
      member.caches = record.caches;
      member.heartbeatMillis = record.heartbeatMillis;
      member.addressed = record.addressed === true;
      if (this.alive(member)) this.#options.onLive(name);
    }
    for (const [name, member] of [...this.#members]) {
      if (!seen.has(name) && member.lastSeen < now - FORGET_MILLIS) {
        this.#members.delete(name);
        this.#options.onGone(name);
      } else if (!this.alive(member) && now - member.lastHeard > MISSED_HEARTBEATS * this.#everyOf(member)) {
        this.#options.onGone(name);
      }
    }
    return expired;
  }
}

/**
 * Whether `header` was sealed by a run of `known` that is over: another incarnation than the one
 * known, sealed before the newest record or message read from the member's runs.
 */
function fromFormerRun(known: Member | undefined, header: SealHeader): boolean {
  return (
    known !== undefined &&
    known.incarnation !== header.incarnation &&
    header.sealedAt < Math.max(known.lastSeen, known.newestSeal)
  );
}
