import { randomBytes } from 'node:crypto'
import { open, readFile, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { HASH_LENGTH } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import type { Codec } from '../compress.ts'
import type { BlockLocation } from './location.ts'

/**
 * Pack files hold block data and manifest pages, written once, never
 * modified; only pruning deletes them. Every byte is covered by a check
 * (docs/store-format.md, "Pack files"): the file header by its CRC-32, each
 * record header by its CRC-32, each record's data by the BLAKE3 hash its
 * header carries. A pack becomes part of the store only when a committed
 * index batch names it.
 *
 *   file header: "TNDPACK2" (8) | pack id (8) | block size u32 LE | CRC-32 u32 LE of the 20 bytes before
 *   record:      type u8 | codec u8 | stored length u32 LE | raw length u32 LE | hash (32) | CRC-32 u32 LE of the 42 bytes before | data
 */
export const PACK_MAGIC = Buffer.from('TNDPACK2', 'latin1')
export const PACK_HEADER_BYTES = 8 + 8 + 4 + 4
export const RECORD_HEADER_BYTES = 1 + 1 + 4 + 4 + HASH_LENGTH + 4
const RECORD_CRC_AT = RECORD_HEADER_BYTES - 4

/** What a record holds. Unknown types make the record (and verify) fail: a newer format. */
export const RecordType = {
  /** A block of a disk; hash = BLAKE3 of the decoded bytes. */
  BLOCK: 0,
  /** A manifest page (up to 1024 block hashes); hash = BLAKE3 of the page. */
  MANIFEST_PAGE: 1
} as const
export type RecordType = typeof RecordType[keyof typeof RecordType]

/** A record header, decoded and checked. */
export interface RecordHeader {
  type: RecordType
  codec: Codec
  storedLength: number
  rawLength: number
  hash: Uint8Array
}

export function encodePackHeader (id: string, blockSize: number): Buffer {
  const b = Buffer.alloc(PACK_HEADER_BYTES)
  PACK_MAGIC.copy(b, 0)
  b.write(id, 8, 8, 'hex')
  b.writeUInt32LE(blockSize, 16)
  b.writeUInt32LE(crc32(b.subarray(0, 20)), 20)
  return b
}

/** Decodes a pack's file header; undefined when the magic or the CRC is wrong. */
export function decodePackHeader (bytes: Uint8Array): { id: string, blockSize: number } | undefined {
  if (bytes.byteLength < PACK_HEADER_BYTES) return undefined
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, PACK_HEADER_BYTES)
  if (!b.subarray(0, 8).equals(PACK_MAGIC)) return undefined
  if (b.readUInt32LE(20) !== crc32(b.subarray(0, 20))) return undefined
  return { id: b.toString('hex', 8, 16), blockSize: b.readUInt32LE(16) }
}

export function encodeRecordHeader (h: RecordHeader): Buffer {
  const b = Buffer.alloc(RECORD_HEADER_BYTES)
  b.writeUInt8(h.type, 0)
  b.writeUInt8(h.codec, 1)
  b.writeUInt32LE(h.storedLength, 2)
  b.writeUInt32LE(h.rawLength, 6)
  b.set(h.hash, 10)
  b.writeUInt32LE(crc32(b.subarray(0, RECORD_CRC_AT)), RECORD_CRC_AT)
  return b
}

/** Decodes a record header; undefined when its CRC fails or its type is unknown. */
export function decodeRecordHeader (bytes: Uint8Array): RecordHeader | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, RECORD_HEADER_BYTES)
  if (b.readUInt32LE(RECORD_CRC_AT) !== crc32(b.subarray(0, RECORD_CRC_AT))) return undefined
  const type = b.readUInt8(0)
  if (type !== RecordType.BLOCK && type !== RecordType.MANIFEST_PAGE) return undefined
  return {
    type,
    codec: b.readUInt8(1) as Codec,
    storedLength: b.readUInt32LE(2),
    rawLength: b.readUInt32LE(6),
    hash: new Uint8Array(b.subarray(10, 10 + HASH_LENGTH))
  }
}

/** Bytes gathered before one write() call: fewer syscalls (and thread-pool round trips) for small blocks. */
const WRITE_BUFFER_BYTES = 4 * 1024 * 1024

export function packPath (dir: string, id: string): string {
  return join(dir, `${id}.pack`)
}

export function newPackId (): string {
  return randomBytes(8).toString('hex')
}

/**
 * A committed pack's index record. `liveBlocks` / `liveBytes` count the
 * records some retained point still needs; pruning lowers them and deletes
 * or rewrites the pack when they fall.
 */
export interface PackRecord {
  bytes: number
  blocks: number
  /** Manifest-page records in the pack (pruning keeps a pack while a page of it is still listed). */
  pages?: number
  dataBytes: number
  liveBlocks: number
  liveBytes: number
}

/** Appends records to one new pack. Not safe for concurrent appends. */
export class PackWriter {
  readonly id: string
  readonly path: string
  private handle: FileHandle | undefined
  private pending: Buffer[] = []
  private pendingBytes = 0
  private written = 0
  blocks = 0
  /** Manifest-page records. */
  pages = 0
  /** Sum of the records' stored data lengths (headers excluded). */
  dataBytes = 0

  private constructor (id: string, path: string, handle: FileHandle) {
    this.id = id
    this.path = path
    this.handle = handle
  }

  /**
   * Creates the pack file `id` (newPackId(); the caller records the id as
   * pending in the index first, see sweep.ts) and queues its file header.
   */
  static async create (dir: string, id: string, blockSize: number): Promise<PackWriter> {
    const path = packPath(dir, id)
    let handle: FileHandle
    try {
      handle = await open(path, 'wx')
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `cannot create pack ${path}: ${(err as Error).message}`, { cause: err })
    }
    const w = new PackWriter(id, path, handle)
    const header = encodePackHeader(id, blockSize)
    w.pending.push(header)
    w.pendingBytes = header.byteLength
    return w
  }

  /** Total bytes the pack will hold once flushed. */
  get size (): number {
    return this.written + this.pendingBytes
  }

  /** Appends one block record; returns where its data will be. */
  async append (hash: Uint8Array, codec: Codec, rawLength: number, data: Uint8Array): Promise<BlockLocation> {
    const location = await this.appendRecord(RecordType.BLOCK, hash, codec, rawLength, data)
    this.blocks++
    this.dataBytes += data.byteLength
    return location
  }

  /** Appends one manifest page (stored raw; `hash` is its BLAKE3) so the pack describes the points too. */
  async appendPage (hash: Uint8Array, page: Uint8Array): Promise<void> {
    await this.appendRecord(RecordType.MANIFEST_PAGE, hash, 0, page.byteLength, page)
    this.pages++
  }

  private async appendRecord (type: RecordType, hash: Uint8Array, codec: Codec, rawLength: number, data: Uint8Array): Promise<BlockLocation> {
    const header = encodeRecordHeader({ type, codec, storedLength: data.byteLength, rawLength, hash })
    const offset = this.size + RECORD_HEADER_BYTES
    this.pending.push(header, Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    this.pendingBytes += RECORD_HEADER_BYTES + data.byteLength
    if (this.pendingBytes >= WRITE_BUFFER_BYTES) await this.flush()
    return { pack: this.id, offset, storedLength: data.byteLength, rawLength, codec }
  }

  private async flush (): Promise<void> {
    if (this.handle === undefined) throw new TypeError('pack already sealed')
    const chunks = this.pending
    const bytes = this.pendingBytes
    this.pending = []
    this.pendingBytes = 0
    try {
      await this.handle.writev(chunks, this.written)
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `write to pack ${this.path} failed: ${(err as Error).message}`, { cause: err })
    }
    this.written += bytes
  }

  /**
   * Flushes and fsyncs, keeping the pack open for more records: everything
   * appended so far (`size` bytes) is durable once the directory is fsynced
   * too. Used by resumable cycles' checkpoints, which would otherwise leave
   * one small pack per checkpoint.
   */
  async sync (): Promise<void> {
    await this.flush()
    try {
      await this.handle!.datasync()
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `fsync of pack ${this.path} failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Flushes, fsyncs and closes. After this the pack is durable (its directory must still be fsynced). */
  async seal (): Promise<void> {
    await this.flush()
    const handle = this.handle
    this.handle = undefined
    try {
      await handle?.datasync()
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `fsync of pack ${this.path} failed: ${(err as Error).message}`, { cause: err })
    } finally {
      await handle?.close()
    }
  }

  /** Closes without making durable (the pack stays named pending; the sweep deletes it). */
  async discard (): Promise<void> {
    const handle = this.handle
    this.handle = undefined
    await handle?.close()
  }
}

/** The index record of a pack just sealed: every record live. */
export function packRecord (w: PackWriter): PackRecord {
  return { bytes: w.size, blocks: w.blocks, pages: w.pages, dataBytes: w.dataBytes, liveBlocks: w.blocks, liveBytes: w.dataBytes }
}

/** One record found by walking a pack file. */
export interface PackEntry {
  type: RecordType
  hash: Uint8Array
  codec: Codec
  rawLength: number
  /** Offset of the data in the pack. */
  offset: number
  data: Uint8Array
}

/** A record as a pack walk finds it: its header and where its data is. */
export interface PackRecordInfo {
  type: RecordType
  hash: Uint8Array
  codec: Codec
  rawLength: number
  storedLength: number
  /** Offset of the data in the pack. */
  offset: number
}

/**
 * Bytes a pack walk reads at a time: the record headers and the data of
 * small records come from this window, so a walk holds it, not the pack
 * (up to MAX_PACK_BYTES and more). Pruning walks a pack for each one it
 * repacks; whole packs read at once stayed as garbage in the Replica for
 * minutes (docs/benchmarks.md "Memory of the daemon"). A record larger
 * than the window is read on its own.
 */
const PACK_WALK_WINDOW_BYTES = 1024 * 1024

/**
 * Walks a pack's records in order (for repacking, checks and repair),
 * reading the pack through a bounded window. Yields the records `wanted`
 * accepts (every record when it is absent), each with its data in a buffer
 * of its own, so the caller may keep it; the data of a record refused is
 * not read. Throws CORE_BLOCK_CORRUPT at a bad file header, a record header
 * that fails its CRC, or a record that runs past the end: after a damaged
 * header the following records cannot be found safely. Record data is not
 * checked here (the caller decodes and hashes it). The pack is read as it
 * is on disk while the walk runs (packs are never modified).
 */
export async function * readPackEntries (path: string, wanted?: (record: PackRecordInfo) => boolean | Promise<boolean>): AsyncGenerator<PackEntry> {
  const file = await open(path, 'r')
  try {
    const size = (await file.stat()).size
    const window = new PackWindow(file, size)
    if (decodePackHeader(await window.view(0, Math.min(PACK_HEADER_BYTES, size))) === undefined) {
      throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `${path}: pack file header is damaged`, { details: { offset: 0 } })
    }
    let at = PACK_HEADER_BYTES
    while (at < size) {
      const corrupt = (why: string): CoreError => new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `${path}: record at ${at} ${why}`, { details: { offset: at } })
      if (at + RECORD_HEADER_BYTES > size) throw corrupt('has its header cut')
      const h = decodeRecordHeader(await window.view(at, RECORD_HEADER_BYTES))
      if (h === undefined) throw corrupt('has a damaged header')
      const offset = at + RECORD_HEADER_BYTES
      if (offset + h.storedLength > size) throw corrupt('runs past the end')
      const record: PackRecordInfo = { type: h.type, hash: h.hash, codec: h.codec, rawLength: h.rawLength, storedLength: h.storedLength, offset }
      if (wanted === undefined || await wanted(record)) {
        yield { type: h.type, hash: h.hash, codec: h.codec, rawLength: h.rawLength, offset, data: await window.copy(offset, h.storedLength) }
      }
      at = offset + h.storedLength
    }
  } finally {
    await file.close()
  }
}

/** Reads a file of known size through one reused buffer of PACK_WALK_WINDOW_BYTES. */
class PackWindow {
  private readonly file: FileHandle
  private readonly size: number
  private readonly buf = Buffer.allocUnsafeSlow(PACK_WALK_WINDOW_BYTES)
  /** File offset of buf[0], and how many bytes of buf hold file data. */
  private start = 0
  private length = 0

  constructor (file: FileHandle, size: number) {
    this.file = file
    this.size = size
  }

  /** `n` bytes at `position` (within the file, n ≤ the window), valid until the next call. */
  async view (position: number, n: number): Promise<Uint8Array> {
    if (position < this.start || position + n > this.start + this.length) {
      this.start = position
      this.length = Math.min(this.buf.byteLength, this.size - position)
      await readFully(this.file, this.buf.subarray(0, this.length), position)
    }
    return this.buf.subarray(position - this.start, position - this.start + n)
  }

  /** A new buffer with the `n` bytes at `position` (within the file). */
  async copy (position: number, n: number): Promise<Uint8Array> {
    if (n <= this.buf.byteLength) return new Uint8Array(await this.view(position, n))
    const out = new Uint8Array(n)
    await readFully(this.file, out, position)
    return out
  }
}

/** Fills `into` from `position`; a file that ends first (it shrank) is a cut pack. */
async function readFully (file: FileHandle, into: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < into.byteLength;) {
    const { bytesRead } = await file.read(into, done, into.byteLength - done, position + done)
    if (bytesRead === 0) throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `pack ends at byte ${position + done}`, { details: { offset: position + done } })
    done += bytesRead
  }
}

/** What salvagePackEntries finds: a readable record, or a stretch it had to skip. */
export type SalvagedEntry = { entry: PackEntry } | { damagedAt: number }

/**
 * Walks a pack's records like readPackEntries, but past damage (for repair):
 * at a record header that fails its CRC, or runs past the end, it reports
 * `damagedAt` and searches forward, byte by byte, for the next offset that
 * holds a valid record header whose data fits in the file, and goes on from
 * there. A false match (a CRC-32 that happens to hold, about 1 in 2^32 per
 * offset) is caught by the caller, which hashes every record's data. So one
 * flipped byte costs one record, not the rest of the pack. The file header
 * is not needed: records start right after it either way.
 */
export async function * salvagePackEntries (path: string): AsyncGenerator<SalvagedEntry> {
  const bytes = await readFile(path)
  const recordAt = (at: number): PackEntry | undefined => {
    if (at + RECORD_HEADER_BYTES > bytes.byteLength) return undefined
    const h = decodeRecordHeader(bytes.subarray(at, at + RECORD_HEADER_BYTES))
    const offset = at + RECORD_HEADER_BYTES
    if (h === undefined || offset + h.storedLength > bytes.byteLength) return undefined
    return { type: h.type, codec: h.codec, rawLength: h.rawLength, hash: h.hash, offset, data: bytes.subarray(offset, offset + h.storedLength) }
  }
  let at = PACK_HEADER_BYTES
  while (at < bytes.byteLength) {
    let e = recordAt(at)
    if (e === undefined) {
      yield { damagedAt: at }
      let next = at + 1
      while (next < bytes.byteLength && (e = recordAt(next)) === undefined) next++
      if (e === undefined) return
    }
    yield { entry: e }
    at = e.offset + e.data.byteLength
  }
}
