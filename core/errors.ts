/**
 * The base of every error Tandem raises on purpose: a stable upper-case
 * `code` from one folder's registry (CORE_*, P2P_*, APP_*, later WEB_*),
 * the message for people, optional `details` for the operator, and the
 * `cause`. Each folder extends it with its own class and code registry
 * (CoreError below, P2pError, AppError); none throws a TandemError itself.
 * Whoever reports errors (the CLI's exit status, later HTTP) tests
 * `instanceof TandemError` and passes the code on unchanged; anything else
 * is unexpected. Lives in core because core imports nothing of ours and
 * every folder may import core/errors.ts.
 */
export abstract class TandemError extends Error {
  readonly code: string
  /** Extra facts for the operator (block index, offsets, QEMU's error class...), never needed to branch on: the code does that. */
  readonly details: Record<string, unknown> | undefined

  constructor (code: string, message: string, options: TandemErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'TandemError'
    this.code = code
    this.details = options.details
  }
}

export interface TandemErrorOptions { cause?: unknown, details?: Record<string, unknown> }

/**
 * Errors raised by core/. Each carries a stable upper-case `code` (listed in
 * docs/errors.md, kept in step by test/errors.test.ts). Codes never change;
 * messages may. Programmer mistakes (wrong argument types) are plain TypeErrors.
 */
export const CoreErrorCode = {
  /** The source disk could not be opened or read. */
  CORE_SOURCE_UNREADABLE: 'CORE_SOURCE_UNREADABLE',
  /** The source changed while it was being read (size or modification time; or a scan's blocks disagree with its manifest): the view was not consistent. */
  CORE_SOURCE_CHANGED: 'CORE_SOURCE_CHANGED',
  /** The operation was cancelled through its AbortSignal. */
  CORE_ABORTED: 'CORE_ABORTED',
  /** A setting or argument is out of its allowed range (block size, disk name, retention count...). */
  CORE_INVALID_ARGUMENT: 'CORE_INVALID_ARGUMENT',
  /** The store directory is not a Tandem store, or was written by a newer schema version. */
  CORE_STORE_INCOMPATIBLE: 'CORE_STORE_INCOMPATIBLE',
  /** The store's index could not be opened: locked by another process (or, rarely, a failure the message names). */
  CORE_STORE_UNAVAILABLE: 'CORE_STORE_UNAVAILABLE',
  /** No recovery point with that id (or no point at all). */
  CORE_POINT_NOT_FOUND: 'CORE_POINT_NOT_FOUND',
  /** The recovery point has no disk with that name. */
  CORE_DISK_NOT_FOUND: 'CORE_DISK_NOT_FOUND',
  /** A stored block does not hash to the hash it is stored under (bit rot, tampering). */
  CORE_BLOCK_CORRUPT: 'CORE_BLOCK_CORRUPT',
  /** A block a manifest refers to is absent from the store. */
  CORE_BLOCK_MISSING: 'CORE_BLOCK_MISSING',
  /** A commit was asked for while blocks its manifests need were neither stored nor staged. */
  CORE_COMMIT_INCOMPLETE: 'CORE_COMMIT_INCOMPLETE',
  /** A manifest's encoding is malformed (wrong length, unknown version). */
  CORE_MANIFEST_INVALID: 'CORE_MANIFEST_INVALID',
  /** An image does not match the recovery point it was compared with. */
  CORE_IMAGE_MISMATCH: 'CORE_IMAGE_MISMATCH',
  /** The output file exists and overwriting it was not asked for. */
  CORE_OUTPUT_EXISTS: 'CORE_OUTPUT_EXISTS',
  /** A seed file is not a Tandem seed or has an unsupported version. */
  CORE_SEED_INVALID: 'CORE_SEED_INVALID',
  /** A seed file ends before its trailer: it was cut short. */
  CORE_SEED_TRUNCATED: 'CORE_SEED_TRUNCATED',
  /** A seed file's content does not match its hashes: it was altered or damaged. */
  CORE_SEED_CORRUPT: 'CORE_SEED_CORRUPT',
  /** A block failed to decompress or decompressed to the wrong length. */
  CORE_CODEC_FAILED: 'CORE_CODEC_FAILED',
  /** Writing to the store or an image failed (disk full, I/O error). Nothing committed is affected. */
  CORE_WRITE_FAILED: 'CORE_WRITE_FAILED',
  /** The NBD server refused the handshake or lacks what the client needs (export missing, no fixed newstyle, no structured replies, no NBD_OPT_GO). */
  CORE_NBD_HANDSHAKE_FAILED: 'CORE_NBD_HANDSHAKE_FAILED',
  /** The NBD server broke the protocol (bad magic, unknown cookie, a chunk outside its request, a length past our limits); the connection is closed. Our own server uses it internally for a client that broke the protocol (that client is hung up on; the code never leaves the server). */
  CORE_NBD_PROTOCOL: 'CORE_NBD_PROTOCOL',
  /** The NBD server answered a request with an error; `details.errno` names it (EIO, EINVAL...). The connection stays usable. */
  CORE_NBD_REQUEST_FAILED: 'CORE_NBD_REQUEST_FAILED',
  /** The NBD server did not finish the handshake or answer a request in time. */
  CORE_NBD_TIMEOUT: 'CORE_NBD_TIMEOUT',
  /** The connection to the NBD server could not be made, was lost, or was closed by the client. */
  CORE_NBD_DISCONNECTED: 'CORE_NBD_DISCONNECTED',
  /** Our NBD server could not listen on its Unix socket (the path is taken, its directory is missing or not writable, the path is too long). `details.path` names it. */
  CORE_NBD_LISTEN_FAILED: 'CORE_NBD_LISTEN_FAILED',
  /** The store's index is missing, empty or damaged; `tandem store repair` rebuilds it from the packs. */
  CORE_STORE_DAMAGED: 'CORE_STORE_DAMAGED',
  /** The store, or a file or directory in it, may not be read or written by this user; the message names the path. */
  CORE_STORE_PERMISSION_DENIED: 'CORE_STORE_PERMISSION_DENIED',
  /** The store path, or a part of it, is a file and not a directory. */
  CORE_STORE_NOT_DIRECTORY: 'CORE_STORE_NOT_DIRECTORY',
  /** The cycle's disk names differ from the latest point's (a disk new, missing or renamed); refused unless the operator allows it. */
  CORE_SOURCE_DISKS_CHANGED: 'CORE_SOURCE_DISKS_CHANGED',
  /** A source disk is empty (0 bytes) while the latest point holds data for it: refused, it would replace the good disk with nothing. */
  CORE_SOURCE_EMPTY: 'CORE_SOURCE_EMPTY',
  /** A recovery point was committed, then bringing a replica image to it failed (disk full, I/O error); the point is safe, the next command repairs the image. `details`: point, disk, path, cause. */
  CORE_IMAGE_UPDATE_FAILED: 'CORE_IMAGE_UPDATE_FAILED',
  /** A recovery point was committed, then applying retention failed; the point is safe, the next cycle or prune applies retention. `details`: point, path, cause. */
  CORE_RETENTION_FAILED: 'CORE_RETENTION_FAILED',
  /** A point file (`points/<id>.point`) fails its checksum, does not decode, or disagrees with the index. */
  CORE_POINT_FILE_CORRUPT: 'CORE_POINT_FILE_CORRUPT',
  /** A file in `packs/` that the index does not name (kept, never deleted; `tandem store repair` reads it). */
  CORE_PACK_STRAY: 'CORE_PACK_STRAY',
  /** A committed point the index lists has no point file (it cannot be rebuilt by `repair`). */
  CORE_POINT_FILE_MISSING: 'CORE_POINT_FILE_MISSING'
} as const

export type CoreErrorCode = typeof CoreErrorCode[keyof typeof CoreErrorCode]

export class CoreError extends TandemError {
  declare readonly code: CoreErrorCode

  constructor (code: CoreErrorCode, message: string, options: TandemErrorOptions = {}) {
    super(code, message, options)
    this.name = 'CoreError'
  }
}

/** The error an aborted operation rejects with: CORE_ABORTED, the signal's reason as cause. */
export function abortedError (signal: AbortSignal): CoreError {
  return new CoreError(CoreErrorCode.CORE_ABORTED, 'operation aborted', { cause: signal.reason })
}

/** Throws CORE_ABORTED when the signal has fired. */
export function throwIfAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw abortedError(signal)
}

/** True when `err` is an Error carrying the given stable code. */
export function hasCode (err: unknown, code: string): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === code
}
