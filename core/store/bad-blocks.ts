import { HASH_LENGTH } from '../constants.ts'
import { toHex } from '../hash.ts'
import { blockCount, isZeroBlock } from '../manifest.ts'
import type { Manifest } from '../types.ts'
import { decodeRecord, encodeRecord } from './db.ts'
import { BAD_RANGE, badBlockKey, hashOfBadKey } from './keys.ts'
import type { RecoveryPointStore } from './store.ts'

/**
 * The store's record of damaged blocks (docs/store-format.md, "Healing"):
 * `bad/<hash>` for each stored block that verify found corrupt or missing.
 * A cycle whose source still has that content stores the block again and
 * its commit removes the record; pruning removes records of blocks no point
 * references. The record is advice for healing, never a reason to trust or
 * distrust data: every read still re-hashes.
 */
export interface BadBlock {
  hash: string
  /** What verify found: CORE_BLOCK_CORRUPT, CORE_BLOCK_MISSING, ... */
  code: string
  /** When it was first recorded, ms since the epoch. */
  time: number
}

/** Records damaged blocks (hex hashes with verify's code). Idempotent: a block recorded before keeps its first record. */
export async function recordBadBlocks (store: RecoveryPointStore, blocks: Array<{ hash: string, code: string }>): Promise<void> {
  if (blocks.length === 0) return
  const unique = [...new Map(blocks.map(b => [b.hash, b])).values()]
  const known = await store.db.getMany(unique.map(b => badBlockKey(b.hash)))
  const batch = store.db.batch()
  const time = Date.now()
  unique.forEach((b, i) => {
    if (known[i] === undefined) batch.put(badBlockKey(b.hash), encodeRecord({ code: b.code, time }))
  })
  if (batch.length === 0) { await batch.close(); return }
  await batch.write({ sync: true })
}

/** Every recorded damaged block, in hash order. */
export async function listBadBlocks (store: RecoveryPointStore): Promise<BadBlock[]> {
  const out: BadBlock[] = []
  for await (const [key, value] of store.db.iterator(BAD_RANGE)) {
    const r = decodeRecord<{ code: string, time: number }>(value)
    out.push({ hash: hashOfBadKey(key), code: r.code, time: r.time })
  }
  return out
}

/** The hex hashes of the recorded damaged blocks. */
export async function badBlockSet (store: RecoveryPointStore): Promise<Set<string>> {
  const out = new Set<string>()
  for await (const key of store.db.keys(BAD_RANGE)) out.add(hashOfBadKey(key))
  return out
}

/** Indices (ascending) of the blocks of `manifest` whose hash is in `bad`: what a cycle must read again to heal. */
export function damagedIndices (manifest: Manifest, bad: Set<string>): number[] {
  const out: number[] = []
  if (bad.size === 0) return out
  const n = blockCount(manifest.size, manifest.blockSize)
  for (let i = 0; i < n; i++) {
    if (isZeroBlock(manifest, i)) continue
    if (bad.has(toHex(manifest.hashes.subarray(i * HASH_LENGTH, (i + 1) * HASH_LENGTH)))) out.push(i)
  }
  return out
}

/**
 * Deletes the `bad/` records of blocks that no committed point references
 * any more (after pruning removed the points that had them). Reads every
 * remaining manifest, but only when some record exists. Returns how many
 * records were deleted.
 */
export async function forgetUnreferencedBadBlocks (store: RecoveryPointStore): Promise<number> {
  const bad = await badBlockSet(store)
  if (bad.size === 0) return 0
  const unreferenced = new Set(bad)
  for (const p of await store.listPoints()) {
    for (const d of p.disks) {
      if (unreferenced.size === 0) break
      const m = await store.manifest(p.id, d.name)
      for (const i of damagedIndices(m, unreferenced)) unreferenced.delete(toHex(m.hashes.subarray(i * HASH_LENGTH, (i + 1) * HASH_LENGTH)))
    }
  }
  if (unreferenced.size === 0) return 0
  const batch = store.db.batch()
  for (const hex of unreferenced) batch.del(badBlockKey(hex))
  await batch.write({ sync: true })
  return unreferenced.size
}
