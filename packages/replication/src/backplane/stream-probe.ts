/**
 * Where a node stands against the stream: one Lua script reads, atomically, the stream's
 * generation (a random id, made when the key is missing, so a Redis that lost its data shows a
 * new one), Redis's clock, and XINFO STREAM's last-generated-id, max-deleted-entry-id and
 * entries-added and length for the changes stream, and the last id of the node's inbox; and
 * whether the stream still holds the entry the node read last, or else the id of its first entry.
 * XINFO runs inside the script so only these numbers travel, not the first and last entries XINFO
 * also returns.
 *
 * gapIn() is the rule of redis-backplane.ts: a node reading from `at`, after the stream's
 * `position`th entry, has missed entries when the stream is a new one (renewedIn: its generation
 * changed and it is not the stream the node read), when the stream's last id is
 * behind `at` (entries lost), when its entries-added counter is behind `position` or it holds
 * more entries after `at` than that counter says were added since (the key was deleted and
 * written anew), or when something after `at` was deleted. Deletions are seen two
 * ways, because Redis records only XDEL's in max-deleted-entry-id (Redis 7.0 leaves it alone on
 * XTRIM and XADD's MAXLEN or MINID): by that id, and by the count, since a trim takes entries from
 * the head: fewer entries held than were added after `position` means some of those are gone,
 * and a node that read to the stream's end with its position behind the counter passed over some.
 * A position known only as a lower bound (after such a gap) counts nothing: there a trim that took
 * `at` is judged a gap (trimmedPast).
 */
import type { Redis } from 'ioredis';
import { compareStreamIds } from './keys.js';

const PROBE = `
local gen = redis.call('GET', KEYS[2])
if not gen then redis.call('SET', KEYS[2], ARGV[1]) gen = ARGV[1] end
local t = redis.call('TIME')
local function info(key)
  local kind = redis.call('TYPE', key)['ok']
  if kind == 'none' then return {'0-0', '0-0', 0, 0} end
  if kind ~= 'stream' then return {'', '', 0, 0} end
  local i = redis.call('XINFO', 'STREAM', key)
  local r = {}
  for n = 1, #i, 2 do r[i[n]] = i[n + 1] end
  return {r['last-generated-id'], r['max-deleted-entry-id'], r['entries-added'], r['length']}
end
local c = info(KEYS[1])
local b = info(KEYS[3])
local holds = 0
local first = ''
if ARGV[2] ~= '' and ARGV[2] ~= '0-0' and c[1] ~= '' and c[1] ~= '0-0' then
  holds = #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])
  if holds == 0 then
    local f = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
    if f[1] then first = f[1][1] end
  end
end
return {gen, t[1], t[2], c[1], c[2], c[3], b[1], c[4], holds, first}
`;

/**
 * An id the probe answers for a key that holds something other than a stream (written by someone
 * with access to Redis): XINFO would fail the whole script, and with it the heartbeat.
 */
export const NOT_A_STREAM = '';

export interface Probe {
  readonly generation: string;
  /** Redis's clock, epoch ms. */
  readonly serverNow: number;
  readonly lastGeneratedId: string;
  readonly maxDeletedId: string;
  readonly entriesAdded: number;
  /** Entries the changes stream holds now. */
  readonly length: number;
  readonly inboxLastId: string;
  /** Whether the changes stream still holds the entry the node read last (the `at` it probed with). */
  readonly holdsAt: boolean;
  /** The id of the stream's first entry, when it does not hold `at` (else, or when empty: ''). */
  readonly firstId: string;
}

export async function probeStream(
  client: Redis,
  keys: { readonly changes: string; readonly generation: string; readonly inbox: string },
  newGeneration: string,
  at = '',
): Promise<Probe> {
  const reply = (await client.eval(PROBE, 3, keys.changes, keys.generation, keys.inbox, newGeneration, at)) as [
    string,
    string,
    string,
    string,
    string,
    number,
    string,
    number,
    number,
    string,
  ];
  const [
    generation,
    seconds,
    micros,
    lastGeneratedId,
    maxDeletedId,
    entriesAdded,
    inboxLastId,
    length,
    holds,
    firstId,
  ] = reply;
  return {
    generation,
    serverNow: Number(seconds) * 1000 + Math.floor(Number(micros) / 1000),
    lastGeneratedId,
    maxDeletedId,
    entriesAdded: Number(entriesAdded),
    length: Number(length),
    inboxLastId,
    holdsAt: Number(holds) > 0,
    firstId,
  };
}

/** Where a node stands in the stream, as gapIn judges it. */
export interface Standing {
  /** The entry it read last. */
  readonly at: string;
  /** The stream's entries-added counter at `at`: a lower bound only, where `exact` is false. */
  readonly position: number;
  readonly generation: string | undefined;
  /** @default true */
  readonly exact?: boolean;
  /**
   * The max-deleted-entry-id of a deletion gap the node took already: deletions up to it are not
   * a gap again (it read on past them, and the id stays until the node's reads pass it).
   */
  readonly deletedSeen?: string;
}

/** Why a node standing so has missed entries; undefined when it has not. */
export function gapIn(probe: Probe, standing: Standing): string | undefined {
  const { at, position, generation, exact = true, deletedSeen = '0-0' } = standing;
  if (renewedIn(probe, generation, at, position)) return RENEWED;
  if (probe.lastGeneratedId === NOT_A_STREAM) return undefined; // nothing to read: the reader says so
  if (compareStreamIds(probe.lastGeneratedId, at) < 0) return WENT_BACK;
  // Sound with a position that is only a lower bound (`exact` false): both say the counter
  // is behind where the node stands.
  if (probe.entriesAdded < position || heldMoreThanAdded(probe, at, position)) return REMADE;
  if (compareStreamIds(probe.maxDeletedId, at) > 0 && compareStreamIds(probe.maxDeletedId, deletedSeen) > 0) {
    return DELETED;
  }
  if (exact ? missedByCount(probe, at, position) : trimmedPast(probe, at)) return TRIMMED;
  return undefined;
}

/**
 * Whether a trim took the entry the node read last, with something added after it: judged so
 * where the node's position is only a lower bound, which cannot tell how many entries after `at`
 * were added (the count is blind there). A trim from the head that takes `at` takes what follows
 * it up to the first entry held, and with the count blind, entries trimmed unread here went
 * unreported: the node's position became the counter again at the end (the reader's recount),
 * and the loss with it. The reader probes before each read while its count is a lower bound, so
 * that such a trim is seen here before a read passes over it. Nothing unread is lost only when
 * the trim ended at `at` exactly (an entry that closed one of the stream's nodes, for MAXLEN ~
 * and MINID ~): a gap then is one repair too many, after a gap that had just asked for one; an
 * empty stream whose last id is not `at` is always a loss.
 */
function trimmedPast(probe: Probe, at: string): boolean {
  if (probe.lastGeneratedId === at) return false;
  return !probe.holdsAt && (probe.firstId === '' || compareStreamIds(probe.firstId, at) > 0);
}

/**
 * Whether entries added after the node's position are fewer in the stream than were added: some
 * it had not read were trimmed (or deleted) before it read them. The entries held after `at` are
 * at most the stream's length (it may hold entries the node read too), so fewer held than added
 * since is always a gap; and they are exactly the length when the stream no longer holds `at`
 * (a trim from the head passed it), and none when `at` is the stream's last id. That last case
 * finds entries a reader passed over: trimmed between two of its reads (it was busy, the trim
 * came just after the writes), its next read began after them, and the stream, holding entries
 * it had read since, was never shorter than the count it lacked. Seen first then, when the node has
 * read to the end (entries added: more than its position).
 */
function missedByCount(probe: Probe, at: string, position: number): boolean {
  const added = probe.entriesAdded - position;
  if (probe.lastGeneratedId === at) return added > 0;
  return probe.length < added;
}

/**
 * How many entries the stream holds after `at`, where the probe tells exactly (see missedByCount);
 * undefined where it does not (it holds `at` and entries after it: how many of its entries the
 * node read is not known without reading them).
 */
export function heldAfter(probe: Probe, at: string): number | undefined {
  if (probe.lastGeneratedId === at) return 0;
  if (!probe.holdsAt && (probe.firstId === '' || compareStreamIds(probe.firstId, at) > 0)) return probe.length;
  return undefined;
}

/**
 * Whether the stream is a new one: its generation is not the one the node read in, and it is
 * not the stream the node read (sameStream). A generation key rewritten alone (any Redis user's
 * SET, or the key lost while the stream was not) over the same stream: reading it again from its
 * start made every node read the whole stream again, count its own entries as replays and repair
 * in full, at each such SET.
 */
export function renewedIn(probe: Probe, generation: string | undefined, at: string, position: number): boolean {
  return probe.generation !== generation && !sameStream(probe, at, position);
}

/**
 * Whether the probe shows the stream the node read: it still holds the entry the node read last,
 * or that entry is its last id and entries-added is the node's position (nothing added since, and
 * the trim took it: an idle stream that XTRIM MINID ~ emptied once its entries passed the replay
 * window). A new stream cannot hold the entry (ids are Redis's clock, and the node read that one
 * before the stream began), nor have it for last id with the same count but by a coincidence of
 * clock and counter. Without the second case, a generation key rewritten over an idle stream was a
 * new stream: a gap, and a repair in full, for nothing lost.
 */
export function sameStream(probe: Probe, at: string, position: number): boolean {
  return probe.holdsAt || (probe.lastGeneratedId === at && probe.entriesAdded === position);
}

/**
 * Whether the stream holds more entries after `at` than its entries-added counter says were added
 * after the position: then the counter is not the one the node counted in, and the key was
 * deleted and written anew. Known only when every entry it holds comes after `at` (it no longer
 * holds `at`, and its first entry is later), so that all it holds count. The counter alone
 * (entries-added behind the position) misses a new stream given more entries than the node had
 * read: such a node, back from an outage, read the new stream on from its old position, and found
 * out only once it had read to near its end (then it read the new stream again from its start,
 * each entry refused as replayed). This finds it at the probe, before anything is read; only a new
 * stream itself trimmed by as many entries as the node had read escapes both (read on, repaired by
 * anti-entropy).
 */
function heldMoreThanAdded(probe: Probe, at: string, position: number): boolean {
  if (probe.holdsAt || probe.firstId === '' || compareStreamIds(probe.firstId, at) <= 0) return false;
  return probe.length > probe.entriesAdded - position;
}

/** gapIn's answer for a new stream (Redis lost its data): read from its start. */
export const RENEWED = 'the stream is a new one (Redis lost its data)';

/** gapIn's answer for entries deleted (XDEL) after the one this node read last: it reads on, skipping nothing held. */
export const DELETED = 'entries this node had not read were deleted';

/** gapIn's answer for entries trimmed (or deleted) before this node read them: the node reads on, skipping nothing held. */
export const TRIMMED = 'entries this node had not read were trimmed';

/** gapIn's answer for a changes key deleted and written anew: read from its start, as a new generation. */
export const REMADE = 'the stream was deleted and made anew';
/**
 * The stream's last id is behind the entry the node read last, under the same generation: Redis
 * came back without its last writes (a snapshot, AOF everysec), or the key was deleted and
 * written anew within the millisecond of that entry. Either way the node cannot tell which of the
 * entries held it read: it reads the stream again from its start (stream-reader.ts).
 */
export const WENT_BACK = 'the stream lost entries this node had read';
