import { blake3 } from '@napi-rs/blake-hash'
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HASH_LENGTH } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import type { RecoveryPoint } from '../types.ts'
import { decodeRecord, encodeRecord } from './db.ts'

/**
 * A committed point described outside the index, so that `repair` can
 * rebuild the index from the packs and these files alone (restic's snapshot
 * files play this part). Layout (docs/store-format.md, "Point files"):
 *
 *   "TNDPOINT" (8) | body length u32 LE | body (msgpack) | BLAKE3-256 of everything before (32)
 *
 * body: the point record (as in `point/<id>`) plus `pages`: for each disk, by
 * name, its page list (the BLAKE3 of each manifest page, back to back). The
 * pages themselves are manifest-page records in the packs.
 */
export const POINT_FILE_MAGIC = Buffer.from('TNDPOINT', 'latin1')
/** A point file larger than this is not read (a 64 TiB disk at 4 KiB blocks lists ~16 MiB of page hashes). */
export const MAX_POINT_FILE_BYTES = 64 * 1024 * 1024

export interface PointFile {
  point: RecoveryPoint
  /** Page list of each disk of the point. */
  pages: Record<string, Uint8Array>
}

export const pointFileName = (id: number): string => `${String(id).padStart(12, '0')}.point`
export const pointFilePath = (pointsDir: string, id: number): string => join(pointsDir, pointFileName(id))
export const POINT_FILE_NAME = /^(\d{12})\.point$/

export function encodePointFile (f: PointFile): Buffer {
  const body = encodeRecord({ ...f.point, pages: f.pages })
  const head = Buffer.alloc(12)
  POINT_FILE_MAGIC.copy(head, 0)
  head.writeUInt32LE(body.byteLength, 8)
  const signed = Buffer.concat([head, body])
  return Buffer.concat([signed, blake3(signed)])
}

/** Decodes a point file; throws CORE_POINT_FILE_CORRUPT when any byte of it is wrong. */
export function decodePointFile (bytes: Uint8Array, where: string): PointFile {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const corrupt = (why: string): CoreError => new CoreError(CoreErrorCode.CORE_POINT_FILE_CORRUPT, `point file ${where} ${why}`)
  if (b.byteLength < 12 + HASH_LENGTH || !b.subarray(0, 8).equals(POINT_FILE_MAGIC)) throw corrupt('is not a point file')
  const bodyLength = b.readUInt32LE(8)
  if (12 + bodyLength + HASH_LENGTH !== b.byteLength) throw corrupt('has a wrong length')
  const signed = b.subarray(0, 12 + bodyLength)
  if (!b.subarray(12 + bodyLength).equals(blake3(signed))) throw corrupt('fails its checksum')
  let body: RecoveryPoint & { pages: Record<string, Uint8Array> }
  try {
    body = decodeRecord(signed.subarray(12))
  } catch (err) {
    throw new CoreError(CoreErrorCode.CORE_POINT_FILE_CORRUPT, `point file ${where} does not decode`, { cause: err })
  }
  const { pages, ...point } = body
  if (typeof pages !== 'object' || pages === null || !Array.isArray(point.disks)) throw corrupt('lacks its disks or pages')
  for (const d of point.disks) {
    const list = pages[d.name]
    if (!(list instanceof Uint8Array) || list.byteLength % HASH_LENGTH !== 0) throw corrupt(`has no page list for disk ${String(d.name)}`)
    pages[d.name] = new Uint8Array(list)
  }
  return { point, pages }
}

/**
 * Writes `points/<id>.point` and fsyncs it (the caller fsyncs the directory
 * before its commit batch). Exclusive create: a file already there belongs
 * to a point the index does not know (the caller recorded `pending-point/<id>`
 * first, and the sweep on open deletes pending files a crash left), so it is
 * never overwritten: CORE_STORE_DAMAGED (the index lost its points).
 */
export async function writePointFile (pointsDir: string, f: PointFile): Promise<void> {
  const path = pointFilePath(pointsDir, f.point.id)
  let handle
  try {
    handle = await open(path, 'wx', 0o600)
    await handle.writeFile(encodePointFile(f))
    await handle.datasync()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      // A committed point of a lost index: never overwritten.
      throw new CoreError(CoreErrorCode.CORE_STORE_DAMAGED, `point file ${path} exists but the index has no point ${f.point.id}: the index was lost or replaced; run \`tandem store repair\``, { cause: err })
    }
    throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `cannot write point file ${path}: ${(err as Error).message}`, { cause: err })
  } finally {
    await handle?.close()
  }
}

export async function readPointFile (path: string): Promise<PointFile> {
  const bytes = await readFile(path)
  if (bytes.byteLength > MAX_POINT_FILE_BYTES) throw new CoreError(CoreErrorCode.CORE_POINT_FILE_CORRUPT, `point file ${path} is larger than ${MAX_POINT_FILE_BYTES} bytes`)
  return decodePointFile(bytes, path)
}
