export type { AdminClientOptions } from './admin/admin-client.js';
export { AdminClient, AdminError } from './admin/admin-client.js';
export type { CacheReport } from './admin/admin-service.js';
export type { BackplaneConfig, ResolvedBackplaneConfig } from './backplane/backplane-config.js';
export type { BackplaneInfo, BackplaneMember, BackplaneState } from './backplane/redis-backplane.js';
export type {
  CacheReplicatorOptions,
  ReplicationPeer,
  SettleResult,
  SingleFlightContext,
  SingleFlightFactory,
} from './cache-replicator.js';
export { CacheReplicator } from './cache-replicator.js';
export type {
  ClusterCacheConfig,
  ClusterConfig,
  PeerListenerConfig,
  ResolvedClusterConfig,
  TlsConfig,
} from './cluster-config.js';
export { resolveClusterConfig } from './cluster-config.js';
export type { ClusterNodeOptions, PeerInfo, PeerState } from './cluster-node.js';
export { ClusterNode } from './cluster-node.js';
export type { HybridLogicalClockOptions } from './hlc.js';
export { HybridLogicalClock } from './hlc.js';
export { MAX_BATCH_CHANGES, ProtocolError, WireCodec } from './protocol/codec.js';
export type {
  AckMessage,
  AdminOperation,
  AdminRequestMessage,
  AdminResponseMessage,
  BatchMessage,
  BootstrapDoneMessage,
  ChangeMessage,
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
} from './protocol/messages.js';
export { MessageType, RETIRED_MESSAGE_TYPES } from './protocol/messages.js';
export type { KeyVersion } from './repair/digest.js';
export type { SessionGrant, SessionRole } from './security/keyring.js';
export type { HandshakeErrorCode, LocalIdentity, PeerIdentity, SessionOptions } from './session.js';
export { HandshakeError, PROTOCOL_VERSIONS } from './session.js';
export type {
  BootstrapConfig,
  ReplicationConfig,
  ResolvedBootstrapConfig,
  ResolvedReplicationConfig,
} from './settings.js';
export {
  BOOTSTRAP_DEFAULTS,
  REPLICATION_DEFAULTS,
  resolveBootstrapConfig,
  resolveReplicationConfig,
} from './settings.js';
export type { TlsOptions, WebSocketTransportOptions } from './transport/websocket.js';
export { WebSocketTransport } from './transport/websocket.js';
