/**
 * The replication messages: one discriminated union, one number per type.
 *
 * Message type numbers are ONLY APPENDED: once a number has been released it keeps its meaning
 * for ever, and a retired message's number is never reused, so nodes of different versions can
 * always tell what they are looking at (the handshake's protocol version says which they know).
 */
import type { Version } from '@meshcache/core';
import type { KeyVersion } from '../repair/digest.js';

export const MessageType = Object.freeze({
  Put: 1,
  Remove: 2,
  Expire: 3,
  RemoveAll: 4,
  Batch: 5,
  // 6 and 7 were protocol 1's Hello and Proof, retired with it: the handshake is no longer made of
  // messages (security/handshake-messages.ts), and the numbers are never used again.
  BootstrapDone: 8,
  Digest: 9,
  RepairRequest: 10,
  Keys: 11,
  Pull: 12,
  Sync: 13,
  Ack: 14,
  Entries: 15,
  AdminRequest: 16,
  AdminResponse: 17,
  Lease: 18,
  ClockSample: 19,
  LinkCaches: 20,
  SkipRounds: 21,
  AskDigest: 22,
  Repaired: 23,
  /** Not a wire number: how the codec hands on a message of a type this release does not know. */
  Unknown: 0,
} as const);

/** Type numbers that were released once and are retired: never sent, never reused. */
export const RETIRED_MESSAGE_TYPES: ReadonlySet<number> = new Set([6, 7]);

export type MessageTypeNumber = (typeof MessageType)[keyof typeof MessageType];

/** A put or update made on a peer. TTL counts from the origin's createdAt on every node. */
export interface PutMessage {
  readonly type: typeof MessageType.Put;
  readonly cache: string;
  readonly key: string;
  readonly value: unknown;
  readonly version: Version;
  readonly createdAt: number;
  readonly timeToLiveSeconds: number;
  readonly timeToIdleSeconds: number;
}

/** A removal; also how invalidate mode (replicate...ViaCopy false) tells peers to drop a key. */
export interface RemoveMessage {
  readonly type: typeof MessageType.Remove;
  readonly cache: string;
  readonly key: string;
  readonly version: Version;
}

/** An expiry found on a peer: removes the key only where that same version is still held. */
export interface ExpireMessage {
  readonly type: typeof MessageType.Expire;
  readonly cache: string;
  readonly key: string;
  readonly version: Version;
}

export interface RemoveAllMessage {
  readonly type: typeof MessageType.RemoveAll;
  readonly cache: string;
  readonly version: Version;
}

/** A change to one cache: what a batch carries. */
export type ChangeMessage = PutMessage | RemoveMessage | ExpireMessage | RemoveAllMessage;

/** Changes coalesced by key inside one asynchronous interval, sent as one frame. */
export interface BatchMessage {
  readonly type: typeof MessageType.Batch;
  readonly changes: readonly ChangeMessage[];
}

/** Changes sent in answer to a repair (laid out as a batch); not live, so not counted as lag. */
export interface EntriesMessage {
  readonly type: typeof MessageType.Entries;
  readonly changes: readonly ChangeMessage[];
}

/**
 * Cluster-wide single flight: the sender claims the load of `key`, or ends its claim. Claims are
 * ordered by version (the oldest wins); a claim lives `leaseMillis` from its arrival.
 */
export interface LeaseMessage {
  readonly type: typeof MessageType.Lease;
  readonly cache: string;
  readonly key: string;
  readonly version: Version;
  readonly leaseMillis: number;
  readonly state: LeaseState;
}

/**
 * What a Lease says of the claim with its version:
 * - 'claim': the sender is about to load the key;
 * - 'withdraw': the sender lost to an older claim and will not load (its waiters keep waiting
 *   for the winner: nothing about the load's outcome is known yet);
 * - 'release': the sender's load ended; its value, if any, was sent before this.
 * On the wire: 0, 1, 2.
 */
export type LeaseState = 'claim' | 'withdraw' | 'release';

/** The operations an admin client may ask a node for. */
export type AdminOperation = 'peers' | 'stats' | 'get' | 'put' | 'remove' | 'clear';

/**
 * An admin client's request. `args` by operation: peers [], stats [cache?], get [cache, key],
 * put [cache, key, value, ttlSeconds?], remove [cache, key], clear [cache].
 */
export interface AdminRequestMessage {
  readonly type: typeof MessageType.AdminRequest;
  readonly id: number;
  readonly op: AdminOperation;
  readonly args: readonly unknown[];
}

/** The node's answer: a result, or an error code and message. */
export interface AdminResponseMessage {
  readonly type: typeof MessageType.AdminResponse;
  readonly id: number;
  readonly ok: boolean;
  /** The result when ok; `{ code, message }` when not. */
  readonly result: unknown;
}

/** The sender has answered every request of the receiver's repair of `cache` (the last Pull). */
export interface BootstrapDoneMessage {
  readonly type: typeof MessageType.BootstrapDone;
  readonly cache: string;
}

/**
 * The sender's state of `cache`, summarised: 8 bytes per bucket (see repair/digest.ts) and its
 * last removeAll. Sent when a link comes up and when the sender wants the receiver repaired.
 */
export interface DigestMessage {
  readonly type: typeof MessageType.Digest;
  readonly cache: string;
  readonly bucketCount: number;
  readonly digest: Uint8Array;
  readonly clearVersion: Version | undefined;
}

/**
 * The answer to a Digest: the buckets that differ. For `keyBuckets` the digest's sender lists
 * (key, version) pairs; for `fullBuckets` (empty on the requester) it sends the entries themselves.
 */
export interface RepairRequestMessage {
  readonly type: typeof MessageType.RepairRequest;
  readonly cache: string;
  readonly bucketCount: number;
  readonly keyBuckets: readonly number[];
  readonly fullBuckets: readonly number[];
}

/** One chunk of the (key, version) pairs of the requested buckets; `last` ends the list. */
export interface KeysMessage {
  readonly type: typeof MessageType.Keys;
  readonly cache: string;
  readonly items: readonly KeyVersion[];
  readonly last: boolean;
}

/** Keys whose entries the sender wants; answered with batches, and BootstrapDone after the `last`. */
export interface PullMessage {
  readonly type: typeof MessageType.Pull;
  readonly cache: string;
  readonly keys: readonly string[];
  readonly last: boolean;
}

/** "Acknowledge once you have applied everything I sent before this." */
export interface SyncMessage {
  readonly type: typeof MessageType.Sync;
  readonly id: number;
}

export interface AckMessage {
  readonly type: typeof MessageType.Ack;
  readonly id: number;
}

/** The sender's wall clock (epoch ms) when it sent this: both ends of a link see a skewed clock. */
export interface ClockSampleMessage {
  readonly type: typeof MessageType.ClockSample;
  readonly wallMillis: number;
}

/**
 * The caches the sender carries on this link (protocol 4), sent once as the link comes up: each
 * end then carries those both name, so both agree on them (peer-link.ts).
 */
export interface LinkCachesMessage {
  readonly type: typeof MessageType.LinkCaches;
  readonly caches: readonly string[];
}

/**
 * (Protocol 5.) The sender's last repair of `cache` from the receiver took nothing, and its cache
 * takes no keys it lacks (full, or replicatePuts off): the receiver may skip its next `rounds`
 * anti-entropy rounds to the sender (repair/cache-repair.ts, "Rounds skipped"). Digests for any
 * other reason are still sent.
 */
export interface SkipRoundsMessage {
  readonly type: typeof MessageType.SkipRounds;
  readonly cache: string;
  readonly rounds: number;
}

/**
 * (Protocol 6.) The sender asks for the receiver's digest of `cache` again: its repair from the
 * receiver took in a second Digest while the first one's keys came, so it was compared with a
 * listing the receiver may have read before it learned what that digest showed
 * (repair/cache-repair.ts). Answered with the digest, whether the cache changed since the last
 * one the sender got or not, but only once per listing the receiver sent the sender, and not once
 * it sent a digest after that listing (CacheRepair.askedForDigest). A backplane asks the same with
 * an offer to the member's inbox.
 */
export interface AskDigestMessage {
  readonly type: typeof MessageType.AskDigest;
  readonly cache: string;
}

/**
 * (Protocol 7.) The sender's repair of `cache` from the receiver, begun from the receiver's
 * `digestNumber`-th Digest of that cache on this link (counted from 1 as the link came up), is over,
 * and it holds everything that Digest showed it lacked: the two were in step, it pulled nothing
 * worth pulling, or the entries it pulled are applied (BootstrapDone came). A repair that left
 * keys for the next one (a bound on what one repair pulls was met) sends none. What the receiver
 * needs to count a peer whose queue it overflowed as acknowledged in settle() again
 * (cache-replicator.ts): only the repairing side knows when its repair is over.
 */
export interface RepairedMessage {
  readonly type: typeof MessageType.Repaired;
  readonly cache: string;
  readonly digestNumber: number;
}

/** A message of a type this release does not know (from a newer peer): counted, logged once, skipped. */
export interface UnknownMessage {
  readonly type: typeof MessageType.Unknown;
  /** Its type number on the wire. */
  readonly number: number;
}

export type RepairMessage =
  | DigestMessage
  | RepairRequestMessage
  | KeysMessage
  | PullMessage
  | EntriesMessage
  | BootstrapDoneMessage
  | SkipRoundsMessage
  | AskDigestMessage
  | RepairedMessage;

export type Message =
  | ChangeMessage
  | BatchMessage
  | RepairMessage
  | SyncMessage
  | AckMessage
  | AdminRequestMessage
  | AdminResponseMessage
  | LeaseMessage
  | ClockSampleMessage
  | LinkCachesMessage
  | UnknownMessage;
