import type { ConnectionGater, PeerId, StreamHandler } from '@libp2p/interface'
import { P2pError, P2pErrorCode } from '../errors.ts'

/**
 * Who may talk to this box. p2p declares it; appliance implements it over its
 * pairing store (paired peers) and pairing window (open or not).
 */
export interface AdmissionPolicy {
  /** True for a peer this box is paired with. May be called for every inbound connection and stream. */
  isPaired: (peer: PeerId) => boolean | Promise<boolean>
  /** True while a pairing window is open (an unknown peer may then reach the pairing protocol only). */
  pairingWindowOpen: () => boolean
}

/**
 * The connection gater: an inbound peer is proven by its Noise static key at
 * `denyInboundEncryptedConnection`, the first point where its identity is
 * known; a stranger is cut off there unless a pairing window is open.
 * Outbound connections are ours to choose and pass. The gater alone does not
 * stop an unknown peer admitted during a window from opening other
 * protocols: every other handler is wrapped in `pairedOnly`.
 */
export function admissionGater (policy: AdmissionPolicy): ConnectionGater {
  const deny = async (peer: PeerId): Promise<boolean> => {
    if (await policy.isPaired(peer)) return false
    return !policy.pairingWindowOpen()
  }
  return {
    denyInboundEncryptedConnection: deny,
    // Asked again once the connection is upgraded: a peer unpaired while its
    // connection was being set up does not keep it.
    denyInboundUpgradedConnection: deny
  }
}

/**
 * Wraps a protocol handler so that a stream from a peer that is not paired
 * is aborted with P2P_NOT_PAIRED before the handler sees a byte.
 */
export function pairedOnly (policy: AdmissionPolicy, handler: StreamHandler): StreamHandler {
  return async (stream, connection) => {
    if (!await policy.isPaired(connection.remotePeer)) {
      stream.abort(new P2pError(P2pErrorCode.P2P_NOT_PAIRED, `peer ${connection.remotePeer.toString()} is not paired`))
      return
    }
    await handler(stream, connection)
  }
}
