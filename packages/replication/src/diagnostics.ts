/**
 * What a ClusterNode tells `node:diagnostics_channel` about replication, for tracers and APM
 * agents; loads are traced by @meshcache/core on `meshcache:load`.
 *
 * - `meshcache:peer`: a link came up ('connected'), went ('left'), a dialled peer could not be
 *   reached ('unreachable'), or a connection was refused before it authenticated ('refused').
 * - `meshcache:repair`: a cache finished a repair (bootstrap included) from a peer.
 *
 * Messages carry names, URLs and cache names, never a key or a value. The channels publish
 * nothing, and no message object is built, unless someone subscribes (`hasSubscribers` is read
 * first); events per change are not published at all (metrics count them: metrics.ts).
 */
import { channel } from 'node:diagnostics_channel';
import type { DiscoveryMode } from '@meshcache/discovery';

export const PEER_CHANNEL = 'meshcache:peer';
export const REPAIR_CHANNEL = 'meshcache:repair';

export interface PeerDiagnostic {
  /** This node's name. */
  readonly node: string;
  readonly event: 'connected' | 'left' | 'unreachable' | 'refused';
  /** The peer's name once the handshake said it; its URL (or remote address, when refused) before. */
  readonly peer: string;
  readonly url: string;
  /** connected: who dialled. */
  readonly dialledByUs?: boolean;
  /** unreachable: how the dialled peer was found. */
  readonly foundBy?: DiscoveryMode;
  /** left: the close code and reason. */
  readonly code?: number;
  readonly reason?: string;
  /** unreachable, refused: why. */
  readonly error?: Error;
}

export interface RepairDiagnostic {
  readonly node: string;
  readonly peer: string;
  readonly cache: string;
  /** The first repair of this cache over this link (the bootstrap ready() waits for). */
  readonly first: boolean;
}

export const peerChannel = channel(PEER_CHANNEL);
export const repairChannel = channel(REPAIR_CHANNEL);
