import { blake3 } from '@napi-rs/blake-hash'
import { HASH_LENGTH, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE } from './constants.ts'
import { CoreError, CoreErrorCode } from './errors.ts'
import { toHex, zeroHash, equalHashes } from './hash.ts'
import type { BlockHash, Manifest } from './types.ts'

/** Number of blocks of a disk of `size` bytes. */
export function blockCount (size: number, blockSize: number): number {
  return Math.ceil(size / blockSize)
}

/** Byte length of block `index` (the last one may be partial). */
export function blockLength (m: Pick<Manifest, 'size' | 'blockSize'>, index: number): number {
  return Math.min(m.blockSize, m.size - index * m.blockSize)
}

export function hashAt (m: Manifest, index: number): BlockHash {
  return m.hashes.subarray(index * HASH_LENGTH, (index + 1) * HASH_LENGTH)
}

/** True when block `index` of `m` is all zeros (such blocks are never stored). */
export function isZeroBlock (m: Manifest, index: number): boolean {
  return equalHashes(m.hashes, index * HASH_LENGTH, zeroHash(blockLength(m, index)), 0)
}

/** True when `blockSize` is a power of two from MIN_BLOCK_SIZE to MAX_BLOCK_SIZE. */
export function validBlockSize (blockSize: number): boolean {
  return Number.isInteger(blockSize) && blockSize >= MIN_BLOCK_SIZE && blockSize <= MAX_BLOCK_SIZE && (blockSize & (blockSize - 1)) === 0
}

export function checkBlockSize (blockSize: number): void {
  if (!validBlockSize(blockSize)) {
    throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT,
      `block size must be a power of two from ${MIN_BLOCK_SIZE} to ${MAX_BLOCK_SIZE} bytes, got ${blockSize}`)
  }
}

/** Checks a manifest's internal consistency; throws CORE_MANIFEST_INVALID. */
export function checkManifest (m: Manifest): void {
  if (!Number.isSafeInteger(m.size) || m.size < 0) {
    throw new CoreError(CoreErrorCode.CORE_MANIFEST_INVALID, `invalid disk size ${m.size}`)
  }
  if (!validBlockSize(m.blockSize)) throw new CoreError(CoreErrorCode.CORE_MANIFEST_INVALID, `invalid block size ${m.blockSize}`)
  if (m.hashes.byteLength !== blockCount(m.size, m.blockSize) * HASH_LENGTH) {
    throw new CoreError(CoreErrorCode.CORE_MANIFEST_INVALID,
      `manifest holds ${m.hashes.byteLength / HASH_LENGTH} hashes, disk needs ${blockCount(m.size, m.blockSize)}`)
  }
}

const ROOT_DOMAIN = new TextEncoder().encode('tandem disk root v1\0')

/**
 * Root hash of a disk: BLAKE3 over a domain tag, the size (u64 LE), the block
 * size (u32 LE) and every block hash in order. Anyone holding the disk's bytes
 * can recompute it (docs/store-format.md).
 */
export function diskRoot (m: Manifest): string {
  const head = Buffer.alloc(ROOT_DOMAIN.byteLength + 12)
  head.set(ROOT_DOMAIN, 0)
  head.writeBigUInt64LE(BigInt(m.size), ROOT_DOMAIN.byteLength)
  head.writeUInt32LE(m.blockSize, ROOT_DOMAIN.byteLength + 8)
  return toHex(blake3(Buffer.concat([head, m.hashes])))
}

const POINT_DOMAIN = 'tandem point root v1\0'

/** Root of a recovery point: BLAKE3 over the tag and each disk's "name\0root-hex\n", disks sorted by name. */
export function pointRoot (disks: Array<{ name: string, root: string }>): string {
  const sorted = [...disks].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  const text = POINT_DOMAIN + sorted.map(d => `${d.name}\0${d.root}\n`).join('')
  return toHex(blake3(Buffer.from(text, 'utf8')))
}

const MANIFEST_MAGIC = 0x544d4631 // 'TMF1'

/**
 * Portable manifest encoding (seed files, later the wire):
 * u32 BE magic 'TMF1', u64 LE size, u32 LE blockSize, then the hashes.
 */
export function encodeManifest (m: Manifest): Uint8Array {
  const out = Buffer.alloc(16 + m.hashes.byteLength)
  out.writeUInt32BE(MANIFEST_MAGIC, 0)
  out.writeBigUInt64LE(BigInt(m.size), 4)
  out.writeUInt32LE(m.blockSize, 12)
  out.set(m.hashes, 16)
  return out
}

export function decodeManifest (bytes: Uint8Array): Manifest {
  if (bytes.byteLength < 16) throw new CoreError(CoreErrorCode.CORE_MANIFEST_INVALID, 'manifest shorter than its header')
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (b.readUInt32BE(0) !== MANIFEST_MAGIC) throw new CoreError(CoreErrorCode.CORE_MANIFEST_INVALID, 'not a manifest')
  const size = b.readBigUInt64LE(4)
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new CoreError(CoreErrorCode.CORE_MANIFEST_INVALID, 'disk size too large')
  const m: Manifest = { size: Number(size), blockSize: b.readUInt32LE(12), hashes: new Uint8Array(bytes.subarray(16)) }
  checkManifest(m)
  return m
}
