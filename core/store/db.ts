import { Level } from 'level'
import { join } from 'node:path'
import { pack as encodeValue, unpack as decodeValue } from 'msgpackr'
import { CoreError, CoreErrorCode } from '../errors.ts'

/** The store's LevelDB index: string keys, binary values. */
export type IndexDb = Level<string, Uint8Array>

export interface OpenIndexOptions {
  /** Create the database when `location` holds none: only for a store being created now. */
  createIfMissing: boolean
  /** Refuse every put, del and batch (a TypeError: writing through a read-only store is a bug). */
  readOnly?: boolean
  /** The store's directory, for the repair hint of CORE_STORE_DAMAGED (default: the parent of `location`). */
  storeDir?: string
}

/**
 * Opens the LevelDB at `location`. Failures carry the store codes of
 * `indexError`; with `createIfMissing` false a missing database is
 * CORE_STORE_DAMAGED, never silently replaced by an empty one.
 */
export async function openIndexDb (location: string, options: OpenIndexOptions): Promise<IndexDb> {
  const db = new Level<string, Uint8Array>(location, {
    keyEncoding: 'utf8',
    valueEncoding: 'view',
    createIfMissing: options.createIfMissing,
    errorIfExists: false
  })
  try {
    await db.open()
  } catch (err) {
    throw indexError(err, location, options.storeDir)
  }
  if (options.readOnly === true) {
    db.hooks.prewrite.add(() => { throw new TypeError(`the index ${location} was opened read-only`) })
  }
  return db
}

/** What the operator is told to run when the index is damaged (the command is docs/cli.md's). */
export function repairHint (storeDir: string): string {
  return `run \`tandem store repair --store ${storeDir}\` to rebuild the index from the packs`
}

/**
 * The store error for a failure of LevelDB while opening or reading the
 * index at `location` (`store` is the store's directory, for the repair
 * hint). Pure. CoreErrors pass through unchanged. Order matters: a lock
 * message names the LOCK file, so permission and space are tested first.
 */
export function indexError (err: unknown, location: string, store = location.replace(/\/index\/?$/, '')): CoreError {
  if (err instanceof CoreError) return err
  const chain = causeChain(err)
  const codes = new Set(chain.map(e => (e as { code?: unknown }).code))
  const text = chain.map(e => e instanceof Error ? e.message : String(e)).join(': ')
  if (codes.has('EACCES') || codes.has('EPERM') || /Permission denied|Operation not permitted/i.test(text)) {
    return new CoreError(CoreErrorCode.CORE_STORE_PERMISSION_DENIED, `permission denied on the store index ${location} (${text})`, { cause: err, details: { path: location } })
  }
  if (codes.has('ENOSPC') || /No space left on device/i.test(text)) {
    return new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `no space left on device for the store index ${location} (${text})`, { cause: err, details: { path: location } })
  }
  if (codes.has('LEVEL_LOCKED')) {
    return new CoreError(CoreErrorCode.CORE_STORE_UNAVAILABLE, `store index ${location} is in use by another process`, { cause: err })
  }
  if (codes.has('LEVEL_CORRUPTION') || /Corruption:|does not exist \(create_if_missing is false\)/.test(text)) {
    return new CoreError(CoreErrorCode.CORE_STORE_DAMAGED, `the store index ${location} is damaged (${text}); nothing was changed; ${repairHint(store)}`, { cause: err })
  }
  return new CoreError(CoreErrorCode.CORE_STORE_UNAVAILABLE, `cannot use the store index ${location}: ${text}`, { cause: err })
}

/**
 * A LevelDB error (one with a `LEVEL_*` code, on it or on a cause) as the
 * store error `indexError` gives it; any other error unchanged. For callers
 * that read a store through several modules and report errors by code.
 */
export function storeFailure (err: unknown, storeDir: string): unknown {
  if (err instanceof CoreError) return err
  const level = causeChain(err).find(e => /^LEVEL_/.test(String((e as { code?: unknown }).code)))
  return level === undefined ? err : indexError(err, join(storeDir, 'index'), storeDir)
}

/** `err`, its cause, the cause's cause... (at most 8: causes could loop). */
function causeChain (err: unknown): unknown[] {
  const out: unknown[] = []
  for (let e = err; e !== undefined && e !== null && out.length < 8; e = (e as { cause?: unknown }).cause) out.push(e)
  return out
}

export function encodeRecord (value: unknown): Uint8Array {
  return encodeValue(value)
}

export function decodeRecord<T> (bytes: Uint8Array): T {
  return decodeValue(bytes) as T
}

/**
 * Asks LevelDB to compact the whole key range, so that deleted entries give
 * their disk space back (used after pruning). On Node `level` is
 * classic-level, which has compactRange; its universal type does not say so.
 */
export async function compactAll (db: IndexDb): Promise<void> {
  const compact = (db as unknown as { compactRange?: (a: string, b: string) => Promise<void> }).compactRange
  if (typeof compact === 'function') await compact.call(db, '', '~')
}
