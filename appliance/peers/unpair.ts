import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { TandemNode } from '../../p2p/node/index.ts'
import type { PeerRegistry } from './peer-registry.ts'

/**
 * Unpairs `peerId`: forgets it durably, then closes every connection to it.
 * Resolves true when it was paired, false when it was not.
 *
 * The order matters: while the peer is still in the registry, the gater
 * admits its new connections and `pairedOnly` its new streams, so closing
 * first would let it reconnect at once. Removed first, any dial it makes
 * from then on is cut off after the Noise handshake (unless a pairing window
 * is open, and even then it reaches only the pairing protocol), and the
 * connections closed afterwards cannot come back (outbound dials pass the
 * gater: whatever dials paired boxes must consult the registry). One gap
 * remains: an inbound connection the gater admitted just before the removal
 * that finishes its upgrade just after the hang-up survives, idle: every
 * protocol but pairing is behind `pairedOnly`, which now refuses the peer.
 *
 * libp2p's hang-up is graceful: each open stream's writable end is closed
 * once its queued data is sent (at most the connection close timeout, then
 * the connection is aborted), then the socket; the peer's readers see a
 * clean end of stream, not an error.
 *
 * Idempotent: the connections are closed even when the peer was already
 * gone from the registry (a retry after a failed hang-up). A `peerId` that
 * is not a peer id is a programmer mistake: TypeError, nothing changed.
 */
export async function unpair (node: TandemNode, registry: Pick<PeerRegistry, 'remove'>, peerId: string): Promise<boolean> {
  let peer: PeerId
  try {
    peer = peerIdFromString(peerId)
  } catch (err) {
    throw new TypeError('not a libp2p peer id', { cause: err })
  }
  const removed = await registry.remove(peerId)
  await node.hangUp(peer)
  return removed
}
