/**
 * @meshcache/replication/internals: the wire format and the machinery under ClusterNode, for
 * benchmarks, tools and meshcache's own tests. Not covered by semantic versioning: any of it may
 * change in any release (docs/protocol.md is the contract for the wire itself).
 */
export type { CacheReplicatorOptions, ReplicationPeer } from './cache-replicator.js';
export { CacheReplicator } from './cache-replicator.js';
export type { HybridLogicalClockOptions } from './hlc.js';
export { HybridLogicalClock } from './hlc.js';
export { hostOf } from './once-per-window.js';
export { MAX_BATCH_CHANGES, ProtocolError, WireCodec } from './protocol/codec.js';
export type {
  AckMessage,
  AdminOperation,
  AdminRequestMessage,
  AdminResponseMessage,
  BatchMessage,
  BootstrapDoneMessage,
  ChangeMessage,
  ClockSampleMessage,
  DigestMessage,
  EntriesMessage,
  ExpireMessage,
  KeysMessage,
  LeaseMessage,
  LeaseState,
  Message,
  MessageTypeNumber,
  PullMessage,
  PutMessage,
  RemoveAllMessage,
  RemoveMessage,
  RepairMessage,
  RepairRequestMessage,
  SyncMessage,
  UnknownMessage,
} from './protocol/messages.js';
export { MessageType, RETIRED_MESSAGE_TYPES } from './protocol/messages.js';
export { MsgpackGuard } from './protocol/msgpack-guard.js';
export type { ProtocolVersion } from './protocol/versions.js';
export { messagesOf, PROTOCOL_HISTORY } from './protocol/versions.js';
export type { KeyVersion } from './repair/digest.js';
export { FrameProtection } from './security/frame-protection.js';
export type { SessionGrant, SessionRole } from './security/keyring.js';
export { CipherState } from './security/noise.js';
export { secretFileText } from './security/secret-file.js';
export type { LocalIdentity, PeerIdentity, SessionOptions } from './session.js';
export type { ConnectionPlacesLimits } from './transport/connection-places.js';
export { ConnectionPlaces } from './transport/connection-places.js';
