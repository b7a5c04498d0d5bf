import { peerIdFromString } from '@libp2p/peer-id'
import type { PairedPeer, PairingStore } from '../../p2p/pairing/pairing-service.ts'
import { isBoxName, MAX_NAME_CHARS } from '../../p2p/pairing/box-name.ts'
import type { BoxRole } from '../../p2p/pairing/messages.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { damaged, isObject, readJsonFile, writeJsonFile, type JsonFileKind } from '../json-file.ts'
import { SerialQueue } from '../serial-queue.ts'

/** The format version written and the only one read (docs/peers.md). */
export const PEERS_FILE_VERSION = 1

/**
 * Largest peers file read: a box pairs with a handful of boxes and an entry
 * is under 400 bytes, so this holds thousands; anything bigger is not ours.
 */
export const MAX_PEERS_FILE_BYTES = 1024 * 1024

/** Every role BoxRole allows; a Record so the compiler fails when BoxRole changes. */
const ROLES: Record<BoxRole, true> = { primary: true, replica: true, both: true }
const PEER_FIELDS = ['peerId', 'name', 'role', 'pairedAt']


/** True for a peer id in libp2p's canonical text form (the form `PeerId.toString()` gives, which isPaired is asked with). */
function isCanonicalPeerId (s: string): boolean {
  try {
    return peerIdFromString(s).toString() === s
  } catch {
    return false
  }
}

/** Why `p` is not a valid paired peer, or undefined when it is. */
function invalidPeer (p: Record<string, unknown>): string | undefined {
  if (typeof p.peerId !== 'string' || !isCanonicalPeerId(p.peerId)) return 'peerId is not a libp2p peer id'
  if (!isBoxName(p.name)) return `name must be 1-${MAX_NAME_CHARS} printable characters`
  if (typeof p.role !== 'string' || !Object.hasOwn(ROLES, p.role)) return 'role is not a box role'
  if (typeof p.pairedAt !== 'number' || !Number.isSafeInteger(p.pairedAt) || p.pairedAt < 0) return 'pairedAt is not a time in ms'
  return undefined
}

const copy = (p: PairedPeer): PairedPeer => ({ peerId: p.peerId, name: p.name, role: p.role, pairedAt: p.pairedAt })

export const PEERS_FILE: JsonFileKind = { what: 'peers file', version: PEERS_FILE_VERSION, maxBytes: MAX_PEERS_FILE_BYTES, code: AppErrorCode.APP_PEERS_CORRUPT }

/** Checks a whole peers document (json-file.ts read it); throws APP_PEERS_CORRUPT naming the first problem. */
function decode (file: string, doc: Record<string, unknown>): Map<string, PairedPeer> {
  const corrupt = (why: string): AppError => damaged(PEERS_FILE, file, why)
  if (Object.keys(doc).some(k => k !== 'peers')) throw corrupt('unknown top-level field')
  if (!Array.isArray(doc.peers)) throw corrupt('peers is not an array')
  const peers = new Map<string, PairedPeer>()
  for (const [i, p] of doc.peers.entries()) {
    if (!isObject(p)) throw corrupt(`peer ${i} is not an object`)
    if (Object.keys(p).some(k => !PEER_FIELDS.includes(k))) throw corrupt(`peer ${i} has an unknown field`)
    const why = invalidPeer(p)
    if (why !== undefined) throw corrupt(`peer ${i}: ${why}`)
    const peer = p as unknown as PairedPeer
    if (peers.has(peer.peerId)) throw corrupt(`peer ${i} is listed twice`)
    peers.set(peer.peerId, copy(peer))
  }
  return peers
}

/**
 * The boxes this one is paired with, persisted in one small JSON file
 * (docs/peers.md). Reads (`get`, `list`, `isPaired`) are synchronous, from
 * memory, and may be called for every inbound connection and stream.
 * Changes (`add`, `remove`) may be called concurrently: they run one at a
 * time in call order, and each becomes visible in memory only once the file
 * holding it is durably in place. A change that rejects (an I/O error)
 * leaves memory as it was and does not block the ones after it. One process
 * owns the file.
 */
export class PeerRegistry implements PairingStore {
  readonly file: string
  private peers: ReadonlyMap<string, PairedPeer>
  private readonly writes = new SerialQueue()

  private constructor (file: string, peers: ReadonlyMap<string, PairedPeer>) {
    this.file = file
    this.peers = peers
  }

  /**
   * Loads `file`; a missing file is an empty registry (nothing is written
   * until the first change). A file that exists but is not a valid version 1
   * document throws APP_PEERS_CORRUPT and is left untouched: resetting it
   * would silently unpair every box. Other I/O errors are thrown as they are.
   */
  static async open (file: string): Promise<PeerRegistry> {
    const doc = await readJsonFile(file, PEERS_FILE)
    return new PeerRegistry(file, doc === undefined ? new Map() : decode(file, doc))
  }

  /** Stores `peer`, replacing an entry with the same peerId. A peer with invalid fields is a programmer mistake: TypeError. */
  async add (peer: PairedPeer): Promise<void> {
    const why = invalidPeer(peer as unknown as Record<string, unknown>)
    if (why !== undefined) throw new TypeError(`not a valid paired peer: ${why}`)
    const entry = copy(peer)
    await this.change(peers => { peers.set(entry.peerId, entry); return true })
  }

  /** Forgets `peerId`; false (and nothing written) when it was not paired. */
  async remove (peerId: string): Promise<boolean> {
    return await this.change(peers => peers.delete(peerId))
  }

  get (peerId: string): PairedPeer | undefined {
    const p = this.peers.get(peerId)
    return p === undefined ? undefined : copy(p)
  }

  /** The paired peers, oldest pairing first (a replaced entry keeps its place). */
  list (): PairedPeer[] {
    return [...this.peers.values()].map(copy)
  }

  isPaired (peerId: string): boolean {
    return this.peers.has(peerId)
  }

  /** Runs `edit` on a copy of the peers after every earlier change; when it returns true, writes the copy and then adopts it. */
  private async change (edit: (peers: Map<string, PairedPeer>) => boolean): Promise<boolean> {
    return await this.writes.run(async () => {
      const next = new Map(this.peers)
      if (!edit(next)) return false
      await writeJsonFile(this.file, PEERS_FILE, { peers: [...next.values()].map(copy) })
      this.peers = next
      return true
    })
  }
}
