import type { Extent } from '../types.ts'

/** lseek(2) whence values of Linux: the next byte of data, the next hole, at or after the offset. */
const SEEK_DATA = 3
const SEEK_HOLE = 4
/** errno of SEEK_DATA when no data follows the offset (Linux). */
const ENXIO = 6

type Lseek = (fd: number, offset: bigint, whence: number) => bigint

/**
 * The data extents of regular files, from lseek's SEEK_DATA and SEEK_HOLE
 * (Linux; every file system answers them: one without holes says "all
 * data"). Node has no lseek: it is called through the node:ffi module of
 * the Node.js the project pins (libc's own `lseek` and `__errno_location`,
 * two symbols of the running process), which needs no build and no package.
 */
export interface FileDataExtents {
  /**
   * The extents of [offset, offset + length) of the open regular file `fd`
   * that hold data, clipped to that range, in order. Bytes outside them
   * read as zeros (a hole, or past the end of the file). Synchronous: a
   * call costs two system calls per data extent in the range. Throws
   * (plain Error) on any failure it cannot read as "no data follows":
   * the caller then reads the range whole.
   */
  extents: (fd: number, offset: number, length: number) => Extent[]
}

let loaded: Promise<FileDataExtents | undefined> | undefined

/**
 * The file data extents helper, or undefined where it cannot work (not
 * Linux; Node started with --no-experimental-ffi, or under a permission
 * model without --allow-ffi; a libc without the symbols): file views then
 * omit `dataExtents` and scans read every byte, as before. Loaded once.
 */
export async function fileDataExtents (): Promise<FileDataExtents | undefined> {
  loaded ??= load().catch(() => undefined)
  return await loaded
}

async function load (): Promise<FileDataExtents | undefined> {
  if (process.platform !== 'linux') return undefined
  const ffi = await importQuietly()
  const { functions } = ffi.dlopen(null, {
    lseek: { arguments: ['i32', 'i64', 'i32'], return: 'i64' },
    __errno_location: { arguments: [], return: 'pointer' }
  })
  const lseek: Lseek = (fd, offset, whence) => functions.lseek(fd, offset, whence)
  // errno is per thread and its address fixed for the thread: this is the main thread's.
  const errnoAt = functions.__errno_location()
  const errno = (): number => ffi.getInt32(errnoAt)
  return { extents: (fd, offset, length) => walk(lseek, errno, fd, offset, length) }
}

/**
 * node:ffi is experimental in Node 26 and says so on stderr when first
 * imported. That line would end up in every CLI command's output; the
 * module's instability is covered instead by the fallback above (anything
 * failing here means "cannot tell", and the scan reads everything). Only
 * that one warning is held back, only during the import.
 */
async function importQuietly (): Promise<typeof import('node:ffi')> {
  const emit = process.emitWarning
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message
    if (rest[0] === 'ExperimentalWarning' && /\bFFI\b/.test(text)) return
    Reflect.apply(emit, process, [warning, ...rest])
  }) as typeof process.emitWarning
  try {
    return await import('node:ffi')
  } finally {
    process.emitWarning = emit
  }
}

/**
 * Alternates SEEK_DATA and SEEK_HOLE from `offset` until `offset + length`.
 * A failed SEEK_DATA is "no more data" only when errno says ENXIO; any
 * other failure throws, so that a doubt never turns into zeros.
 */
function walk (lseek: Lseek, errno: () => number, fd: number, offset: number, length: number): Extent[] {
  const end = offset + length
  const out: Extent[] = []
  let at = offset
  while (at < end) {
    const data = lseek(fd, BigInt(at), SEEK_DATA)
    if (data < 0n) {
      const code = errno()
      if (code === ENXIO) break
      throw new Error(`lseek SEEK_DATA at ${at} failed (errno ${code})`)
    }
    const start = Number(data)
    if (start >= end) break
    const hole = lseek(fd, data, SEEK_HOLE)
    if (hole < 0n) throw new Error(`lseek SEEK_HOLE at ${start} failed (errno ${errno()})`)
    const stop = Math.min(end, Number(hole))
    if (stop <= start) throw new Error(`lseek SEEK_HOLE at ${start} went back to ${stop}`)
    out.push({ offset: Math.max(start, offset), length: stop - Math.max(start, offset) })
    at = stop
  }
  return out
}
