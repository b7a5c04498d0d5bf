import type { AdmissionPolicy } from '../../p2p/gater/index.ts'
import type { PeerRegistry } from './peer-registry.ts'

/**
 * The admission policy of a box: a peer is paired when the registry holds
 * it (answered from memory, so it is cheap on every connection and stream);
 * `window` says whether a pairing window is open right now.
 */
export function registryPolicy (registry: Pick<PeerRegistry, 'isPaired'>, window: () => boolean): AdmissionPolicy {
  return {
    isPaired: peer => registry.isPaired(peer.toString()),
    pairingWindowOpen: window
  }
}
