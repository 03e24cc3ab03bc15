/**
 * What `peers()` lists on a node of a backplane: the backplane itself first (id 'backplane', its
 * figures in `backplane`), then the members, each in the shape of a peer (foundBy 'backplane').
 * In a file of its own so that cluster-node.ts only calls it.
 */
import type { PeerInfo } from '../cluster-node.js';
import type { RedisBackplane } from './redis-backplane.js';

export function backplanePeers(backplane: RedisBackplane, caches: readonly string[]): PeerInfo[] {
  const info = backplane.info();
  const none = { queuedBytes: 0, changesSent: 0, protocol: null, clockOffsetMillis: null } as const;
  return [
    {
      id: 'backplane',
      url: info.url,
      state: info.state,
      caches,
      lastSeen: null,
      foundBy: 'backplane',
      queuedChanges: 0,
      ...none,
      queuedBytes: info.pendingBytes,
      changesSent: info.entriesWritten,
      changesReceived: info.entriesRead,
      lagMillis: info.lagMillis,
      repairs: info.repairs,
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
        changesReceived: member.changesReceived,
        lagMillis: member.lagMillis,
        repairs: member.repairs,
      }),
    ),
  ];
}
