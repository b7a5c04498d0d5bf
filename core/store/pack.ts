import { randomBytes } from 'node:crypto'
import { open, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { HASH_LENGTH } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import type { Codec } from '../compress.ts'
import type { BlockLocation } from './location.ts'

/**
 * Pack files hold block data, written once, never modified; only pruning
 * deletes them. Layout (docs/store-format.md): the 8-byte magic "TNDPACK1",
 * then records [codec u8][stored length u32 LE][raw length u32 LE][hash 32][data].
 * A pack becomes part of the store only when a committed index batch names it.
 */
export const PACK_MAGIC = Buffer.from('TNDPACK1', 'latin1')
export const RECORD_HEADER_BYTES = 1 + 4 + 4 + HASH_LENGTH

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
  /** Sum of the records' stored data lengths (headers excluded). */
  dataBytes = 0

  private constructor (id: string, path: string, handle: FileHandle) {
    this.id = id
    this.path = path
    this.handle = handle
  }

  static async create (dir: string): Promise<PackWriter> {
    const id = newPackId()
    const path = packPath(dir, id)
    let handle: FileHandle
    try {
      handle = await open(path, 'wx')
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `cannot create pack ${path}: ${(err as Error).message}`, { cause: err })
    }
    const w = new PackWriter(id, path, handle)
    w.pending.push(PACK_MAGIC)
    w.pendingBytes = PACK_MAGIC.byteLength
    return w
  }

  /** Total bytes the pack will hold once flushed. */
  get size (): number {
    return this.written + this.pendingBytes
  }

  /** Appends one record; returns where its data will be. */
  async append (hash: Uint8Array, codec: Codec, rawLength: number, data: Uint8Array): Promise<BlockLocation> {
    const header = Buffer.alloc(RECORD_HEADER_BYTES)
    header.writeUInt8(codec, 0)
    header.writeUInt32LE(data.byteLength, 1)
    header.writeUInt32LE(rawLength, 5)
    header.set(hash, 9)
    const offset = this.size + RECORD_HEADER_BYTES
    this.pending.push(header, Buffer.from(data.buffer, data.byteOffset, data.byteLength))
    this.pendingBytes += RECORD_HEADER_BYTES + data.byteLength
    this.blocks++
    this.dataBytes += data.byteLength
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

  /** Closes without making durable (the pack will be deleted as an orphan). */
  async discard (): Promise<void> {
    const handle = this.handle
    this.handle = undefined
    await handle?.close()
  }
}

/** The index record of a pack just sealed: every record live. */
export function packRecord (w: PackWriter): PackRecord {
  return { bytes: w.size, blocks: w.blocks, dataBytes: w.dataBytes, liveBlocks: w.blocks, liveBytes: w.dataBytes }
}

/** One record found by walking a pack file. */
export interface PackEntry {
  hash: Uint8Array
  codec: Codec
  rawLength: number
  /** Offset of the data in the pack. */
  offset: number
  data: Uint8Array
}

/**
 * Walks a pack's records in order (for repacking and checks). Stops with
 * CORE_BLOCK_CORRUPT at a bad magic or a record that runs past the end.
 */
export async function * readPackEntries (path: string): AsyncGenerator<PackEntry> {
  const { readFile } = await import('node:fs/promises')
  const bytes = await readFile(path)
  if (!bytes.subarray(0, PACK_MAGIC.byteLength).equals(PACK_MAGIC)) {
    throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `${path} is not a pack file`)
  }
  let at = PACK_MAGIC.byteLength
  while (at < bytes.byteLength) {
    if (at + RECORD_HEADER_BYTES > bytes.byteLength) throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `${path}: record header cut at ${at}`)
    const stored = bytes.readUInt32LE(at + 1)
    const offset = at + RECORD_HEADER_BYTES
    if (offset + stored > bytes.byteLength) throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `${path}: record at ${at} runs past the end`)
    yield {
      codec: bytes.readUInt8(at) as Codec,
      rawLength: bytes.readUInt32LE(at + 5),
      hash: bytes.subarray(at + 9, at + 9 + HASH_LENGTH),
      offset,
      data: bytes.subarray(offset, offset + stored)
    }
    at = offset + stored
  }
}
