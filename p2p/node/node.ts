import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { ConnectionGater, PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { coalescedWrites } from './coalesced-writes.ts'
import { admissionGater, enforceUnpairedLimit, type AdmissionPolicy } from '../gater/admission.ts'
import { DEFAULT_LISTEN, MAX_CONNECTIONS, TIMEOUT_DIAL_MS } from './constants.ts'

export interface TandemNodeInit {
  /** The box's identity (identity.ts). */
  privateKey: PrivateKey
  /** Multiaddrs to listen on; default DEFAULT_LISTEN. Tests pass /ip4/127.0.0.1/tcp/0. */
  listen?: string[]
  /** Admission rules (the pairing gater); default admits everyone at the transport level. Ignored when `policy` is given. */
  gater?: ConnectionGater
  /**
   * Who may connect (gater/admission.ts): strangers are cut off after the
   * Noise handshake unless a pairing window is open, and then hold at most
   * MAX_UNPAIRED_CONNECTIONS inbound connections, so the paired peer always
   * finds a free slot.
   */
  policy?: AdmissionPolicy
}

export type TandemNode = Libp2p

/**
 * A libp2p node as Tandem uses it: TCP, Noise (authenticated encryption; the
 * remote's peer id is proven by its static key) and yamux, nothing else: no
 * discovery, no relay, no DHT, no identify-push chatter beyond libp2p's
 * defaults. Each send of the encrypted stream reaches the socket as one
 * write (coalesced-writes.ts). Created stopped; `start()` listens, `stop()`
 * closes every connection. Protocol handlers are registered by their owners
 * on start.
 */
export async function createTandemNode (init: TandemNodeInit): Promise<TandemNode> {
  let node: TandemNode | undefined
  const gater = init.policy === undefined ? init.gater : admissionGater(init.policy, () => node?.getConnections() ?? [])
  node = await createLibp2p({
    privateKey: init.privateKey,
    start: false,
    addresses: { listen: init.listen ?? DEFAULT_LISTEN },
    transports: [tcp()],
    connectionEncrypters: [coalescedWrites(noise())],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections: MAX_CONNECTIONS, dialTimeout: TIMEOUT_DIAL_MS },
    ...(gater === undefined ? {} : { connectionGater: gater })
  })
  if (init.policy !== undefined) enforceUnpairedLimit(node, init.policy)
  return node
}
