import { MAX_DISK_BYTES } from '../constants.ts'
import { MAX_REQUEST_BYTES } from './constants.ts'
import { encodeString } from './protocol.ts'

/** One run of an export's allocation: `length` bytes that all read as zeros, or not. */
export interface NbdExportExtent {
  length: number
  /** True when the run reads as zeros and is not stored (answered as NBD_STATE_HOLE | NBD_STATE_ZERO). */
  zero: boolean
}

/**
 * What NbdServer serves: a read-only byte range and how to read it.
 * The server checks every request against `size` and MAX_REQUEST_BYTES
 * before calling `read` or `extents`, so both are only ever called with
 * 0 < length <= MAX_REQUEST_BYTES (extents: < 2^32) and offset + length <= size.
 */
export interface NbdExport {
  /** The export name clients ask for (a spec string: UTF-8, no NUL, at most 4096 bytes). */
  readonly name: string
  /** Bytes, fixed for the export's life. */
  readonly size: number
  /** Preferred request size advertised to clients (NBD_INFO_BLOCK_SIZE); 4096 when absent. A power of two from 512 to 32 MiB. */
  readonly blockSize?: number
  /**
   * Exactly `length` bytes from `offset`, or a rejection (answered EIO and
   * reported to the server's onError). May be called concurrently. Should
   * stop early when `signal` fires (the client left or the server stops).
   */
  read: (offset: number, length: number, signal: AbortSignal) => Promise<Uint8Array>
  /**
   * Runs covering [offset, offset + n) for some 0 < n <= length, in order,
   * each non-empty. When present, clients can negotiate base:allocation and
   * skip zero runs (QEMU's convert, stream and mirror do).
   */
  extents?: (offset: number, length: number, signal: AbortSignal) => Promise<NbdExportExtent[]>
}

const DEFAULT_PREFERRED_BLOCK = 4096
const MIN_PREFERRED_BLOCK = 512
const MAX_PREFERRED_BLOCK = MAX_REQUEST_BYTES

/** The preferred block size advertised for `e`. */
export function preferredBlockSize (e: NbdExport): number {
  return e.blockSize ?? DEFAULT_PREFERRED_BLOCK
}

/** Checks the exports given to a server (a caller's mistake is a TypeError) and indexes them by name. */
export function indexExports (exports: readonly NbdExport[]): Map<string, NbdExport> {
  if (!Array.isArray(exports)) throw new TypeError('exports must be an array')
  const byName = new Map<string, NbdExport>()
  for (const e of exports) {
    if (typeof e?.name !== 'string') throw new TypeError('an export needs a name')
    encodeString(e.name, 'export name')
    if (byName.has(e.name)) throw new TypeError(`two exports are named ${JSON.stringify(e.name)}`)
    if (!Number.isSafeInteger(e.size) || e.size < 0 || e.size > MAX_DISK_BYTES) throw new TypeError(`export ${e.name}: size must be a non-negative integer`)
    const b = preferredBlockSize(e)
    if (!Number.isInteger(b) || b < MIN_PREFERRED_BLOCK || b > MAX_PREFERRED_BLOCK || (b & (b - 1)) !== 0) {
      throw new TypeError(`export ${e.name}: blockSize must be a power of two from ${MIN_PREFERRED_BLOCK} to ${MAX_PREFERRED_BLOCK}`)
    }
    if (typeof e.read !== 'function') throw new TypeError(`export ${e.name}: read must be a function`)
    if (e.extents !== undefined && typeof e.extents !== 'function') throw new TypeError(`export ${e.name}: extents must be a function`)
    byName.set(e.name, e)
  }
  return byName
}
