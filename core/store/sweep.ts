import { readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { IndexDb } from './db.ts'
import {
  GARBAGE_PACK_RANGE, GARBAGE_POINT_RANGE, PACK_RANGE, PENDING_PACK_RANGE, PENDING_POINT_RANGE, STAGE_PACK_RANGE,
  pendingPackKey, pointIdOfKey
} from './keys.ts'
import { PACK_ID_HEX_LENGTH } from './location.ts'
import { newPackId, PackWriter } from './pack.ts'
import { pointFilePath } from './point-file.ts'

/**
 * The orphan sweep. It deletes only what a committed, readable index names
 * as deletable: packs under `pending/` (staged by a cycle or a repack that
 * never committed, and not held by a resumable cycle's stage) and under
 * `garbage/` (retired by pruning), and point files under `pending-point/` and
 * `garbage-point/`. A pack file the index does not name at all is a stray:
 * it is kept and reported, never deleted; an index that was lost or rebuilt
 * empty therefore cannot make the sweep destroy data.
 */
export interface SweepReport {
  /** Pack ids whose files were deleted (or were already gone). */
  deletedPacks: string[]
  /** File names in packs/ that the index does not name (kept). */
  strays: string[]
}

export interface SweepTarget {
  db: IndexDb
  packsDir: string
  pointsDir: string
}

/**
 * Runs the sweep. Idempotent; a crash during it is finished by the next one.
 * `dryRun` (a read-only store) deletes and writes nothing: it only finds the
 * strays, and `deletedPacks` lists what a writable open would delete.
 */
export async function sweep (store: SweepTarget, options: { dryRun?: boolean } = {}): Promise<SweepReport> {
  const dryRun = options.dryRun === true
  const committed = new Set<string>()
  for await (const key of store.db.keys(PACK_RANGE)) committed.add(key.slice('pack/'.length))
  const staged = new Set<string>()
  for await (const key of store.db.keys(STAGE_PACK_RANGE)) {
    if (key.includes('/pack/')) staged.add(key.slice(key.lastIndexOf('/') + 1))
  }
  const report: SweepReport = { deletedPacks: [], strays: [] }
  const named = new Set([...committed, ...staged])
  const clear = store.db.batch()
  for (const range of [PENDING_PACK_RANGE, GARBAGE_PACK_RANGE]) {
    for await (const key of store.db.keys(range)) {
      const id = key.slice(key.indexOf('/') + 1)
      named.add(id)
      // A staged pack is still wanted by its cycle's resume; its key stays.
      if (staged.has(id)) continue
      // Committed and pending at once cannot happen (the commit batch clears
      // `pending/`); if it ever did, the committed record wins.
      if (!committed.has(id)) {
        if (!dryRun) await unlink(join(store.packsDir, `${id}.pack`)).catch(ignoreMissing)
        report.deletedPacks.push(id)
      }
      clear.del(key)
    }
  }
  for (const range of [PENDING_POINT_RANGE, GARBAGE_POINT_RANGE]) {
    for await (const key of store.db.keys(range)) {
      if (!dryRun) await unlink(pointFilePath(store.pointsDir, pointIdOfKey(key))).catch(ignoreMissing)
      clear.del(key)
    }
  }
  if (clear.length > 0 && !dryRun) await clear.write({ sync: true })
  else await clear.close()
  const files = await readdir(store.packsDir).catch(() => [] as string[])
  for (const name of files) {
    const id = name.endsWith('.pack') ? name.slice(0, -'.pack'.length) : ''
    if (id.length !== PACK_ID_HEX_LENGTH || !named.has(id)) report.strays.push(name)
  }
  return report
}

function ignoreMissing (err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err
}

/**
 * Creates a new pack file, after recording it as pending in the index (one
 * synced put), so that a crash before its commit leaves a pack the sweep may
 * prove deletable. The batch that commits the pack must clear the key
 * (`pendingPackKey`).
 */
export async function createPendingPack (store: SweepTarget & { blockSize: number }): Promise<PackWriter> {
  const id = newPackId()
  await store.db.put(pendingPackKey(id), new Uint8Array(0), { sync: true })
  return await PackWriter.create(store.packsDir, id, store.blockSize)
}
