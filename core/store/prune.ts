import { unlink } from 'node:fs/promises'
import { HASH_LENGTH } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { toHex } from '../hash.ts'
import { blockCount, isZeroBlock } from '../manifest.ts'
import { compactAll, decodeRecord, encodeRecord } from './db.ts'
import { BLOCK_RANGE, blockKey, hashOfBlockKey, packKey, pointKey, pointManifestsRange } from './keys.ts'
import { decodeLocation, encodeLocation, type BlockLocation } from './location.ts'
import { PackWriter, packPath } from './pack.ts'
import { selectRetained, type RetentionPolicy } from './retention.ts'
import { fsyncDir } from './staged-cycle.ts'
import type { RecoveryPointStore } from './store.ts'

const SWEEP_NEEDED_KEY = 'meta/sweep-needed'

/** A pack is rewritten when at least this fraction of its bytes is no longer referenced. */
const REPACK_DEAD_FRACTION = 0.5

export interface PruneReport {
  removedPoints: number[]
  removedBlocks: number
  deletedPacks: number
  repackedPacks: number
  freedBytes: number
}

/**
 * Applies a retention policy. Points outside it are removed in one atomic
 * batch; then data no remaining point references is swept: whole packs
 * deleted, mostly-dead packs rewritten with their live blocks. Only this
 * function deletes data. Crash-safe at every step: a sweep interrupted is
 * redone by the next prune (the need is recorded in the same batch as the
 * point removal), and stray pack files are deleted on open.
 */
export async function prune (store: RecoveryPointStore, policy: RetentionPolicy): Promise<PruneReport> {
  const points = await store.listPoints()
  const keep = new Set(selectRetained(points, policy))
  const removed = points.filter(p => !keep.has(p.id)).map(p => p.id)
  if (removed.length > 0) {
    const batch = store.db.batch()
    for (const id of removed) {
      batch.del(pointKey(id))
      for await (const key of store.db.keys(pointManifestsRange(id))) batch.del(key)
    }
    batch.put(SWEEP_NEEDED_KEY, encodeRecord(true))
    await batch.write({ sync: true })
  }
  const report: PruneReport = { removedPoints: removed, removedBlocks: 0, deletedPacks: 0, repackedPacks: 0, freedBytes: 0 }
  if (await store.db.get(SWEEP_NEEDED_KEY) !== undefined) {
    await sweep(store, report)
    await store.db.del(SWEEP_NEEDED_KEY, { sync: true })
    await compactAll(store.db)
  }
  return report
}

async function referencedBlocks (store: RecoveryPointStore): Promise<Set<string>> {
  const refs = new Set<string>()
  for (const p of await store.listPoints()) {
    for (const d of p.disks) {
      const m = await store.manifest(p.id, d.name)
      const n = blockCount(m.size, m.blockSize)
      for (let i = 0; i < n; i++) {
        if (!isZeroBlock(m, i)) refs.add(toHex(m.hashes.subarray(i * HASH_LENGTH, (i + 1) * HASH_LENGTH)))
      }
    }
  }
  return refs
}

async function sweep (store: RecoveryPointStore, report: PruneReport): Promise<void> {
  const refs = await referencedBlocks(store)
  const packs = await store.packs()
  const live = new Map<string, Array<{ hex: string, loc: BlockLocation }>>()
  const liveBytes = new Map<string, number>()
  const batch = store.db.batch()
  for await (const [key, value] of store.db.iterator(BLOCK_RANGE)) {
    const hex = hashOfBlockKey(key)
    const loc = decodeLocation(value)
    if (!refs.has(hex)) {
      batch.del(key)
      report.removedBlocks++
      continue
    }
    const list = live.get(loc.pack) ?? []
    list.push({ hex, loc })
    live.set(loc.pack, list)
    liveBytes.set(loc.pack, (liveBytes.get(loc.pack) ?? 0) + loc.storedLength)
  }
  const dead: string[] = []
  for (const [id, info] of packs) {
    if (!live.has(id)) {
      batch.del(packKey(id))
      dead.push(id)
      report.freedBytes += info.bytes
    }
  }
  await batch.write({ sync: true })
  for (const id of dead) await deletePack(store, id)
  report.deletedPacks = dead.length

  for (const [id, info] of packs) {
    const blocks = live.get(id)
    if (blocks === undefined) continue
    if ((liveBytes.get(id) ?? 0) > info.bytes * (1 - REPACK_DEAD_FRACTION)) continue
    report.freedBytes += info.bytes - await repack(store, id, blocks)
    report.repackedPacks++
  }
}

/** Copies a pack's live blocks into a new pack, switches the index in one batch, deletes the old pack. Returns the new pack's size. */
async function repack (store: RecoveryPointStore, oldId: string, blocks: Array<{ hex: string, loc: BlockLocation }>): Promise<number> {
  const writer = await PackWriter.create(store.packsDir)
  const batch = store.db.batch()
  try {
    for (const { hex, loc } of blocks) {
      const stored = await store.readStored(loc)
      const moved = await writer.append(Buffer.from(hex, 'hex'), loc.codec, loc.rawLength, stored)
      batch.put(blockKey(hex), encodeLocation(moved))
    }
    await writer.seal()
    await fsyncDir(store.packsDir)
  } catch (err) {
    await writer.discard()
    await unlink(writer.path).catch(() => {})
    throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `repack of ${oldId} failed: ${(err as Error).message}`, { cause: err })
  }
  batch.put(packKey(writer.id), encodeRecord({ bytes: writer.size, blocks: writer.blocks }))
  batch.del(packKey(oldId))
  await batch.write({ sync: true })
  await deletePack(store, oldId)
  return writer.size
}

async function deletePack (store: RecoveryPointStore, id: string): Promise<void> {
  await store.forgetPack(id)
  await unlink(packPath(store.packsDir, id)).catch(() => {})
}
