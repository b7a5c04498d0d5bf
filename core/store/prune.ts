import { unlink } from 'node:fs/promises'
import { HASH_LENGTH } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { toHex } from '../hash.ts'
import { blockCount, isZeroBlock } from '../manifest.ts'
import type { Manifest } from '../types.ts'
import { compactAll, encodeRecord } from './db.ts'
import {
  BLOCK_RANGE, HEALED_PACK_RANGE, PAGE_RANGE, blockKey, garbagePackKey, garbagePointKey, hashOfBlockKey, hashOfPageKey, packKey, pageKey,
  pendingPackKey, pointKey, pointManifestsRange
} from './keys.ts'
import { forgetUnreferencedBadBlocks } from './bad-blocks.ts'
import { pageList } from './manifest-pages.ts'
import { decodeLocation, encodeLocation, type BlockLocation } from './location.ts'
import { packPath, packRecord, readPackEntries, RecordType, type PackEntry, type PackRecord, type PackRecordInfo } from './pack.ts'
import { pointFilePath } from './point-file.ts'
import { selectRetained, type RetentionPolicy } from './retention.ts'
import { fsyncDir } from './staged-cycle.ts'
import type { RecoveryPointStore } from './store.ts'
import { createPendingPack } from './sweep.ts'

const SWEEP_NEEDED_KEY = 'meta/sweep-needed'

/** A pack is rewritten when less than this fraction of its data is still needed. */
const REPACK_LIVE_FRACTION = 0.5

export interface PruneReport {
  removedPoints: number[]
  removedBlocks: number
  deletedPacks: number
  repackedPacks: number
  /** Bytes given back on disk: packs deleted whole, and what repacking saved (LevelDB's own files not counted). */
  freedBytes: number
  /**
   * Stored bytes no point references any more but still on disk, inside
   * packs that also hold live blocks: given back when a later prune finds
   * such a pack less than half live and rewrites it. The whole store's,
   * not only this prune's.
   */
  unreferencedBytes: number
}

export interface PruneOptions {
  /** Test hook: called after the removal batch, before the sweep. */
  onPhase?: (phase: 'points-removed') => Promise<void> | void
  /** Point ids kept whatever the policy says (a point in use, such as one a test failover runs from). */
  pinned?: Iterable<number>
}

/**
 * Applies a retention policy; points in `options.pinned` are kept too. Points outside it are removed in one atomic
 * batch; then the data no remaining point references is swept: whole packs
 * deleted, mostly-dead packs rewritten with their live blocks. Only this
 * function deletes data. Crash-safe at every step: a sweep interrupted is
 * redone in full by the next prune (the need is recorded in the same batch
 * as the point removal), and packs or point files named garbage by a batch
 * whose file deletion a crash cut off are deleted by the next open's sweep.
 */
export async function prune (store: RecoveryPointStore, policy: RetentionPolicy, options: PruneOptions = {}): Promise<PruneReport> {
  const points = await store.listPoints()
  return await pruneExcept(store, selectRetained(points, policy), options)
}

/**
 * Keeps exactly the points `keep` (and `options.pinned`), removing every
 * other one, the latest included, as prune() does (one atomic batch, then
 * the sweep; crash-safe the same way). For a failover that is completed: its
 * point is the only one the relationship keeps (docs/failover.md "Complete
 * and cancel"). Ids in `keep` that the store does not hold are ignored.
 */
export async function pruneExcept (store: RecoveryPointStore, keepIds: Iterable<number>, options: PruneOptions = {}): Promise<PruneReport> {
  const points = await store.listPoints()
  const keep = new Set([...keepIds, ...(options.pinned ?? [])])
  const removed = points.filter(p => !keep.has(p.id))
  const report: PruneReport = { removedPoints: removed.map(p => p.id), removedBlocks: 0, deletedPacks: 0, repackedPacks: 0, freedBytes: 0, unreferencedBytes: 0 }
  const pendingBefore = await store.db.get(SWEEP_NEEDED_KEY) !== undefined
  if (removed.length === 0 && !pendingBefore) {
    report.unreferencedBytes = await unreferencedBytes(store)
    return report
  }

  // The removed points' manifests are read before they are deleted: their
  // blocks are the only candidates for deletion.
  const removedManifests: Manifest[] = []
  const removedPageLists: Uint8Array[] = []
  for (const p of removed) {
    for (const d of p.disks) {
      removedManifests.push(await store.manifest(p.id, d.name))
      removedPageLists.push((await pageList(store.db, p.id, d.name))!)
    }
  }
  if (removed.length > 0) {
    const batch = store.db.batch()
    for (const p of removed) {
      batch.del(pointKey(p.id))
      batch.put(garbagePointKey(p.id), new Uint8Array(0))
      for await (const key of store.db.keys(pointManifestsRange(p.id))) batch.del(key)
    }
    batch.put(SWEEP_NEEDED_KEY, encodeRecord(true))
    await batch.write({ sync: true })
    await options.onPhase?.('points-removed')
    await dropPointFiles(store, removed.map(p => p.id))
  }

  const dead = pendingBefore ? await deadBlocksFull(store) : await deadBlocksAmong(store, removedManifests)
  // Pages first: whether a pack still holds a listed page decides below
  // whether it may be deleted.
  await dropPages(store, pendingBefore ? undefined : removedPageLists)
  await dropBlocks(store, dead, report)
  await forgetUnreferencedBadBlocks(store)
  await store.db.del(SWEEP_NEEDED_KEY, { sync: true })
  await compactAll(store.db)
  report.unreferencedBytes = await unreferencedBytes(store)
  return report
}

/** Dead bytes still inside packs (their data bytes minus their live ones), summed over every pack. */
async function unreferencedBytes (store: RecoveryPointStore): Promise<number> {
  let n = 0
  for (const rec of (await store.packs()).values()) n += Math.max(0, rec.dataBytes - rec.liveBytes)
  return n
}

/**
 * Candidate filter keyed by the first 48 bits of a hash. A prefix shared by
 * a live and a dead hash keeps the dead one (a small leak, collected by a
 * later full sweep); it can never delete a live block.
 */
function prefixOf (hashes: Uint8Array, at: number): number {
  let n = 0
  for (let i = 0; i < 6; i++) n = n * 256 + hashes[at + i]!
  return n
}

/** Blocks referenced by the removed manifests and by no remaining point. */
async function deadBlocksAmong (store: RecoveryPointStore, removed: Manifest[]): Promise<Map<string, BlockLocation>> {
  const candidates = new Map<number, string[]>()
  for (const m of removed) {
    forEachStoredHash(m, at => {
      const key = prefixOf(m.hashes, at)
      const hex = toHex(m.hashes.subarray(at, at + HASH_LENGTH))
      const list = candidates.get(key)
      if (list === undefined) candidates.set(key, [hex])
      else if (!list.includes(hex)) list.push(hex)
    })
  }
  for (const p of await store.listPoints()) {
    for (const d of p.disks) {
      if (candidates.size === 0) break
      const m = await store.manifest(p.id, d.name)
      for (let at = 0; at < m.hashes.byteLength; at += HASH_LENGTH) candidates.delete(prefixOf(m.hashes, at))
    }
  }
  const hexes = [...candidates.values()].flat()
  const out = new Map<string, BlockLocation>()
  const values = hexes.length === 0 ? [] : await store.db.getMany(hexes.map(blockKey))
  hexes.forEach((hex, i) => { const v = values[i]; if (v !== undefined) out.set(hex, decodeLocation(v)) })
  return out
}

/** Every stored block no point references (after a crash left a sweep pending). */
async function deadBlocksFull (store: RecoveryPointStore): Promise<Map<string, BlockLocation>> {
  const refs = new Set<string>()
  for (const p of await store.listPoints()) {
    for (const d of p.disks) {
      const m = await store.manifest(p.id, d.name)
      forEachStoredHash(m, at => { refs.add(toHex(m.hashes.subarray(at, at + HASH_LENGTH))) })
    }
  }
  // One pass: the dead blocks, and every pack's indexed blocks (live or dead),
  // which reset the packs' counts a crash may have left stale; dropBlocks
  // then takes the dead ones off.
  const out = new Map<string, BlockLocation>()
  const indexed = new Map<string, { blocks: number, bytes: number }>()
  for await (const [key, value] of store.db.iterator(BLOCK_RANGE)) {
    const hex = hashOfBlockKey(key)
    const loc = decodeLocation(value)
    if (!refs.has(hex)) out.set(hex, loc)
    const c = indexed.get(loc.pack) ?? { blocks: 0, bytes: 0 }
    c.blocks++
    c.bytes += loc.storedLength
    indexed.set(loc.pack, c)
  }
  const batch = store.db.batch()
  for (const [id, rec] of await store.packs()) {
    const c = indexed.get(id) ?? { blocks: 0, bytes: 0 }
    batch.put(packKey(id), encodeRecord({ ...rec, liveBlocks: c.blocks, liveBytes: c.bytes } satisfies PackRecord))
  }
  await batch.write({ sync: true })
  return out
}

function forEachStoredHash (m: Manifest, fn: (at: number) => void): void {
  const n = blockCount(m.size, m.blockSize)
  for (let i = 0; i < n; i++) if (!isZeroBlock(m, i)) fn(i * HASH_LENGTH)
}

/**
 * Deletes manifest pages no remaining point lists: among the removed points'
 * pages, or (after a crash, `removed` undefined) among all pages.
 */
async function dropPages (store: RecoveryPointStore, removed: Uint8Array[] | undefined): Promise<void> {
  const live = new Set<string>()
  for (const p of await store.listPoints()) {
    for (const d of p.disks) {
      const list = await pageList(store.db, p.id, d.name)
      for (let at = 0; list !== undefined && at < list.byteLength; at += HASH_LENGTH) live.add(toHex(list.subarray(at, at + HASH_LENGTH)))
    }
  }
  const candidates = new Set<string>()
  if (removed === undefined) {
    for await (const key of store.db.keys(PAGE_RANGE)) candidates.add(hashOfPageKey(key))
  } else {
    for (const list of removed) for (let at = 0; at < list.byteLength; at += HASH_LENGTH) candidates.add(toHex(list.subarray(at, at + HASH_LENGTH)))
  }
  const batch = store.db.batch()
  for (const hex of candidates) if (!live.has(hex)) batch.del(pageKey(hex))
  if (batch.length > 0) await batch.write({ sync: true })
  else await batch.close()
}

/** Deletes the point files of removed points (named `garbage-point/` by the removal batch; the sweep finishes a crash). */
async function dropPointFiles (store: RecoveryPointStore, ids: number[]): Promise<void> {
  const batch = store.db.batch()
  for (const id of ids) {
    await unlink(pointFilePath(store.pointsDir, id)).catch(() => {})
    batch.del(garbagePointKey(id))
  }
  await batch.write({ sync: true })
}

/** Manifest-page records of a pack whose page the index still holds (some point lists it). */
async function livePagesIn (store: RecoveryPointStore, id: string, rec: PackRecord): Promise<number> {
  if ((rec.pages ?? 0) === 0) return 0
  let n = 0
  try {
    // Only the listed pages' records are read whole (blocks are skipped by their headers).
    const listed = async (r: PackRecordInfo): Promise<boolean> => r.type === RecordType.MANIFEST_PAGE && await store.db.get(pageKey(toHex(r.hash))) !== undefined
    for await (const _ of readPackEntries(packPath(store.packsDir, id), listed)) n++
  } catch {
    // Unreadable (deleted, cut short, damaged): it cannot be shown to hold no
    // listed page, so it counts as holding one and is kept (never deleted on a guess).
    return Math.max(n, 1)
  }
  return n
}

/**
 * Deletes dead blocks' index entries, then empty packs (named `garbage/` in
 * the same batch, so a crash leaves them to the sweep); rewrites packs mostly
 * dead, or empty of blocks but still holding a listed manifest page.
 */
async function dropBlocks (store: RecoveryPointStore, dead: Map<string, BlockLocation>, report: PruneReport): Promise<void> {
  const packs = await store.packs()
  const touched = new Set<string>()
  const batch = store.db.batch()
  for (const [hex, loc] of dead) {
    batch.del(blockKey(hex))
    const rec = packs.get(loc.pack)
    if (rec !== undefined) { rec.liveBlocks--; rec.liveBytes -= loc.storedLength; touched.add(loc.pack) }
    report.removedBlocks++
  }
  // Packs with records that healing replaced (staged-cycle.ts): deleted when nothing in them is live, rewritten when mostly dead.
  for await (const key of store.db.keys(HEALED_PACK_RANGE)) {
    const id = key.slice('healed/'.length)
    if (packs.has(id)) touched.add(id)
    batch.del(key)
  }
  const emptied: string[] = []
  const keptForPages = new Set<string>()
  for (const id of touched) {
    const rec = packs.get(id)!
    if (rec.liveBlocks <= 0 && await livePagesIn(store, id, rec) === 0) {
      batch.del(packKey(id))
      batch.put(garbagePackKey(id), new Uint8Array(0))
      emptied.push(id)
      report.freedBytes += rec.bytes
    } else {
      if (rec.liveBlocks <= 0) keptForPages.add(id)
      batch.put(packKey(id), encodeRecord(rec))
    }
  }
  await batch.write({ sync: true })
  for (const id of emptied) await deletePack(store, id)
  report.deletedPacks = emptied.length
  for (const id of touched) {
    const rec = packs.get(id)!
    if (emptied.includes(id)) continue
    if (!keptForPages.has(id) && rec.liveBytes >= rec.dataBytes * REPACK_LIVE_FRACTION) continue
    const size = await repack(store, id)
    if (size === undefined) continue
    report.freedBytes += rec.bytes - size
    report.repackedPacks++
  }
}

/**
 * Copies a pack's live records (the blocks the index still points at, the
 * manifest pages it still holds) into a new pack, fsyncs it, switches the
 * index in one batch (the new pack committed, the old one named garbage),
 * then deletes the old pack. Returns the new pack's size, or undefined when
 * the old pack cannot be read whole (deleted, cut short, a damaged header):
 * it is left as it is, since repacking only saves space, and a damaged pack
 * must not stop pruning (verify reports its blocks). Throws CORE_WRITE_FAILED
 * when the new pack cannot be written.
 */
async function repack (store: RecoveryPointStore, oldId: string): Promise<number | undefined> {
  const live: PackEntry[] = []
  // Only the live records are read whole and kept (at most about half the pack: REPACK_LIVE_FRACTION).
  const isLive = async (r: PackRecordInfo): Promise<boolean> => {
    const hex = toHex(r.hash)
    if (r.type === RecordType.MANIFEST_PAGE) return await store.db.get(pageKey(hex)) !== undefined
    const v = await store.db.get(blockKey(hex))
    if (v === undefined) return false
    const loc = decodeLocation(v)
    return loc.pack === oldId && loc.offset === r.offset
  }
  try {
    for await (const e of readPackEntries(packPath(store.packsDir, oldId), isLive)) live.push(e)
  } catch {
    return undefined
  }
  const writer = await createPendingPack(store)
  const batch = store.db.batch()
  try {
    for (const e of live) {
      if (e.type === RecordType.MANIFEST_PAGE) await writer.appendPage(e.hash, e.data)
      else batch.put(blockKey(toHex(e.hash)), encodeLocation(await writer.append(e.hash, e.codec, e.rawLength, e.data)))
    }
    await writer.seal()
    await fsyncDir(store.packsDir)
  } catch (err) {
    await batch.close()
    await writer.discard()
    await unlink(writer.path).catch(() => {})
    throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `repack of ${oldId} failed: ${(err as Error).message}`, { cause: err })
  }
  batch.put(packKey(writer.id), encodeRecord(packRecord(writer)))
  batch.del(pendingPackKey(writer.id))
  batch.del(packKey(oldId))
  batch.put(garbagePackKey(oldId), new Uint8Array(0))
  await batch.write({ sync: true })
  await deletePack(store, oldId)
  return writer.size
}

/** Deletes a pack file the index already names as garbage, then clears that key. */
async function deletePack (store: RecoveryPointStore, id: string): Promise<void> {
  store.forgetPack(id)
  await unlink(packPath(store.packsDir, id)).catch(() => {})
  await store.db.del(garbagePackKey(id), { sync: true })
}
