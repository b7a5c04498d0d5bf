import type { Connection, ConnectionGater, PeerId, StreamHandler } from '@libp2p/interface'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { MAX_UNPAIRED_CONNECTIONS } from '../node/constants.ts'

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
 *
 * With `connections` (the node's open connections), a stranger is also
 * refused while MAX_UNPAIRED_CONNECTIONS inbound connections of unpaired
 * peers are open. Handshakes that finish at the same moment can pass this
 * check together: `enforceUnpairedLimit` closes the surplus once they open.
 */
export function admissionGater (policy: AdmissionPolicy, connections?: () => Connection[]): ConnectionGater {
  const deny = async (peer: PeerId): Promise<boolean> => {
    if (await policy.isPaired(peer)) return false
    if (!policy.pairingWindowOpen()) return true
    // During a window: strangers get at most MAX_UNPAIRED_CONNECTIONS, the rest stays for paired peers.
    return connections !== undefined && (await unpairedInbound(policy, connections())).length >= MAX_UNPAIRED_CONNECTIONS
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

/** Inbound connections whose peer is not paired. */
export async function unpairedInbound (policy: AdmissionPolicy, connections: Connection[]): Promise<Connection[]> {
  const out: Connection[] = []
  for (const c of connections) if (c.direction === 'inbound' && !await policy.isPaired(c.remotePeer)) out.push(c)
  return out
}

/** The parts of a libp2p node that admission uses. */
export interface AdmissionNode {
  getConnections: () => Connection[]
  addEventListener: (type: 'connection:open', listener: (evt: CustomEvent<Connection>) => void) => void
}

/**
 * Closes every inbound connection of a peer that is not paired. Called
 * when a pairing window closes (PairingHost does): the gater only judges a
 * connection when it is set up, so a stranger admitted during the window
 * would otherwise keep its connection, and its slot, for as long as it
 * likes. Outbound connections are ours and stay. Resolves with how many
 * were closed; never throws (a connection that fails to close is aborted).
 */
export async function closeUnpairedConnections (node: Pick<AdmissionNode, 'getConnections'>, policy: AdmissionPolicy): Promise<number> {
  const strangers = await unpairedInbound(policy, node.getConnections())
  await Promise.all(strangers.map(async c => { await closeOrAbort(c) }))
  return strangers.length
}

/**
 * Holds unpaired inbound connections to MAX_UNPAIRED_CONNECTIONS after the
 * fact: each new one beyond the limit is closed as it opens (the gater
 * refuses most of them earlier; this catches handshakes that raced it).
 */
export function enforceUnpairedLimit (node: AdmissionNode, policy: AdmissionPolicy): void {
  node.addEventListener('connection:open', evt => {
    const connection = evt.detail
    if (connection.direction !== 'inbound') return
    void (async () => {
      if (await policy.isPaired(connection.remotePeer)) return
      if ((await unpairedInbound(policy, node.getConnections())).length > MAX_UNPAIRED_CONNECTIONS) await closeOrAbort(connection)
    })().catch(() => {})
  })
}

async function closeOrAbort (c: Connection): Promise<void> {
  try {
    await c.close({ signal: AbortSignal.timeout(TIMEOUT_CLOSE_MS) })
  } catch (err) {
    c.abort(err instanceof Error ? err : new Error(String(err)))
  }
}

/** A stranger's connection that does not close within this is aborted. */
const TIMEOUT_CLOSE_MS = 2_000
