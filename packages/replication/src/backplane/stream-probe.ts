/**
 * Where a node stands against the stream: one Lua script reads, atomically, the stream's
 * generation (a random id, made when the key is missing, so a Redis that lost its data shows a
 * new one), Redis's clock, and XINFO STREAM's last-generated-id, max-deleted-entry-id and
 * entries-added for the changes stream, and the last id of the node's inbox. XINFO runs inside
 * the script so only these numbers travel, not the first and last entries XINFO also returns.
 *
 * gapIn() is the rule of redis-backplane.ts: a node reading from `at` has missed entries when the
 * generation changed, when the stream's last id is behind `at` (entries lost), or when something
 * after `at` was deleted (trimmed by MAXLEN or MINID, or XDEL).
 */
import type { Redis } from 'ioredis';
import { compareStreamIds } from './keys.js';

const PROBE = `
local gen = redis.call('GET', KEYS[2])
if not gen then redis.call('SET', KEYS[2], ARGV[1]) gen = ARGV[1] end
local t = redis.call('TIME')
local function info(key)
  if redis.call('EXISTS', key) == 0 then return {'0-0', '0-0', 0} end
  local i = redis.call('XINFO', 'STREAM', key)
  local r = {}
  for n = 1, #i, 2 do r[i[n]] = i[n + 1] end
  return {r['last-generated-id'], r['max-deleted-entry-id'], r['entries-added']}
end
local c = info(KEYS[1])
local b = info(KEYS[3])
return {gen, t[1], t[2], c[1], c[2], c[3], b[1]}
`;

export interface Probe {
  readonly generation: string;
  /** Redis's clock, epoch ms. */
  readonly serverNow: number;
  readonly lastGeneratedId: string;
  readonly maxDeletedId: string;
  readonly entriesAdded: number;
  readonly inboxLastId: string;
}

export async function probeStream(
  client: Redis,
  keys: { readonly changes: string; readonly generation: string; readonly inbox: string },
  newGeneration: string,
): Promise<Probe> {
  const reply = (await client.eval(PROBE, 3, keys.changes, keys.generation, keys.inbox, newGeneration)) as [
    string,
    string,
    string,
    string,
    string,
    number,
    string,
  ];
  const [generation, seconds, micros, lastGeneratedId, maxDeletedId, entriesAdded, inboxLastId] = reply;
  return {
    generation,
    serverNow: Number(seconds) * 1000 + Math.floor(Number(micros) / 1000),
    lastGeneratedId,
    maxDeletedId,
    entriesAdded: Number(entriesAdded),
    inboxLastId,
  };
}

/** Why a node reading from `at` in `generation` has missed entries; undefined when it has not. */
export function gapIn(probe: Probe, at: string, generation: string | undefined): string | undefined {
  if (probe.generation !== generation) return 'the stream is a new one (Redis lost its data)';
  if (compareStreamIds(probe.lastGeneratedId, at) < 0) return 'the stream lost entries this node had read';
  if (compareStreamIds(probe.maxDeletedId, at) > 0) return 'entries this node had not read were trimmed';
  return undefined;
}
