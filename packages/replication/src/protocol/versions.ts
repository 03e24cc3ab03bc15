/**
 * The protocol's history, and what a link may carry. A fleet is upgraded one node at a time, so
 * a node of one release replicates with nodes of the release before it:
 *
 * - Each side says in the handshake which versions it speaks; a link speaks the highest version
 *   both do (session.ts). Every release speaks the version before its newest one too, so any two
 *   neighbouring releases can link; a version is retired only after a release in which no node
 *   speaks it any more as its newest (docs/protocol.md, "Versions and upgrades").
 * - A message type is sent on a link only if the link's version has it: a node never sends a
 *   peer what the peer does not know. A feature that needs a message is on for a link of a
 *   version that has the message, and off (with the behaviour of the older version) otherwise.
 * - A message type this node does not know (only a newer, misbehaving peer would send one, or a
 *   future release deliberately sending an optional message) is counted and logged once per
 *   link, and skipped: every message added by a new version must be one an older node can ignore
 *   without losing anything (ClockSample is such a message). What must be understood is never a
 *   new message on an old link: it waits for a version both speak. An unknown change inside a
 *   batch is not skipped: it closes the link, because skipping a change would leave peers apart.
 */
import { MessageType } from './messages.js';

export interface ProtocolVersion {
  readonly version: number;
  /** Message types this version added. */
  readonly added: readonly number[];
  readonly summary: string;
}

/** Every version this release knows, oldest first. Only ever appended to. */
export const PROTOCOL_HISTORY: readonly ProtocolVersion[] = Object.freeze([
  {
    version: 2,
    added: [
      MessageType.Put,
      MessageType.Remove,
      MessageType.Expire,
      MessageType.RemoveAll,
      MessageType.Batch,
      MessageType.BootstrapDone,
      MessageType.Digest,
      MessageType.RepairRequest,
      MessageType.Keys,
      MessageType.Pull,
      MessageType.Sync,
      MessageType.Ack,
      MessageType.Entries,
      MessageType.AdminRequest,
      MessageType.AdminResponse,
      MessageType.Lease,
    ],
    summary: 'the Noise NNpsk0 handshake and encrypted frames; everything protocol 1 carried but its handshake',
  },
  {
    version: 3,
    added: [MessageType.ClockSample],
    summary: 'ClockSample: each end tells the other its wall clock, so both see a skewed clock at once',
  },
  {
    version: 4,
    added: [MessageType.LinkCaches],
    summary:
      'LinkCaches: each end says which caches it carries on the link as it comes up, and both carry those both name',
  },
  {
    version: 5,
    added: [MessageType.SkipRounds],
    summary:
      'SkipRounds: a full bounded cache whose last repair from a peer took nothing asks it to skip its next few anti-entropy rounds',
  },
  {
    version: 6,
    added: [MessageType.AskDigest],
    summary:
      "AskDigest: a node whose repair from a peer compared a listing older than the peer's digest it took in meanwhile asks the peer for its digest again",
  },
  {
    version: 7,
    added: [MessageType.Repaired],
    summary:
      "Repaired: a node says when its repair from a peer's digest is over, so the peer's settle() counts it acknowledged after an overflow only then",
  },
]);

/**
 * The versions this release speaks: its newest and the ones before, back to 2 (the first of the
 * Noise handshake): every release since speaks it, so any two of them link.
 */
export const PROTOCOL_VERSIONS = Object.freeze({ min: 2, max: 7 });

/** The largest message type number this release knows. */
export const HIGHEST_MESSAGE_TYPE = Math.max(...PROTOCOL_HISTORY.flatMap((entry) => entry.added));

const byVersion = new Map<number, ReadonlySet<number>>();

/** The message types a link of `version` carries. */
export function messagesOf(version: number): ReadonlySet<number> {
  let types = byVersion.get(version);
  if (types === undefined) {
    types = new Set(PROTOCOL_HISTORY.filter((entry) => entry.version <= version).flatMap((entry) => entry.added));
    byVersion.set(version, types);
  }
  return types;
}
