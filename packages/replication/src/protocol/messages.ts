/**
 * The replication messages: one discriminated union, one number per type.
 *
 * Message type numbers are ONLY APPENDED: once a number has been released it keeps its meaning
 * for ever, and a retired message's number is never reused, so nodes of different versions can
 * always tell what they are looking at (the handshake's protocol version says which they know).
 */
import type { Version } from '@meshcache/core';

export const MessageType = Object.freeze({
  Put: 1,
  Remove: 2,
  Expire: 3,
  RemoveAll: 4,
  Batch: 5,
} as const);

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

export type Message = ChangeMessage | BatchMessage;
