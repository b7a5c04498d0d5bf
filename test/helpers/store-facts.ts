/** Facts about a store's index, for tests that check nothing leaks and nothing is missing. */
import { toHex } from '../../core/hash.ts'
import { blockCount, hashAt, isZeroBlock } from '../../core/manifest.ts'
import { PAGE_RANGE, pageKey } from '../../core/store/keys.ts'
import { pageList } from '../../core/store/manifest-pages.ts'
import { packPath } from '../../core/store/pack.ts'
import type { RecoveryPointStore } from '../../core/store/store.ts'
import { flipByte } from './fixtures.ts'

/** Keys of every manifest page the index holds. */
export async function storedPages (store: RecoveryPointStore): Promise<Set<string>> {
  const out = new Set<string>()
  for await (const key of store.db.keys(PAGE_RANGE)) out.add(key)
  return out
}

/** Keys of the manifest pages the points list. */
export async function listedPages (store: RecoveryPointStore): Promise<Set<string>> {
  const out = new Set<string>()
  for (const p of await store.listPoints()) {
    for (const d of p.disks) {
      const list = (await pageList(store.db, p.id, d.name))!
      for (let at = 0; at < list.byteLength; at += 32) out.add(pageKey(toHex(list.subarray(at, at + 32))))
    }
  }
  return out
}

/** Distinct non-zero blocks the store's points reference. */
export async function referencedBlockCount (store: RecoveryPointStore): Promise<number> {
  const refs = new Set<string>()
  for (const p of await store.listPoints()) {
    for (const d of p.disks) {
      const m = await store.manifest(p.id, d.name)
      for (let i = 0; i < blockCount(m.size, m.blockSize); i++) if (!isZeroBlock(m, i)) refs.add(toHex(hashAt(m, i)))
    }
  }
  return refs.size
}

/**
 * Flips a byte inside the stored data of block `index` of a point's disk
 * (`offset` bytes into the record's data); returns the block's hash (hex).
 */
export async function damageStoredBlock (store: RecoveryPointStore, pointId: number, index: number, offset = 100, disk = 'disk0'): Promise<string> {
  const hash = hashAt(await store.manifest(pointId, disk), index)
  const loc = await store.locate(hash)
  if (loc === undefined) throw new Error(`block ${index} of point ${pointId} is not stored`)
  await flipByte(packPath(store.packsDir, loc.pack), loc.offset + offset)
  return toHex(hash)
}
