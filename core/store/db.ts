import { Level } from 'level'
import { pack as encodeValue, unpack as decodeValue } from 'msgpackr'
import { CoreError, CoreErrorCode } from '../errors.ts'

/** The store's LevelDB index: string keys, binary values. */
export type IndexDb = Level<string, Uint8Array>

export async function openIndexDb (location: string): Promise<IndexDb> {
  const db = new Level<string, Uint8Array>(location, { keyEncoding: 'utf8', valueEncoding: 'view' })
  try {
    await db.open()
  } catch (err) {
    const locked = /lock/i.test(String((err as { cause?: Error }).cause?.message ?? (err as Error).message))
    throw new CoreError(CoreErrorCode.CORE_STORE_UNAVAILABLE,
      locked ? `store index ${location} is in use by another process` : `cannot open store index ${location}: ${(err as Error).message}`,
      { cause: err })
  }
  return db
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
