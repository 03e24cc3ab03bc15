/**
 * @meshcache/replication: what an application programs against. ClusterNode and its
 * configuration, the admin client, the seams it can replace (Transport, with the WebSocket
 * transport, an in-memory network and a chaos wrapper for tests), the errors it may see, and the
 * diagnostics channels. Metrics are at `@meshcache/replication/metrics` (they need prom-client);
 * the wire format and the machinery under ClusterNode at `@meshcache/replication/internals`, with
 * no stability promise.
 */
export type { AdminClientOptions } from './admin/admin-client.js';
export { AdminClient, AdminError } from './admin/admin-client.js';
export type { CacheReport, RemovalReplication } from './admin/admin-service.js';
export type { BackplaneConfig, ResolvedBackplaneConfig } from './backplane/backplane-config.js';
export type { BackplaneInfo, BackplaneMember, BackplaneState } from './backplane/redis-backplane.js';
export type { SettleResult } from './cache-replicator.js';
export type {
  ClusterCacheConfig,
  ClusterConfig,
  HttpEndpointConfig,
  PeerListenerConfig,
  ResolvedClusterConfig,
  TlsConfig,
} from './cluster-config.js';
export { DEFAULT_HTTP_PORT, resolveClusterConfig } from './cluster-config.js';
export type { ClusterNodeOptions, PeerInfo, PeerState } from './cluster-node.js';
export { ClusterNode } from './cluster-node.js';
export type { PeerDiagnostic, RepairDiagnostic } from './diagnostics.js';
export { PEER_CHANNEL, REPAIR_CHANNEL } from './diagnostics.js';
export type { HandshakeErrorCode } from './session.js';
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
export type { ChaosOptions } from './transport/chaos.js';
export { ChaosTransport } from './transport/chaos.js';
export { MemoryNetwork } from './transport/memory.js';
export type { Connection, Listener, Transport } from './transport/transport.js';
export { CloseCode, scopedAddress, scopeOfPath } from './transport/transport.js';
export type { PreAuthLimits, TlsOptions, WebSocketTransportOptions } from './transport/websocket.js';
export { WebSocketTransport } from './transport/websocket.js';
