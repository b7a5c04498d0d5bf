/**
 * The seed file format, version 2 (normative page: docs/seed-format.md);
 * version 1 (no origin) is still read.
 * Pure: encoders and decoders of the fixed parts, the limits an importer
 * enforces, and the canonical order of block records. No I/O.
 *
 *   preamble (20) | header body (H) | header CRC (4) | manifests | block records | trailer (48)
 *
 * All integers are little-endian. Every length field is covered by a CRC-32
 * that is checked before the length is trusted, so damage to a length reads
 * as damage (INVALID / CORRUPT), never as a file cut short (TRUNCATED).
 */
import { crc32 } from 'node:zlib'
import { DISK_NAME_PATTERN, HASH_LENGTH, MAX_BLOCK_SIZE, MAX_DISK_BYTES } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { fromHex, toHex } from '../hash.ts'
import { blockCount, blockLength, checkBlockSize, isZeroBlock, pointRoot } from '../manifest.ts'
import type { Consistency, Manifest } from '../types.ts'

/** First 8 bytes of every seed. */
export const SEED_MAGIC = Buffer.from('TNDMSEED', 'latin1')
/** First 8 bytes of the trailer. */
export const TRAILER_MAGIC = Buffer.from('TNDMTAIL', 'latin1')

/**
 * Format version. Bytes 0-11 (magic, version) keep their meaning in every
 * version; everything after them is defined by the version. Any change an
 * importer of version N could misread gets version N + 1; importers reject
 * versions they do not know.
 */
export const SEED_VERSION = 2

/**
 * Versions an importer reads. Version 1 is version 2 without the origin; it
 * was never released, but a seed of it may exist, and reading it costs two
 * branches.
 */
export const READABLE_SEED_VERSIONS: readonly number[] = [1, 2]

/** magic (8) + version u32 + header length u32 + CRC-32 of the 16 bytes before it. */
export const PREAMBLE_BYTES = 20
/** Bytes that identify a seed of any version: magic and version. */
export const IDENTITY_BYTES = 12
export const CRC_BYTES = 4
/** hash (32) + codec u8 + raw length u32 + stored length u32 + CRC-32 of the 41 bytes before it. */
export const RECORD_HEADER_BYTES = HASH_LENGTH + 1 + 4 + 4 + CRC_BYTES
/** magic (8) + block count u64 + BLAKE3-256 of every byte before the trailer. */
export const TRAILER_BYTES = 8 + 8 + HASH_LENGTH
/** Manifest encoding (encodeManifest): magic, size, block size before the hashes. */
export const MANIFEST_HEAD_BYTES = 16

/** Disks per seed. A VM has a handful of disks; this bounds the header, and no real VM comes near it. */
export const MAX_SEED_DISKS = 256

/** Consistency note, UTF-8 bytes. The note is one sentence for the operator ("guest agent did not answer"). */
export const MAX_CONSISTENCY_NOTE_BYTES = 4096

/** Longest relationship id in an origin: the appliance's ids match DISK_NAME_PATTERN, which allows 64 characters. */
export const MAX_ORIGIN_RELATIONSHIP_BYTES = 64
/** Longest peer id in an origin: a libp2p Ed25519 peer id is 52 base58btc characters; 128 leaves room for other key types. */
export const MAX_ORIGIN_PEER_BYTES = 128
/** A peer id as libp2p prints it: base58btc (no 0, O, I, l). */
const PEER_ID_PATTERN = /^[1-9A-HJ-NP-Za-km-z]+$/

/** Header bytes the fixed fields take, without note, origin and disks: block size, time, consistency, flags, note length, disk count, point root. */
const HEADER_FIXED_BYTES = 4 + 8 + 1 + 1 + 2 + 2 + HASH_LENGTH
/** The origin's two length bytes (version 2 on). */
const ORIGIN_LENGTH_BYTES = 2
/** The smallest disk entry: a one-letter name. */
const DISK_ENTRY_MIN_BYTES = 1 + 1 + 8 + HASH_LENGTH
/** Smallest header body of each version: one disk with a one-letter name, no note, no origin (92 and 94). */
const MIN_HEADER_BYTES: Record<number, number> = {
  1: HEADER_FIXED_BYTES + DISK_ENTRY_MIN_BYTES,
  2: HEADER_FIXED_BYTES + ORIGIN_LENGTH_BYTES + DISK_ENTRY_MIN_BYTES
}

/**
 * Largest header body. The largest valid header (MAX_SEED_DISKS disks with
 * 64-byte names and the longest note) is under 32 KiB; the reader allocates
 * this much at most before the header's CRC has been checked.
 */
export const MAX_SEED_HEADER_BYTES = 64 * 1024

/**
 * Sum of all disks' encoded manifests. The importer holds every manifest in
 * memory (as the store does when it reads one back); 1 GiB is 32 Mi blocks,
 * 2 TiB of disk at the default 64 KiB blocks, 128 TiB at 4 MiB blocks.
 */
export const MAX_SEED_MANIFEST_BYTES = 1024 * 1024 * 1024

/**
 * Largest stored (encoded) length of a block of `rawLength` bytes: zstd's
 * worst case, ZSTD_COMPRESSBOUND from zstd.h (size + size/256 + at most 64
 * for inputs under 128 KiB). A raw block is exactly `rawLength`.
 */
export function maxStoredLength (rawLength: number): number {
  return rawLength + (rawLength >>> 8) + 64
}

/**
 * Bytes of the largest block record of any valid seed. The importer's read
 * buffer is at least this, so one record always fits in it.
 */
export const MAX_RECORD_BYTES = RECORD_HEADER_BYTES + maxStoredLength(MAX_BLOCK_SIZE)

export interface SeedDisk {
  name: string
  size: number
  /** Root hash of the disk's manifest (diskRoot), hex. */
  root: string
}

/**
 * Which relationship a seed was exported for, and by which peer: lets a
 * Replica import a seed from the file alone (docs/seed-format.md).
 */
export interface SeedOrigin {
  /** Relationship id, matching DISK_NAME_PATTERN. */
  relationship: string
  /** The exporting box's libp2p peer id, base58btc. */
  peer: string
}

/** Everything the header holds. */
export interface SeedHeaderRecord {
  blockSize: number
  /** The point's time, ms since the epoch. */
  time: number
  consistency: Consistency
  consistencyNote?: string
  /** null: exported from a bare store, for no relationship (and every version 1 seed). */
  origin: SeedOrigin | null
  /** In file order; their manifests follow the header in this order. */
  disks: SeedDisk[]
  /** pointRoot of the disks, hex. */
  root: string
}

const CONSISTENCY_CODES: Record<Consistency, number> = { crash: 0, app: 1 }
const FLAG_NOTE = 1

function invalid (message: string, offset?: number): CoreError {
  return new CoreError(CoreErrorCode.CORE_SEED_INVALID, message, offset === undefined ? {} : { details: { offset } })
}

/** Length of one disk's encoded manifest, exactly. */
export function manifestBytes (size: number, blockSize: number): number {
  return MANIFEST_HEAD_BYTES + blockCount(size, blockSize) * HASH_LENGTH
}

/** True when `origin` can be written: a relationship id matching DISK_NAME_PATTERN and a base58btc peer id of 1 to 128 characters. */
export function validOrigin (origin: SeedOrigin): boolean {
  return DISK_NAME_PATTERN.test(origin.relationship) && origin.peer.length <= MAX_ORIGIN_PEER_BYTES && PEER_ID_PATTERN.test(origin.peer)
}

/**
 * The preamble, header body and header CRC of a version 2 seed, ready to
 * write. Its length depends on the disks' names and sizes, the note and the
 * origin, never on the roots. Throws CORE_INVALID_ARGUMENT when the point
 * cannot be expressed in this format (too many disks, note too long,
 * manifests too large, time not a u64, a malformed origin).
 */
export function encodeHead (h: SeedHeaderRecord): Buffer {
  const bad = (message: string): CoreError => new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `cannot write a seed: ${message}`)
  if (!Number.isSafeInteger(h.time) || h.time < 0) throw bad(`point time ${h.time} is not a non-negative integer`)
  if (h.origin !== null && !validOrigin(h.origin)) throw bad(`origin relationship "${h.origin.relationship}" or peer "${h.origin.peer}" is malformed`)
  const note = h.consistencyNote === undefined ? undefined : Buffer.from(h.consistencyNote, 'utf8')
  if (note !== undefined && note.byteLength > MAX_CONSISTENCY_NOTE_BYTES) throw bad(`consistency note longer than ${MAX_CONSISTENCY_NOTE_BYTES} bytes`)
  if (h.disks.length < 1 || h.disks.length > MAX_SEED_DISKS) throw bad(`${h.disks.length} disks (1 to ${MAX_SEED_DISKS} allowed)`)
  if (new Set(h.disks.map(d => d.name)).size !== h.disks.length) throw bad('two disks have the same name')
  let manifests = 0
  for (const d of h.disks) {
    if (!Number.isSafeInteger(d.size) || d.size < 0) throw bad(`disk ${d.name} size ${d.size} is not a non-negative integer`)
    manifests += manifestBytes(d.size, h.blockSize)
  }
  if (manifests > MAX_SEED_MANIFEST_BYTES) throw bad(`manifests total ${manifests} bytes, over ${MAX_SEED_MANIFEST_BYTES}`)

  const noteBytes = note?.byteLength ?? 0
  const relationship = h.origin?.relationship ?? ''
  const peer = h.origin?.peer ?? ''
  const bodyLength = HEADER_FIXED_BYTES + noteBytes + ORIGIN_LENGTH_BYTES + relationship.length + peer.length + h.disks.reduce((n, d) => n + 1 + d.name.length + 8 + HASH_LENGTH, 0)
  const out = Buffer.alloc(PREAMBLE_BYTES + bodyLength + CRC_BYTES)
  SEED_MAGIC.copy(out, 0)
  out.writeUInt32LE(SEED_VERSION, 8)
  out.writeUInt32LE(bodyLength, 12)
  out.writeUInt32LE(crc32(out.subarray(0, 16)), 16)
  let at = PREAMBLE_BYTES
  at = out.writeUInt32LE(h.blockSize, at)
  at = out.writeBigUInt64LE(BigInt(h.time), at)
  at = out.writeUInt8(CONSISTENCY_CODES[h.consistency], at)
  at = out.writeUInt8(note === undefined ? 0 : FLAG_NOTE, at)
  at = out.writeUInt16LE(noteBytes, at)
  if (note !== undefined) at += note.copy(out, at)
  at = out.writeUInt8(relationship.length, at)
  at += out.write(relationship, at, 'latin1')
  at = out.writeUInt8(peer.length, at)
  at += out.write(peer, at, 'latin1')
  at = out.writeUInt16LE(h.disks.length, at)
  for (const d of h.disks) {
    if (!DISK_NAME_PATTERN.test(d.name)) throw bad(`disk name "${d.name}"`)
    at = out.writeUInt8(d.name.length, at)
    at += out.write(d.name, at, 'latin1')
    at = out.writeBigUInt64LE(BigInt(d.size), at)
    out.set(fromHex(d.root), at)
    at += HASH_LENGTH
  }
  out.set(fromHex(h.root), at)
  at += HASH_LENGTH
  out.writeUInt32LE(crc32(out.subarray(PREAMBLE_BYTES, at)), at)
  return out
}

/** What the preamble says. */
export interface Preamble {
  version: number
  /** `H`, the header body length. */
  headerLength: number
}

/**
 * Checks the first bytes of a file: CORE_SEED_INVALID when they cannot begin
 * a seed of a version this Tandem reads, CORE_SEED_TRUNCATED when they are a
 * correct but short beginning. Returns the version and header body length
 * once `bytes` holds the whole preamble.
 */
export function decodePreamble (bytes: Uint8Array): Preamble {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const magicBytes = Math.min(b.byteLength, SEED_MAGIC.byteLength)
  if (!b.subarray(0, magicBytes).equals(SEED_MAGIC.subarray(0, magicBytes))) throw invalid('not a Tandem seed file (wrong magic)', 0)
  if (b.byteLength < IDENTITY_BYTES) throw truncated(b.byteLength)
  const version = b.readUInt32LE(8)
  if (!READABLE_SEED_VERSIONS.includes(version)) throw invalid(`seed format version ${version}; this Tandem reads versions ${READABLE_SEED_VERSIONS.join(' and ')}`, 8)
  if (b.byteLength < PREAMBLE_BYTES) throw truncated(b.byteLength)
  if (b.readUInt32LE(16) !== crc32(b.subarray(0, 16))) throw invalid('seed preamble fails its CRC', 16)
  const headerLength = b.readUInt32LE(12)
  if (headerLength < MIN_HEADER_BYTES[version]! || headerLength > MAX_SEED_HEADER_BYTES) {
    throw invalid(`seed header length ${headerLength} is out of range`, 12)
  }
  return { version, headerLength }
}

export function truncated (offset: number): CoreError {
  return new CoreError(CoreErrorCode.CORE_SEED_TRUNCATED, `seed file ends at byte ${offset}, before its trailer: it was cut short`, { details: { offset } })
}

/**
 * Decodes the header body of a seed of `version` followed by its CRC
 * (`bytes` is exactly those). Throws CORE_SEED_INVALID on any malformed or
 * inconsistent field.
 */
export function decodeHeader (bytes: Uint8Array, version: number): SeedHeaderRecord {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const end = b.byteLength - CRC_BYTES
  const base = PREAMBLE_BYTES
  if (b.readUInt32LE(end) !== crc32(b.subarray(0, end))) throw invalid('seed header fails its CRC', base + end)
  let at = 0
  const need = (n: number): number => {
    if (at + n > end) throw invalid('seed header is shorter than its fields', base + at)
    const here = at
    at += n
    return here
  }
  const blockSize = b.readUInt32LE(need(4))
  try { checkBlockSize(blockSize) } catch { throw invalid(`seed block size ${blockSize} is not valid`, base) }
  const time = b.readBigUInt64LE(need(8))
  if (time > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid('seed point time out of range', base + 4)
  const consistencyCode = b.readUInt8(need(1))
  const consistency = (Object.keys(CONSISTENCY_CODES) as Consistency[]).find(k => CONSISTENCY_CODES[k] === consistencyCode)
  if (consistency === undefined) throw invalid(`unknown consistency ${consistencyCode}`, base + 12)
  const flags = b.readUInt8(need(1))
  if ((flags & ~FLAG_NOTE) !== 0) throw invalid(`unknown header flags ${flags}`, base + 13)
  const noteLength = b.readUInt16LE(need(2))
  if (noteLength > MAX_CONSISTENCY_NOTE_BYTES || ((flags & FLAG_NOTE) === 0 && noteLength !== 0)) throw invalid(`consistency note length ${noteLength}`, base + 14)
  let consistencyNote: string | undefined
  if ((flags & FLAG_NOTE) !== 0) {
    const from = need(noteLength)
    try {
      consistencyNote = new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(from, from + noteLength))
    } catch {
      throw invalid('consistency note is not UTF-8', base + from)
    }
  }
  const origin = version >= 2 ? decodeOrigin(b, need, base) : null
  const diskCount = b.readUInt16LE(need(2))
  if (diskCount < 1 || diskCount > MAX_SEED_DISKS) throw invalid(`${diskCount} disks (1 to ${MAX_SEED_DISKS} allowed)`, base + at - 2)
  const disks: SeedDisk[] = []
  let manifests = 0
  for (let i = 0; i < diskCount; i++) {
    const nameLength = b.readUInt8(need(1))
    const from = need(nameLength)
    const name = b.toString('latin1', from, from + nameLength)
    if (!DISK_NAME_PATTERN.test(name) || disks.some(d => d.name === name)) throw invalid(`disk name "${name}" is invalid or repeated`, base + from)
    const size = b.readBigUInt64LE(need(8))
    if (size > BigInt(MAX_DISK_BYTES)) throw invalid(`disk ${name} size out of range`, base + at - 8)
    const rootAt = need(HASH_LENGTH)
    disks.push({ name, size: Number(size), root: toHex(b.subarray(rootAt, rootAt + HASH_LENGTH)) })
    manifests += manifestBytes(Number(size), blockSize)
  }
  if (manifests > MAX_SEED_MANIFEST_BYTES) throw invalid(`manifests total ${manifests} bytes, over ${MAX_SEED_MANIFEST_BYTES}`)
  const rootAt = need(HASH_LENGTH)
  const root = toHex(b.subarray(rootAt, rootAt + HASH_LENGTH))
  if (at !== end) throw invalid('seed header has bytes past its last field', base + at)
  if (root !== pointRoot(disks)) throw invalid('seed header point root does not match its disks', base + rootAt)
  return { blockSize, time: Number(time), consistency, ...(consistencyNote === undefined ? {} : { consistencyNote }), origin, disks, root }
}

/**
 * The origin of a version 2 header: `u8 R`, R bytes relationship id, `u8 P`,
 * P bytes peer id. Both empty mean no origin; one empty is invalid.
 */
function decodeOrigin (b: Buffer, need: (n: number) => number, base: number): SeedOrigin | null {
  const relationshipLengthAt = need(1)
  const relationshipLength = b.readUInt8(relationshipLengthAt)
  if (relationshipLength > MAX_ORIGIN_RELATIONSHIP_BYTES) throw invalid(`origin relationship length ${relationshipLength}`, base + relationshipLengthAt)
  const relationshipAt = need(relationshipLength)
  const peerLengthAt = need(1)
  const peerLength = b.readUInt8(peerLengthAt)
  if (peerLength > MAX_ORIGIN_PEER_BYTES) throw invalid(`origin peer length ${peerLength}`, base + peerLengthAt)
  const peerAt = need(peerLength)
  if (relationshipLength === 0 && peerLength === 0) return null
  const origin = {
    relationship: b.toString('latin1', relationshipAt, relationshipAt + relationshipLength),
    peer: b.toString('latin1', peerAt, peerAt + peerLength)
  }
  if (!validOrigin(origin)) throw invalid('seed origin is malformed, or names only one of relationship and peer', base + relationshipLengthAt)
  return origin
}

export interface RecordHeader {
  hash: Uint8Array
  codec: number
  rawLength: number
  storedLength: number
}

export function encodeRecordHeader (r: RecordHeader): Buffer {
  const out = Buffer.alloc(RECORD_HEADER_BYTES)
  out.set(r.hash, 0)
  out.writeUInt8(r.codec, 32)
  out.writeUInt32LE(r.rawLength, 33)
  out.writeUInt32LE(r.storedLength, 37)
  out.writeUInt32LE(crc32(out.subarray(0, 41)), 41)
  return out
}

/** Decodes a record header; undefined when its CRC fails (the caller knows where it is). */
export function decodeRecordHeader (bytes: Uint8Array): RecordHeader | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, RECORD_HEADER_BYTES)
  if (b.readUInt32LE(41) !== crc32(b.subarray(0, 41))) return undefined
  return { hash: b.subarray(0, 32), codec: b.readUInt8(32), rawLength: b.readUInt32LE(33), storedLength: b.readUInt32LE(37) }
}

export function encodeTrailer (blocks: number, digest: Uint8Array): Buffer {
  const out = Buffer.alloc(TRAILER_BYTES)
  TRAILER_MAGIC.copy(out, 0)
  out.writeBigUInt64LE(BigInt(blocks), 8)
  out.set(digest, 16)
  return out
}

export interface Trailer {
  magicOk: boolean
  blocks: bigint
  digest: Uint8Array
}

export function decodeTrailer (bytes: Uint8Array): Trailer {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, TRAILER_BYTES)
  return { magicOk: b.subarray(0, 8).equals(TRAILER_MAGIC), blocks: b.readBigUInt64LE(8), digest: b.subarray(16, 16 + HASH_LENGTH) }
}

/** One block record's expected content, in canonical order. */
export interface BlockRef {
  hash: Uint8Array
  rawLength: number
}

/**
 * A block hash as a compact Map / Set key: its 32 bytes as a 32-character
 * string (`hashes` holds hashes back to back; `at` is a byte offset).
 */
export function hashKey (hashes: Uint8Array, at = 0): string {
  return Buffer.from(hashes.buffer, hashes.byteOffset, hashes.byteLength).toString('latin1', at, at + HASH_LENGTH)
}

/**
 * The canonical order of block records: disks in header order, blocks in
 * ascending index, each distinct non-zero hash at its first reference only.
 * A given point therefore always yields the same seed bytes, and an importer
 * knows which block must come next.
 *
 * Memory: one 32-character string per distinct block (the same order of
 * size as the manifests and the staged cycle's own index), never block data.
 */
export function * blockRefs (manifests: Manifest[]): Generator<BlockRef> {
  const seen = new Set<string>()
  for (const m of manifests) {
    const n = blockCount(m.size, m.blockSize)
    for (let i = 0; i < n; i++) {
      if (isZeroBlock(m, i)) continue
      const key = hashKey(m.hashes, i * HASH_LENGTH)
      if (seen.has(key)) continue
      seen.add(key)
      yield { hash: m.hashes.subarray(i * HASH_LENGTH, (i + 1) * HASH_LENGTH), rawLength: blockLength(m, i) }
    }
  }
}

/** Number of block records and their raw bytes, for counts and progress. */
export function countRefs (manifests: Manifest[]): { blocks: number, rawBytes: number } {
  let blocks = 0
  let rawBytes = 0
  for (const r of blockRefs(manifests)) { blocks++; rawBytes += r.rawLength }
  return { blocks, rawBytes }
}
