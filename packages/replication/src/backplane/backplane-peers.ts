/**
 * What `peers()` lists on a node of a backplane: the backplane itself first (id 'backplane', its
 * figures in `backplane`), then the members, each in the shape of a peer (foundBy 'backplane').
 * In a file of its own so that cluster-node.ts only calls it.
 */
import type { PeerInfo } from '../cluster-node.js';
import { type RedisBackplane, STREAM_PEER } from './redis-backplane.js';

/**
 * `queued` says what the replicators hold for a peer, not yet handed on, and what they sent it: for
 * the backplane, the changes of the last interval not yet written to the stream (the writer's
 * unsent bytes come on top), and the live changes handed to the stream (repair messages are not).
 */
export function backplanePeers(
  backplane: RedisBackplane,
  caches: readonly string[],
  queued: (peer: string) => {
    readonly queuedChanges: number;
    readonly queuedBytes: number;
    readonly changesSent: number;
  },
): PeerInfo[] {
  const info = backplane.info();
  const stream = queued(STREAM_PEER);
  const none = { queuedBytes: 0, changesSent: 0, protocol: null, clockOffsetMillis: null, unknownMessages: 0 } as const;
  return [
    {
      id: 'backplane',
      url: info.url,
      state: info.state,
      caches,
      lastSeen: null,
      foundBy: 'backplane',
      ...none,
      queuedChanges: stream.queuedChanges,
      queuedBytes: stream.queuedBytes + info.pendingBytes,
      changesSent: stream.changesSent,
      changesReceived: info.entriesRead,
      lagMillis: info.lagMillis,
      repairs: info.repairs,
      // A newer release's sealed entries this node cannot read: what unknown messages are on a link.
      unknownMessages: info.refused.undecodable,
      backplane: info,
    },
    ...backplane.members().map(
      (member): PeerInfo => ({
        id: member.id,
        url: member.url,
        state: member.state,
        caches: member.caches,
        lastSeen: member.lastSeen,
        foundBy: 'backplane',
        queuedChanges: 0,
        ...none,
        clockOffsetMillis: member.clockOffsetMillis,
        changesReceived: member.changesReceived,
        lagMillis: member.lagMillis,
        repairs: member.repairs,
      }),
    ),
  ];
}
