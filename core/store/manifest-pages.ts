import { blake3 } from '@napi-rs/blake-hash'
import { HASH_LENGTH, MANIFEST_PAGE_HASHES } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { equalHashes, toHex } from '../hash.ts'
import { checkManifest } from '../manifest.ts'
import type { Manifest, PointDisk } from '../types.ts'
import type { IndexDb } from './db.ts'
import { manifestKey, pageKey } from './keys.ts'

/**
 * Manifests in the index: a point's disk has a page list (the BLAKE3 of each
 * page of up to MANIFEST_PAGE_HASHES block hashes) and the pages live under
 * their own hash, shared by every point whose region is unchanged.
 */

function pagesOf (m: Manifest): Uint8Array[] {
  const pageBytes = MANIFEST_PAGE_HASHES * HASH_LENGTH
  const out: Uint8Array[] = []
  for (let at = 0; at < m.hashes.byteLength; at += pageBytes) out.push(m.hashes.subarray(at, Math.min(at + pageBytes, m.hashes.byteLength)))
  return out
}

/** A manifest page and its BLAKE3 hash. */
export interface ManifestPage {
  hash: Uint8Array
  page: Uint8Array
}

/**
 * Adds to `batch` what the index needs to hold a manifest: its page list,
 * and the pages it does not hold yet (looked up, not rewritten: unchanged
 * regions cost nothing). Returns the page list and the pages added, which
 * the caller also writes into a pack (the packs describe every point).
 */
export async function putManifest (db: IndexDb, batch: ReturnType<IndexDb['batch']>, pointId: number, disk: string, m: Manifest): Promise<{ list: Uint8Array, added: ManifestPage[] }> {
  const pages = pagesOf(m)
  const hashes = pages.map(p => new Uint8Array(blake3(p)))
  const keys = hashes.map(h => pageKey(toHex(h)))
  const present = keys.length === 0 ? [] : await db.getMany(keys)
  const written = new Set<string>()
  const added: ManifestPage[] = []
  pages.forEach((page, i) => {
    if (present[i] !== undefined || written.has(keys[i]!)) return
    written.add(keys[i]!)
    batch.put(keys[i]!, page)
    added.push({ hash: hashes[i]!, page })
  })
  const list = new Uint8Array(Buffer.concat(hashes))
  batch.put(manifestKey(pointId, disk), list)
  return { list, added }
}

/** The page list of a point's disk (the hashes of its pages, back to back). */
export async function pageList (db: IndexDb, pointId: number, disk: string): Promise<Uint8Array | undefined> {
  return await db.get(manifestKey(pointId, disk))
}

/**
 * Reads a manifest back, checking every page against its hash: a damaged
 * index fails with CORE_MANIFEST_INVALID instead of restoring wrong data.
 */
export async function getManifest (db: IndexDb, pointId: number, d: PointDisk): Promise<Manifest> {
  const list = await pageList(db, pointId, d.name)
  const invalid = (why: string): CoreError => new CoreError(CoreErrorCode.CORE_MANIFEST_INVALID, `stored manifest of point ${pointId} disk ${d.name} is damaged: ${why}`)
  if (list === undefined || list.byteLength % HASH_LENGTH !== 0) throw invalid('no page list')
  const count = list.byteLength / HASH_LENGTH
  const keys = Array.from({ length: count }, (_, i) => pageKey(toHex(list.subarray(i * HASH_LENGTH, (i + 1) * HASH_LENGTH))))
  const pages = count === 0 ? [] : await db.getMany(keys)
  pages.forEach((page, i) => {
    if (page === undefined) throw invalid(`page ${i} is missing`)
    if (!equalHashes(new Uint8Array(blake3(page)), 0, list, i * HASH_LENGTH)) throw invalid(`page ${i} does not match its hash`)
  })
  const m: Manifest = { size: d.size, blockSize: d.blockSize, hashes: new Uint8Array(Buffer.concat(pages as Uint8Array[])) }
  try {
    checkManifest(m)
  } catch (err) {
    throw new CoreError(CoreErrorCode.CORE_MANIFEST_INVALID, `stored manifest of point ${pointId} disk ${d.name} is damaged`, { cause: err })
  }
  return m
}
