import { Blake3Hasher } from '@napi-rs/blake-hash'
import { open, type FileHandle } from 'node:fs/promises'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { MAX_RECORD_BYTES, truncated } from './seed-format.ts'

/**
 * Bytes read from the seed per read() call, and the most the reader buffers.
 * At least one whole block record (MAX_RECORD_BYTES), and large enough that
 * removable media see long sequential requests.
 */
export const SEED_READ_BUFFER_BYTES = Math.max(8 * 1024 * 1024, MAX_RECORD_BYTES)

/**
 * Reads a seed front to back through one reusable buffer, hashing every
 * byte it hands out until `digest()` is called. Running out of file where
 * the format needs bytes throws CORE_SEED_TRUNCATED; an I/O error throws
 * CORE_SEED_CORRUPT (the medium could not deliver the content).
 * Not safe for concurrent use.
 */
export class SeedReader {
  /** Bytes handed out so far: the file offset of the next byte. */
  position = 0
  private readonly handle: FileHandle
  private readonly buf: Buffer
  private start = 0
  private end = 0
  private hasher: Blake3Hasher | undefined = new Blake3Hasher()

  private constructor (handle: FileHandle, bufferBytes: number) {
    this.handle = handle
    this.buf = Buffer.allocUnsafe(bufferBytes)
  }

  /**
   * Opens a seed for reading. A path that is not a readable regular file is
   * the caller's mistake: CORE_INVALID_ARGUMENT.
   */
  static async open (path: string, bufferBytes = SEED_READ_BUFFER_BYTES): Promise<{ reader: SeedReader, size: number }> {
    let handle: FileHandle
    try {
      handle = await open(path, 'r')
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `cannot open seed ${path}: ${(err as Error).message}`, { cause: err })
    }
    const stat = await handle.stat().catch(async (err: unknown) => { await handle.close(); throw err })
    if (!stat.isFile()) {
      await handle.close()
      throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `seed ${path} is not a regular file`)
    }
    return { reader: new SeedReader(handle, bufferBytes), size: stat.size }
  }

  async close (): Promise<void> {
    await this.handle.close()
  }

  /** Buffers up to `n` bytes (n ≤ the buffer) and returns how many are available, fewer only at end of file. */
  async fill (n: number): Promise<number> {
    if (n > this.buf.byteLength) throw new TypeError(`read of ${n} bytes exceeds the seed read buffer`)
    if (this.end - this.start >= n) return n
    if (this.start > 0) {
      this.buf.copy(this.buf, 0, this.start, this.end)
      this.end -= this.start
      this.start = 0
    }
    while (this.end < n) {
      const { bytesRead } = await this.read(this.buf, this.end, this.buf.byteLength - this.end, this.position + this.end)
      if (bytesRead === 0) break
      this.end += bytesRead
    }
    return Math.min(n, this.end)
  }

  /** The buffered bytes, without consuming them (valid until the next call). */
  peek (n: number): Buffer {
    return this.buf.subarray(this.start, this.start + Math.min(n, this.end - this.start))
  }

  /** Consumes exactly `n` bytes; the view is valid until the next call. */
  async take (n: number): Promise<Buffer> {
    const got = await this.fill(n)
    if (got < n) throw truncated(this.position + got)
    const out = this.buf.subarray(this.start, this.start + n)
    this.start += n
    this.position += n
    this.hasher?.update(out)
    return out
  }

  /** Consumes exactly `dest.byteLength` bytes into `dest`, in bounded reads (for manifests larger than the buffer). */
  async takeInto (dest: Uint8Array): Promise<void> {
    let done = 0
    while (done < dest.byteLength) {
      const n = Math.min(dest.byteLength - done, this.buf.byteLength)
      dest.set(await this.take(n), done)
      done += n
    }
  }

  /** True when no byte follows the ones consumed. */
  async atEnd (): Promise<boolean> {
    return await this.fill(1) === 0
  }

  /** BLAKE3 of every byte consumed so far; later bytes are not hashed. */
  digest (): Buffer {
    if (this.hasher === undefined) throw new TypeError('seed digest already taken')
    const d = this.hasher.digestBuffer()
    this.hasher = undefined
    return d
  }

  private async read (buf: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }> {
    try {
      return await this.handle.read(buf, offset, length, position)
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_SEED_CORRUPT, `seed read at byte ${position} failed: ${(err as Error).message}`, { cause: err, details: { offset: position } })
    }
  }
}
