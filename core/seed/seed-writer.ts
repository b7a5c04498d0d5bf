import { Blake3Hasher } from '@napi-rs/blake-hash'
import type { FileHandle } from 'node:fs/promises'
import { CoreError, CoreErrorCode } from '../errors.ts'

/** Bytes gathered before one write() call: few syscalls for small blocks, little memory. */
export const WRITE_BUFFER_BYTES = 1024 * 1024

export interface SeedWriterInit {
  /** File offset of the first byte written (default 0). */
  offset?: number
  /** Hash what is written, for `digest()` (default true). */
  hash?: boolean
}

/**
 * Buffered sequential writer of one region of a seed file, optionally
 * hashing what it writes. Chunks handed to `write` are kept by reference
 * until they are flushed: a caller that must know when it may reuse a chunk
 * passes `onWritten`, called once the chunk is in the file. Write errors
 * become CORE_WRITE_FAILED. Not safe for concurrent use.
 */
export class SeedWriter {
  /** File offset of the next byte written (or buffered). */
  position: number
  private readonly handle: FileHandle
  private readonly path: string
  private hasher: Blake3Hasher | undefined
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private written: Array<() => void> = []
  private flushed: number

  constructor (handle: FileHandle, path: string, init: SeedWriterInit = {}) {
    this.handle = handle
    this.path = path
    this.position = init.offset ?? 0
    this.flushed = this.position
    this.hasher = init.hash === false ? undefined : new Blake3Hasher()
  }

  async write (chunk: Uint8Array, onWritten?: () => void): Promise<void> {
    this.hasher?.update(chunk)
    this.pending.push(chunk)
    this.pendingBytes += chunk.byteLength
    this.position += chunk.byteLength
    if (onWritten !== undefined) this.written.push(onWritten)
    if (this.pendingBytes >= WRITE_BUFFER_BYTES) await this.flush()
  }

  /** BLAKE3 of every byte written so far; hashing stops here (so the trailer that holds it is not hashed). */
  digest (): Uint8Array {
    if (this.hasher === undefined) throw new TypeError('seed writer is not hashing')
    const d = this.hasher.digestBuffer()
    this.hasher = undefined
    return d
  }

  /** Writes what is buffered (writeOutputFile fsyncs and renames), then calls the chunks' `onWritten`. */
  async flush (): Promise<void> {
    const chunks = this.pending
    const bytes = this.pendingBytes
    const written = this.written
    this.pending = []
    this.pendingBytes = 0
    this.written = []
    if (bytes > 0) {
      await this.handle.writev(chunks, this.flushed).catch(wrapWrite(`write to ${this.path}`))
      this.flushed += bytes
    }
    for (const f of written) f()
  }
}

export function wrapWrite (what: string): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof CoreError) throw err
    throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `${what} failed: ${(err as Error).message}`, { cause: err })
  }
}
