/**
 * Messages between the scanner and its worker threads. A task is plain data
 * (its chunk buffer, when the scanner read it, is moved); a result is one
 * ArrayBuffer moved back, in the layout below, so no result byte is copied
 * between threads.
 */
import { HASH_LENGTH } from '../constants.ts'

export interface ScanTask {
  /** Disk offset of the chunk (a multiple of blockSize). */
  offset: number
  /** Bytes in the chunk: a multiple of blockSize, except for the disk's last chunk. */
  length: number
  blockSize: number
  /** The worker reads the chunk itself from this descriptor... */
  fd?: number
  /** ...or the scanner read it and moved it here. */
  data?: Uint8Array
  /** Base hashes of the chunk's blocks (absent past the base's end, or with no base). */
  baseHashes?: Uint8Array
  /** Compress and return the blocks that differ from the base and are not all zeros. */
  encodeChanged: boolean
  /** A result buffer given back for reuse (moved to the worker): the result is written into it when it fits. */
  room?: ArrayBuffer
  /** A new result buffer is made large enough for any chunk of this size (its consumer releases blocks: ScanOptions.reuseResults). */
  reusable?: boolean
}

export interface EncodedEntry {
  /** Chunk-relative block index. */
  index: number
  codec: number
  rawLength: number
  data: Uint8Array
}

export interface ScanTaskResult {
  /** One hash per block of the chunk, back to back. */
  hashes: Uint8Array
  /** Blocks of the chunk that differ from the base (chunk-relative indices, ascending). */
  changed: Uint32Array
  /** The changed non-zero blocks, encoded, when the task asked for them. */
  encoded: EncodedEntry[]
  /** The buffer every view above is in: give it back (ScanPool.recycle) once nothing refers to them. */
  buffer: ArrayBuffer
}

/*
 * Result layout (little-endian, 4-byte aligned):
 *   u32 blocks, u32 changed count C, u32 encoded count E
 *   blocks * 32   hashes
 *   C * u32       changed indices
 *   E * 16        entries: u32 index, u32 codec, u32 raw length, u32 data length
 *   data of each entry, back to back
 */
const HEAD = 12
const ENTRY = 16

/**
 * The largest result of a chunk of `length` bytes in blocks of `blockSize`:
 * every block changed and kept raw. Buffers of this size fit any later
 * chunk of the same size, so every one given back can be reused.
 */
export function resultCapacity (length: number, blockSize: number): number {
  const blocks = Math.ceil(length / blockSize)
  return HEAD + blocks * (HASH_LENGTH + 4 + ENTRY) + length
}

/**
 * Writes a result into `room` when it fits (the bytes past the result are
 * left as they are), else into a new buffer of at least `capacity` bytes.
 */
export function encodeResult (hashes: Uint8Array, changed: number[], encoded: Array<{ index: number, codec: number, rawLength: number, data: Uint8Array }>, room?: ArrayBuffer, capacity = 0): ArrayBuffer {
  const dataBytes = encoded.reduce((n, e) => n + e.data.byteLength, 0)
  const blocks = hashes.byteLength / HASH_LENGTH
  const need = HEAD + hashes.byteLength + changed.length * 4 + encoded.length * ENTRY + dataBytes
  // Every byte of the result is written below: a new buffer is not zero-filled first (a few MiB per chunk).
  const buffer = room !== undefined && room.byteLength >= need ? room : Buffer.allocUnsafeSlow(Math.max(need, capacity)).buffer as ArrayBuffer
  const view = new DataView(buffer)
  const bytes = new Uint8Array(buffer)
  view.setUint32(0, blocks, true)
  view.setUint32(4, changed.length, true)
  view.setUint32(8, encoded.length, true)
  bytes.set(hashes, HEAD)
  let at = HEAD + hashes.byteLength
  for (const c of changed) { view.setUint32(at, c, true); at += 4 }
  for (const e of encoded) {
    view.setUint32(at, e.index, true)
    view.setUint32(at + 4, e.codec, true)
    view.setUint32(at + 8, e.rawLength, true)
    view.setUint32(at + 12, e.data.byteLength, true)
    at += ENTRY
  }
  for (const e of encoded) { bytes.set(e.data, at); at += e.data.byteLength }
  return buffer
}

/** Views into `buffer`; nothing is copied. Trusts its input: both ends are this process. */
export function decodeResult (buffer: ArrayBuffer): ScanTaskResult {
  const view = new DataView(buffer)
  const blocks = view.getUint32(0, true)
  const c = view.getUint32(4, true)
  const e = view.getUint32(8, true)
  const hashes = new Uint8Array(buffer, HEAD, blocks * HASH_LENGTH)
  let at = HEAD + blocks * HASH_LENGTH
  const changed = new Uint32Array(buffer, at, c)
  at += c * 4
  let dataAt = at + e * ENTRY
  const encoded: EncodedEntry[] = []
  for (let i = 0; i < e; i++, at += ENTRY) {
    const length = view.getUint32(at + 12, true)
    encoded.push({ index: view.getUint32(at, true), codec: view.getUint32(at + 4, true), rawLength: view.getUint32(at + 8, true), data: new Uint8Array(buffer, dataAt, length) })
    dataAt += length
  }
  return { hashes, changed, encoded, buffer }
}
