/**
 * Where the Replica of a relationship was last reached, kept with the
 * primary's state (`DATA/primary/<relationship>/replica-addresses.json`,
 * docs/primary-state.md): libp2p's peer store lives in memory, and the peers
 * file holds who is paired, not where. Without this a restarted primary
 * would know its Replica's peer id and no way to dial it.
 */
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { TandemNode } from '../../p2p/node/index.ts'
import { readBoundedIfExists, writeFileAtomic } from '../fs-util.ts'

export const REPLICA_ADDRESSES_FILE = 'replica-addresses.json'
/** Addresses kept: a box listens on a few; more is not ours. */
export const MAX_REPLICA_ADDRESSES = 16
/** Largest file read: 16 multiaddrs of at most 256 characters each. */
const MAX_FILE_BYTES = 8 * 1024
const MAX_ADDRESS_CHARS = 256

/** The addresses the node knows for `peer` now (its peer store: what it dialled, what identify told it). */
async function known (node: TandemNode, peer: PeerId): Promise<string[]> {
  try {
    const p = await node.peerStore.get(peer)
    return p.addresses.map(a => a.multiaddr.toString()).filter(a => a.length <= MAX_ADDRESS_CHARS).slice(0, MAX_REPLICA_ADDRESSES).sort()
  } catch {
    return []
  }
}

/** Records where `peer` is known to be now, when that changed; resolves with the addresses. */
export async function rememberReplicaAddresses (stateDir: string, node: TandemNode, peer: PeerId): Promise<string[]> {
  const now = await known(node, peer)
  if (now.length === 0) return now
  const before = await readReplicaAddresses(stateDir)
  if (before.join('\n') !== now.join('\n')) await writeFileAtomic(join(stateDir, REPLICA_ADDRESSES_FILE), JSON.stringify({ version: 1, addresses: now }))
  return now
}

/** The addresses recorded, or none; a damaged file is none (it is only a hint, rewritten after the next contact). */
export async function readReplicaAddresses (stateDir: string): Promise<string[]> {
  try {
    const bytes = await readBoundedIfExists(join(stateDir, REPLICA_ADDRESSES_FILE), MAX_FILE_BYTES, size => new RangeError(`${size} bytes`))
    if (bytes === undefined) return []
    const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as { addresses?: unknown }
    return Array.isArray(doc.addresses) ? doc.addresses.filter((a): a is string => typeof a === 'string' && a.length <= MAX_ADDRESS_CHARS).slice(0, MAX_REPLICA_ADDRESSES) : []
  } catch {
    return []
  }
}

/** Gives the node the recorded addresses of `peer` when it knows none, so a dial by peer id can reach it. */
export async function restoreReplicaAddresses (stateDir: string, node: TandemNode, peer: PeerId): Promise<void> {
  if ((await known(node, peer)).length > 0) return
  const addrs: Multiaddr[] = []
  for (const a of await readReplicaAddresses(stateDir)) {
    try { addrs.push(multiaddr(a)) } catch {}
  }
  if (addrs.length > 0) await node.peerStore.merge(peer, { multiaddrs: addrs })
}

/**
 * Gives the node the addresses a new Replica named in its answer to
 * `reverse` (docs/relationship-protocol.md "Reverse"): it never dials this
 * box, so without them a new primary could not reach it once the link it
 * opened drops. What cannot be parsed is skipped (only a hint: a dial
 * proves the peer id by Noise); the caller then records them with
 * `rememberReplicaAddresses`.
 */
export async function learnReplicaAddresses (node: Pick<TandemNode, 'peerStore'>, peer: PeerId, addresses: readonly string[]): Promise<void> {
  const addrs: Multiaddr[] = []
  for (const a of addresses.slice(0, MAX_REPLICA_ADDRESSES)) {
    try { addrs.push(multiaddr(a)) } catch {}
  }
  if (addrs.length > 0) await node.peerStore.merge(peer, { multiaddrs: addrs })
}
