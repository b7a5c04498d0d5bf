import { isPlainMap, packMessage as pack, unpackMessage as unpack } from '../wire/msgpack.ts'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { DISK_NAME_PATTERN, HASH_LENGTH, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from '../../core/constants.ts'
import { validBlockSize } from '../../core/manifest.ts'
import { Codec } from '../../core/compress.ts'
import {
  MAX_BATCH_DATA_BYTES, MAX_BATCH_ENTRIES, MAX_CAPABILITIES, MAX_CYCLE_BLOCKS, MAX_DISK_BYTES,
  MAX_CONSISTENCY_NOTE_BYTES, MAX_DISKS, MAX_HEAL_BLOCKS, MAX_PAGE_HASHES, MAX_REPLICATION_FRAME_BYTES
} from './constants.ts'

/**
 * Replication protocol v2 messages (docs/replication-protocol.md). This file
 * is the boundary: every message from a peer is decoded and checked here,
 * once, for shape and bounds; what depends on the session (order, cycle ids,
 * block sizes, hashes) is checked by the session layer.
 */

/** Block encodings on the wire: core's codecs (their values are the wire's) plus ZERO (no data; the block is all zeros). */
export const WireCodec = { RAW: Codec.RAW, ZSTD: Codec.ZSTD, ZERO: 2 } as const
export type WireCodec = typeof WireCodec[keyof typeof WireCodec]

export interface DiskShape { name: string, size: number, blockSize: number }
export interface BlockEntry { index: number, hash: Uint8Array, codec: WireCodec, rawLength: number, data: Uint8Array }
/** Blocks of one disk the Replica asks to be sent again (healing): indices, ascending. */
export interface HealRequest { disk: string, blocks: number[] }

export type ReplicationMessage =
  | { t: 'hello', versions: number[], capabilities: string[] }
  | { t: 'manifest-request', relationship: string, term: number }
  | { t: 'manifest-page', disk: string, page: number, hashes: Uint8Array }
  | { t: 'manifest-end', disk: string, size: number, blockSize: number, root: string }
  | { t: 'manifest-done', point: string | null, term: number }
  | { t: 'cycle-begin', relationship: string, cycle: Uint8Array, term: number, base: string | null, time: number, consistency: 'crash' | 'app', consistencyNote?: string, disks: DiskShape[] }
  | { t: 'cycle-accept', cycle: Uint8Array, resumeAfter: number, credit: number, heal?: HealRequest[] }
  | { t: 'blocks', cycle: Uint8Array, seq: number, disk: string, entries: BlockEntry[] }
  | { t: 'ack', cycle: Uint8Array, seq: number, credit: number }
  | { t: 'cycle-end', cycle: Uint8Array, lastSeq: number, disks: Array<{ name: string, root: string }> }
  | { t: 'committed', cycle: Uint8Array, root: string }
  | { t: 'keepalive' }
  | { t: 'error', code: P2pErrorCode }

export type MessageType = ReplicationMessage['t']

/** Block entries travel as 5-element arrays (no field names per block). */
export function encodeReplication (m: ReplicationMessage): Uint8Array {
  if (m.t === 'blocks') return pack({ ...m, entries: m.entries.map(e => [e.index, e.hash, e.codec, e.rawLength, e.data]) })
  return pack(m)
}

const bad = (why: string): P2pError => new P2pError(P2pErrorCode.P2P_MESSAGE_MALFORMED, `malformed replication message: ${why}`)

const u32 = (v: unknown, name: string): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw bad(`${name} must be a u32`)
  return v
}
/** A credit grant: at least one byte (a window of 0 would stall the sender for good). */
const credit = (v: unknown): number => {
  const n = u32(v, 'credit')
  if (n === 0) throw bad('credit must be at least 1 byte')
  return n
}
const size = (v: unknown, name: string): number => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(`${name} must be a non-negative integer`)
  return v
}
/** A disk's size in bytes: an exact integer up to MAX_DISK_BYTES. */
const diskSize = (v: unknown): number => {
  const n = size(v, 'size')
  if (n > MAX_DISK_BYTES) throw bad(`a disk size must be at most ${MAX_DISK_BYTES} bytes`)
  return n
}
const bytes = (v: unknown, name: string, min: number, max: number): Uint8Array => {
  if (!(v instanceof Uint8Array) || v.byteLength < min || v.byteLength > max) throw bad(`${name} must be ${min}..${max} bytes`)
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength) // a plain view of msgpackr's Buffer, no copy
}
/** Disk and relationship names: core's DISK_NAME_PATTERN (names become file names and store keys). */
const name = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || !DISK_NAME_PATTERN.test(v)) throw bad(`${what} must be a disk or relationship name`)
  return v
}
const root = (v: unknown): string => {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) throw bad('root must be 64 hex digits')
  return v
}
const cycleId = (v: unknown): Uint8Array => bytes(v, 'cycle', 16, 16)
const list = (v: unknown, what: string, max: number): unknown[] => {
  if (!Array.isArray(v) || v.length > max) throw bad(`${what} must be a list of at most ${max}`)
  return v
}
const blockSize = (v: unknown): number => {
  const n = u32(v, 'blockSize')
  if (!validBlockSize(n)) throw bad(`blockSize must be a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE} bytes`)
  return n
}
const KNOWN_CODES = new Set<string>(Object.values(P2pErrorCode))

function entry (v: unknown): BlockEntry {
  const e = list(v, 'entry', 5)
  if (e.length !== 5) throw bad('entry must be [index, hash, codec, rawLength, data]')
  const codec = u32(e[2], 'codec')
  if (codec !== WireCodec.RAW && codec !== WireCodec.ZSTD && codec !== WireCodec.ZERO) throw bad('unknown codec')
  const rawLength = u32(e[3], 'rawLength')
  if (rawLength === 0 || rawLength > MAX_BLOCK_SIZE) throw bad('rawLength out of range')
  const data = bytes(e[4], 'data', 0, MAX_BATCH_DATA_BYTES)
  if (codec === WireCodec.ZERO && data.byteLength !== 0) throw bad('a zero block carries no data')
  if (codec === WireCodec.RAW && data.byteLength !== rawLength) throw bad('a raw block carries exactly rawLength bytes')
  if (codec === WireCodec.ZSTD && (data.byteLength === 0 || data.byteLength >= rawLength)) throw bad('a compressed block is shorter than its raw length')
  return { index: u32(e[0], 'index'), hash: bytes(e[1], 'hash', HASH_LENGTH, HASH_LENGTH), codec: codec as WireCodec, rawLength, data }
}

/**
 * The `heal` field of `cycle-accept`: shape and the MAX_HEAL_BLOCKS bound
 * here; order, duplicates and ranges against the cycle's disks are the
 * sender's check (P2P_PROTOCOL_VIOLATION).
 */
function healRequests (v: unknown): HealRequest[] {
  let total = 0
  return list(v, 'heal', MAX_DISKS).map(d => {
    const o = d as Record<string, unknown>
    if (!isPlainMap(o)) throw bad('heal request')
    const blocks = list(o.blocks, 'heal blocks', MAX_HEAL_BLOCKS).map(x => u32(x, 'heal block'))
    total += blocks.length
    if (total > MAX_HEAL_BLOCKS) throw bad(`more than ${MAX_HEAL_BLOCKS} heal blocks`)
    return { disk: name(o.disk, 'disk'), blocks }
  })
}

/**
 * Decodes one frame from a peer. Throws P2P_MESSAGE_MALFORMED (not msgpack,
 * not a map, bad field), P2P_MESSAGE_UNKNOWN (a type this version does not
 * know), never anything else.
 */
export function decodeReplication (frame: Uint8Array): ReplicationMessage {
  if (frame.byteLength > MAX_REPLICATION_FRAME_BYTES) throw bad('frame too large')
  let v: Record<string, unknown>
  try {
    v = unpack(frame) as Record<string, unknown>
  } catch {
    throw bad('not msgpack')
  }
  if (!isPlainMap(v)) throw bad('not a map')
  switch (v.t) {
    case 'hello': {
      const versions = list(v.versions, 'versions', 8).map(x => u32(x, 'version'))
      const capabilities = list(v.capabilities, 'capabilities', MAX_CAPABILITIES).map(c => {
        if (typeof c !== 'string' || !/^[a-z0-9-]{1,32}$/.test(c)) throw bad('capability')
        return c
      })
      return { t: 'hello', versions, capabilities }
    }
    case 'manifest-request':
      // v2: the term is required, so the Replica can refuse a stale primary before it reads anything (docs/replication-protocol.md).
      return { t: 'manifest-request', relationship: name(v.relationship, 'relationship'), term: u32(v.term, 'term') }
    case 'manifest-page': {
      const hashes = bytes(v.hashes, 'hashes', HASH_LENGTH, MAX_PAGE_HASHES * HASH_LENGTH)
      if (hashes.byteLength % HASH_LENGTH !== 0) throw bad('hashes must be whole hashes')
      return { t: 'manifest-page', disk: name(v.disk, 'disk'), page: u32(v.page, 'page'), hashes }
    }
    case 'manifest-end':
      return { t: 'manifest-end', disk: name(v.disk, 'disk'), size: diskSize(v.size), blockSize: blockSize(v.blockSize), root: root(v.root) }
    case 'manifest-done':
      return { t: 'manifest-done', point: v.point === null ? null : root(v.point), term: u32(v.term, 'term') }
    case 'keepalive':
      return { t: 'keepalive' }
    case 'cycle-begin': {
      if (v.consistency !== 'crash' && v.consistency !== 'app') throw bad('consistency')
      const disks = list(v.disks, 'disks', MAX_DISKS).map(d => {
        const o = d as Record<string, unknown>
        if (typeof o !== 'object' || o === null) throw bad('disk')
        return { name: name(o.name, 'disk'), size: diskSize(o.size), blockSize: blockSize(o.blockSize) }
      })
      if (disks.length === 0) throw bad('a cycle needs a disk')
      // What the Replica allocates on cycle-begin is bounded here, before anything is (MAX_CYCLE_BLOCKS).
      if (disks.reduce((n, d) => n + Math.ceil(d.size / d.blockSize), 0) > MAX_CYCLE_BLOCKS) throw bad(`a cycle may declare at most ${MAX_CYCLE_BLOCKS} blocks`)
      const consistency: 'crash' | 'app' = v.consistency
      const begin = { t: 'cycle-begin' as const, relationship: name(v.relationship, 'relationship'), cycle: cycleId(v.cycle), term: u32(v.term, 'term'), base: v.base === null ? null : root(v.base), time: size(v.time, 'time'), consistency, disks }
      // Optional: peers before notes neither send nor expect it.
      if (v.consistencyNote === undefined) return begin
      if (typeof v.consistencyNote !== 'string' || Buffer.byteLength(v.consistencyNote, 'utf8') > MAX_CONSISTENCY_NOTE_BYTES) throw bad('consistencyNote')
      return { ...begin, consistencyNote: v.consistencyNote }
    }
    case 'cycle-accept': {
      const accept = { t: 'cycle-accept' as const, cycle: cycleId(v.cycle), resumeAfter: u32(v.resumeAfter, 'resumeAfter'), credit: credit(v.credit) }
      // Optional: peers before healing neither send nor expect it.
      return v.heal === undefined ? accept : { ...accept, heal: healRequests(v.heal) }
    }
    case 'blocks': {
      const entries = list(v.entries, 'entries', MAX_BATCH_ENTRIES).map(entry)
      if (entries.length === 0) throw bad('an empty batch')
      if (entries.reduce((n, e) => n + e.data.byteLength, 0) > MAX_BATCH_DATA_BYTES) throw bad('batch data too large')
      return { t: 'blocks', cycle: cycleId(v.cycle), seq: u32(v.seq, 'seq'), disk: name(v.disk, 'disk'), entries }
    }
    case 'ack':
      return { t: 'ack', cycle: cycleId(v.cycle), seq: u32(v.seq, 'seq'), credit: credit(v.credit) }
    case 'cycle-end': {
      const disks = list(v.disks, 'disks', MAX_DISKS).map(d => {
        const o = d as Record<string, unknown>
        if (typeof o !== 'object' || o === null) throw bad('disk')
        return { name: name(o.name, 'disk'), root: root(o.root) }
      })
      return { t: 'cycle-end', cycle: cycleId(v.cycle), lastSeq: u32(v.lastSeq, 'lastSeq'), disks }
    }
    case 'committed':
      return { t: 'committed', cycle: cycleId(v.cycle), root: root(v.root) }
    case 'error':
      if (typeof v.code !== 'string' || !KNOWN_CODES.has(v.code)) throw bad('error code')
      return { t: 'error', code: v.code as P2pErrorCode }
    default:
      throw new P2pError(P2pErrorCode.P2P_MESSAGE_UNKNOWN, `unknown replication message type ${String(v.t).slice(0, 32)}`)
  }
}
