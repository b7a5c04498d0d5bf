import { open, readFile, type FileHandle } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { CoreError, CoreErrorCode, throwIfAborted } from '../errors.ts'
import type { Extent } from '../types.ts'
import type { DiskSource, DiskView } from './disk-view.ts'
import { fileDataExtents, type FileDataExtents } from './file-data-extents.ts'

/**
 * A view of a raw image file or block device that nobody writes while it is
 * read (a stopped VM's disk). Consistency is checked, not assumed: size and
 * modification time are compared when the view closes, and a change fails
 * the close with CORE_SOURCE_CHANGED so the cycle is not committed.
 */
export class FileDiskSource implements DiskSource {
  readonly path: string
  readonly description: string

  constructor (path: string) {
    this.path = path
    this.description = `file ${path}`
  }

  async open (signal?: AbortSignal): Promise<DiskView> {
    throwIfAborted(signal)
    let handle: FileHandle
    try {
      handle = await open(this.path, 'r')
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_SOURCE_UNREADABLE, `cannot open ${this.path}: ${(err as Error).message}`, { cause: err })
    }
    try {
      const stats = await handle.stat({ bigint: false })
      const size = await sizeOf(this.path, stats)
      // Holes are told by regular files only (a block device's lseek knows no SEEK_DATA).
      const holes = stats.isFile() ? await fileDataExtents() : undefined
      return new FileDiskView(this.path, handle, size, stats, holes)
    } catch (err) {
      await handle.close()
      throw err
    }
  }
}

class FileDiskView implements DiskView {
  readonly size: number
  readonly fd: number
  private readonly path: string
  private readonly handle: FileHandle
  private readonly opened: Stats
  /** Present when the file can tell its holes (a regular file on Linux). */
  readonly dataExtents?: (offset: number, length: number, signal?: AbortSignal) => Promise<Extent[]>

  constructor (path: string, handle: FileHandle, size: number, opened: Stats, holes?: FileDataExtents) {
    this.path = path
    this.handle = handle
    this.size = size
    this.fd = handle.fd
    this.opened = opened
    if (holes !== undefined) this.dataExtents = async (offset, length, signal) => await this.extents(holes, offset, length, signal)
  }

  /**
   * The file's data extents in the range, from SEEK_DATA/SEEK_HOLE; the
   * whole range when lseek fails (it is then read, as it was before holes
   * were skipped). A file written meanwhile fails `close()`
   * (CORE_SOURCE_CHANGED) as for reads, so a stale answer is never committed.
   */
  private async extents (holes: FileDataExtents, offset: number, length: number, signal?: AbortSignal): Promise<Extent[]> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new TypeError(`extents of ${length} bytes at ${offset} are outside the disk`)
    }
    throwIfAborted(signal)
    try {
      return holes.extents(this.fd, offset, length)
    } catch {
      return length === 0 ? [] : [{ offset, length }]
    }
  }

  async read (offset: number, length: number, into: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (offset < 0 || length < 0 || offset + length > this.size || length > into.byteLength) {
      throw new TypeError(`read of ${length} bytes at ${offset} is outside the disk or buffer`)
    }
    throwIfAborted(signal)
    let done = 0
    while (done < length) {
      let n: number
      try {
        ({ bytesRead: n } = await this.handle.read(into, done, length - done, offset + done))
      } catch (err) {
        throw new CoreError(CoreErrorCode.CORE_SOURCE_UNREADABLE, `read failed on ${this.path}: ${(err as Error).message}`, { cause: err })
      }
      if (n === 0) throw new CoreError(CoreErrorCode.CORE_SOURCE_CHANGED, `${this.path} ended at ${offset + done} while being read`)
      done += n
    }
  }

  async close (): Promise<void> {
    let now: Stats
    try {
      now = await this.handle.stat()
    } finally {
      await this.handle.close()
    }
    if (this.opened.isFile() && (now.size !== this.opened.size || now.mtimeMs !== this.opened.mtimeMs)) {
      throw new CoreError(CoreErrorCode.CORE_SOURCE_CHANGED,
        `${this.path} was modified while it was read (size ${this.opened.size} -> ${now.size}); the cycle was not committed`)
    }
  }
}

/** Size of a regular file from stat; of a block device from sysfs (stat says 0 for devices). */
async function sizeOf (path: string, stats: Stats): Promise<number> {
  if (stats.isFile()) return stats.size
  if (stats.isBlockDevice()) {
    const major = Math.floor(stats.rdev / 256) & 0xfff
    const minor = (stats.rdev & 0xff) | ((Math.floor(stats.rdev / 4096) & 0xfff00))
    const sectors = await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')
    return Number(sectors.trim()) * 512
  }
  throw new CoreError(CoreErrorCode.CORE_SOURCE_UNREADABLE, `${path} is neither a regular file nor a block device`)
}
