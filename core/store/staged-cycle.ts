import { mkdir, open, stat, unlink } from 'node:fs/promises'
import { MAX_PACK_BYTES } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { equalHashes, toHex } from '../hash.ts'
import { blockCount, checkManifest, diskRoot, isZeroBlock, pointRoot } from '../manifest.ts'
import { HASH_LENGTH } from '../constants.ts'
import type { Codec } from '../compress.ts'
import type { Consistency, Manifest, PointDisk, RecoveryPoint } from '../types.ts'
import { decodeRecord, encodeRecord } from './db.ts'
import {
  badBlockKey, blockKey, healedPackKey, imageKey, NEXT_POINT_KEY, packKey, pendingPackKey, pendingPointKey, pointKey,
  stageBlockKey, stageJournalKey, stageMetaKey, stagePackKey, stageRange, STAGE_ID, STAGE_PACK_RANGE
} from './keys.ts'
import { badBlockSet } from './bad-blocks.ts'
import { putManifest } from './manifest-pages.ts'
import { decodeLocation, encodeLocation, type BlockLocation } from './location.ts'
import { type PackWriter, packPath, packRecord, type PackRecord } from './pack.ts'
import { pointFilePath, writePointFile } from './point-file.ts'
import { createPendingPack } from './sweep.ts'
import { checkDiskName, type RecoveryPointStore } from './store.ts'

/** One block handed to a cycle: its hash and its encoded bytes. */
export interface IncomingBlock {
  hash: Uint8Array
  codec: Codec
  rawLength: number
  data: Uint8Array
}

export interface CommitOptions {
  /** The moment the point stands for (the view's time), ms since the epoch. */
  time: number
  consistency: Consistency
  consistencyNote?: string
  /** The relationship's term (received cycles), recorded in the point. */
  term?: number
}

/** Phases a cycle passes through, for observers (progress, fault-injection tests). */
export type CyclePhase = 'packs-sealed' | 'point-file-written' | 'committed'

interface StagedDisk {
  manifest: Manifest
  base?: { point: number, manifest: Manifest }
}

/**
 * One cycle being staged into a store: blocks go to new pack files (durable
 * before the commit), then `commit()` writes the recovery point, its
 * manifests and the block index in one synchronous LevelDB batch. Until that
 * batch lands nothing of the cycle is visible; each of its packs (and its
 * point file) is recorded as pending before it is created, so after a crash
 * the next open's sweep (sweep.ts) deletes them.
 *
 * Not safe for concurrent use; one cycle per store at a time.
 */
export class StagedCycle {
  private readonly store: RecoveryPointStore
  private readonly staged = new Map<string, BlockLocation>()
  /** Packs sealed by this cycle (or by the run it resumes): id and index record. */
  private readonly sealed: Array<{ id: string, record: PackRecord }> = []
  /** Durable staging (resumable cycles only): what the last checkpoint recorded. */
  private readonly stageId: string | undefined
  /** Packs whose stage record (written by a checkpoint) is final: sealed, or truncated at resume. */
  private readonly finalRecords = new Set<string>()
  /** Packs some checkpoint recorded (also the open one, at its length then): kept by `release`. */
  private readonly recordedPacks = new Set<string>()
  /** A pack file was created since the packs directory was last fsynced. */
  private newPackFile = false
  private journalEntries = 0
  private readonly unrecordedBlocks: string[] = []
  private readonly disks = new Map<string, StagedDisk>()
  private writer: PackWriter | undefined
  private finished = false
  /** Hashes recorded damaged (bad-blocks.ts), loaded by the first putBlocks. */
  private bad: Set<string> | undefined
  /** Blocks stored again by this cycle because the store's copy was recorded damaged (included in storedBlocks). */
  healedBlocks = 0
  /** Blocks stored by this cycle, and their encoded bytes. */
  storedBlocks = 0
  storedBytes = 0
  onPhase: ((phase: CyclePhase) => Promise<void> | void) | undefined

  /**
   * `stageId` (32 hex digits, e.g. the wire's cycle id) makes the cycle
   * resumable: `checkpoint()` makes its staging durable under that id, and
   * after a crash or a dropped link `StagedCycle.resume` picks it up.
   */
  constructor (store: RecoveryPointStore, stageId?: string) {
    if (stageId !== undefined && !STAGE_ID.test(stageId)) throw new TypeError('stage id must be 32 lowercase hex digits')
    this.store = store
    this.stageId = stageId
    store.openCycles.add(this)
  }

  /**
   * Reopens a resumable cycle's durable staging: the blocks staged up to its
   * last checkpoint and the progress value recorded with it. Undefined when
   * there is none (never checkpointed, committed or aborted).
   */
  static async resume (store: RecoveryPointStore, stageId: string): Promise<{ cycle: StagedCycle, progress: number, journal: Uint8Array[] } | undefined> {
    const meta = await store.db.get(stageMetaKey(stageId))
    if (meta === undefined) return undefined
    const cycle = new StagedCycle(store, stageId)
    for await (const [key, value] of store.db.iterator(stageRange(stageId, 'pack'))) {
      const id = key.slice(key.lastIndexOf('/') + 1)
      const record = decodeRecord<PackRecord>(value)
      await truncatePack(packPath(store.packsDir, id), record.bytes)
      cycle.sealed.push({ id, record })
      cycle.finalRecords.add(id)
      cycle.recordedPacks.add(id)
    }
    for await (const [key, value] of store.db.iterator(stageRange(stageId, 'block'))) {
      cycle.staged.set(key.slice(key.lastIndexOf('/') + 1), decodeLocation(value))
    }
    const journal: Uint8Array[] = []
    for await (const value of store.db.values(stageRange(stageId, 'journal'))) journal.push(new Uint8Array(decodeRecord<Uint8Array>(value)))
    cycle.journalEntries = journal.length
    return { cycle, progress: decodeRecord<{ progress: number }>(meta).progress, journal }
  }

  /** Ids of the resumable cycles that have durable staging in this store. */
  static async list (store: RecoveryPointStore): Promise<string[]> {
    const ids: string[] = []
    for await (const key of store.db.keys(STAGE_PACK_RANGE)) {
      if (key.endsWith('/meta')) ids.push(key.slice('stage/'.length, -'/meta'.length))
    }
    return ids
  }

  /**
   * Makes everything staged so far durable and records `progress` (the
   * receiver's last batch number) with it, plus an optional `journal` entry
   * (the caller's own record of what this stretch staged; `resume` returns
   * the entries in order). The open pack is fsynced and stays open, so
   * frequent checkpoints do not make small packs; its length is recorded and
   * a resume cuts off anything written after it. One synced batch records
   * the rest. The receiver acknowledges a batch only after this. Resumable
   * cycles only.
   */
  async checkpoint (progress: number, journal?: Uint8Array): Promise<void> {
    this.assertOpen()
    const id = this.stageId
    if (id === undefined) throw new TypeError('checkpoint needs a resumable cycle (a stage id)')
    if (this.writer !== undefined) await this.writer.sync()
    if (this.newPackFile) { await fsyncDir(this.store.packsDir); this.newPackFile = false }
    const batch = this.store.db.batch()
    for (const p of this.sealed) {
      if (this.finalRecords.has(p.id)) continue
      batch.put(stagePackKey(id, p.id), encodeRecord(p.record))
      this.finalRecords.add(p.id)
      this.recordedPacks.add(p.id)
    }
    if (this.writer !== undefined) {
      batch.put(stagePackKey(id, this.writer.id), encodeRecord(packRecord(this.writer)))
      this.recordedPacks.add(this.writer.id)
    }
    for (const hex of this.unrecordedBlocks) batch.put(stageBlockKey(id, hex), encodeLocation(this.staged.get(hex)!))
    if (journal !== undefined) batch.put(stageJournalKey(id, this.journalEntries++), encodeRecord(journal))
    batch.put(stageMetaKey(id), encodeRecord({ progress }))
    await batch.write({ sync: true })
    this.unrecordedBlocks.length = 0
  }

  /**
   * Lets go of a resumable cycle without deleting its durable staging (the
   * link dropped: the cycle may resume later, in this process or after a
   * restart). What was staged after the last checkpoint is dropped. For a
   * cycle without a stage id this is `abort`. Idempotent; never throws.
   */
  async release (): Promise<void> {
    if (this.stageId === undefined) { await this.abort(); return }
    if (this.finished) return
    this.finished = true
    this.store.openCycles.delete(this)
    const open = this.writer
    this.writer = undefined
    await open?.discard().catch(() => {})
    const unrecorded = [...this.sealed.map(p => p.id), ...(open === undefined ? [] : [open.id])].filter(p => !this.recordedPacks.has(p))
    for (const p of unrecorded) await unlink(packPath(this.store.packsDir, p)).catch(() => {})
    await this.clearPending(unrecorded)
  }

  /**
   * Stages blocks the store does not hold yet, and blocks whose stored copy
   * is recorded damaged (healing: the commit makes this copy the block's
   * location); returns how many were staged. The caller must have verified
   * each block's hash (the scanner computed it; the network receiver
   * re-hashes before calling), so nothing is healed from data that does not
   * hash right.
   */
  async putBlocks (blocks: IncomingBlock[]): Promise<number> {
    this.assertOpen()
    this.bad ??= await badBlockSet(this.store)
    const fresh = blocks.filter(b => !this.staged.has(toHex(b.hash)))
    const present = await this.store.hasBlocks(fresh.map(b => toHex(b.hash)))
    let added = 0
    for (let i = 0; i < fresh.length; i++) {
      const b = fresh[i]!
      const hex = toHex(b.hash)
      const heals = this.bad.has(hex)
      if ((present[i] === true && !heals) || this.staged.has(hex)) continue
      if (heals) this.healedBlocks++
      const writer = await this.currentWriter()
      this.staged.set(hex, await writer.append(b.hash, b.codec, b.rawLength, b.data))
      if (this.stageId !== undefined) this.unrecordedBlocks.push(hex)
      this.storedBlocks++
      this.storedBytes += b.data.byteLength
      added++
    }
    return added
  }

  /**
   * Declares one disk of the point. `base` names a committed point whose
   * manifest for this disk the caller diffed against: blocks equal to it are
   * known stored, which spares a lookup per unchanged block at commit.
   */
  setDisk (name: string, manifest: Manifest, base?: { point: number, manifest: Manifest }): void {
    this.assertOpen()
    checkDiskName(name)
    checkManifest(manifest)
    if (manifest.blockSize !== this.store.blockSize) {
      throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `manifest uses ${manifest.blockSize}-byte blocks; the store uses ${this.store.blockSize}`)
    }
    this.disks.set(name, base === undefined ? { manifest } : { manifest, base })
  }

  /**
   * Makes the cycle a recovery point. Throws CORE_COMMIT_INCOMPLETE (and
   * commits nothing) when a manifest needs a block that is neither staged
   * nor stored. Returns the new point.
   */
  async commit (options: CommitOptions): Promise<RecoveryPoint> {
    this.assertOpen()
    if (this.disks.size === 0) throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, 'a recovery point needs at least one disk')
    await this.checkComplete()
    const id = this.store.nextPointId
    const disks: PointDisk[] = []
    const pageLists: Record<string, Uint8Array> = {}
    const batch = this.store.db.batch()
    const pagesWritten = new Set<string>()
    for (const [name, { manifest }] of this.disks) {
      disks.push({ name, size: manifest.size, blockSize: manifest.blockSize, root: diskRoot(manifest) })
      const { list, added } = await putManifest(this.store.db, batch, id, name, manifest)
      pageLists[name] = list
      // New manifest pages go into the pack too, so that the packs and the
      // point files alone describe every point (repair.ts).
      for (const p of added) {
        const hex = toHex(p.hash)
        if (pagesWritten.has(hex)) continue
        pagesWritten.add(hex)
        await (await this.currentWriter()).appendPage(p.hash, p.page)
      }
      // The image is stale until replica-image.ts brings it to this point.
      // (its generation carried over, so the update that makes it ready counts on from it)
      const was = await this.store.db.get(imageKey(name))
      const generation = was === undefined ? undefined : decodeRecord<{ generation?: number }>(was).generation
      batch.put(imageKey(name), encodeRecord({ state: 'updating', point: id, ...(generation === undefined ? {} : { generation }) }))
    }
    await this.sealWriter()
    if (this.sealed.length > 0) await fsyncDir(this.store.packsDir)
    await this.onPhase?.('packs-sealed')

    const point: RecoveryPoint = {
      id,
      time: options.time,
      consistency: options.consistency,
      ...(options.consistencyNote === undefined ? {} : { consistencyNote: options.consistencyNote }),
      disks,
      ...(options.term === undefined ? {} : { term: options.term }),
      root: pointRoot(disks)
    }
    await this.writePointFile({ point, pages: pageLists })
    await this.onPhase?.('point-file-written')
    batch.del(pendingPointKey(id))
    for (const p of this.sealed) {
      batch.put(packKey(p.id), encodeRecord(p.record))
      batch.del(pendingPackKey(p.id))
    }
    await this.healInto(batch)
    if (this.stageId !== undefined) await deleteStage(this.store, this.stageId, batch)
    for (const [hex, loc] of this.staged) batch.put(blockKey(hex), encodeLocation(loc))
    batch.put(pointKey(id), encodeRecord(point))
    batch.put(NEXT_POINT_KEY, encodeRecord(id + 1))
    try {
      await batch.write({ sync: true })
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `commit of recovery point ${id} failed: ${(err as Error).message}`, { cause: err })
    }
    this.store.nextPointId = id + 1
    this.finished = true
    this.store.openCycles.delete(this)
    await this.onPhase?.('committed')
    return point
  }

  /**
   * Drops the cycle and deletes its pack files. Idempotent; never throws (a
   * file it cannot delete stays named pending: the next open's sweep deletes it).
   */
  async abort (): Promise<void> {
    if (this.finished) return
    this.finished = true
    this.store.openCycles.delete(this)
    await this.writer?.discard().catch(() => {})
    const ids = [...this.sealed.map(p => p.id), ...(this.writer === undefined ? [] : [this.writer.id])]
    const paths = ids.map(id => packPath(this.store.packsDir, id))
    this.writer = undefined
    if (this.stageId !== undefined) {
      const batch = this.store.db.batch()
      await deleteStage(this.store, this.stageId, batch)
      await batch.write({ sync: true }).catch(() => {})
    }
    for (const path of paths) await unlink(path).catch(() => {})
    await this.clearPending(ids)
  }

  /** Clears the `pending/` keys of packs this cycle deleted itself; best effort (the sweep does it otherwise). */
  private async clearPending (ids: string[]): Promise<void> {
    if (ids.length === 0) return
    const batch = this.store.db.batch()
    for (const id of ids) batch.del(pendingPackKey(id))
    await batch.write({ sync: true }).catch(() => {})
  }

  /**
   * Writes the point's self-describing file, durably, before the commit
   * batch: recorded as pending first, so a crash (or a failed batch) before
   * the commit leaves a file the sweep deletes. A file of this id that is
   * already pending is an earlier failed attempt: replaced. One that is not
   * belongs to a point this index does not know (the index was lost): it is
   * never named pending (the sweep would delete it) and the cycle fails with
   * CORE_STORE_DAMAGED.
   */
  private async writePointFile (f: Parameters<typeof writePointFile>[1]): Promise<void> {
    const key = pendingPointKey(f.point.id)
    const path = pointFilePath(this.store.pointsDir, f.point.id)
    if (await this.store.db.get(key) !== undefined) {
      await unlink(path).catch(() => {})
    } else if (await stat(path).then(() => true, () => false)) {
      throw new CoreError(CoreErrorCode.CORE_STORE_DAMAGED, `point file ${path} exists but the index has no point ${f.point.id}: the index was lost or replaced; run \`tandem store repair\``)
    }
    await this.store.db.put(key, new Uint8Array(0), { sync: true })
    const created = await mkdir(this.store.pointsDir, { recursive: true, mode: 0o700 })
    await writePointFile(this.store.pointsDir, f)
    await fsyncDir(this.store.pointsDir)
    if (created !== undefined) await fsyncDir(this.store.dir)
  }

  /**
   * Adds healing to the commit batch: each staged block recorded damaged
   * loses its `bad/` record, and its damaged copy (the location the index
   * held) is taken off its pack's live counts, so pruning reclaims it
   * (the staged location replaces it in the same batch; `healed/<pack>`
   * tells the next prune to look at that pack). Works from the
   * store's records, so a resumed cycle heals like a fresh one.
   */
  private async healInto (batch: ReturnType<RecoveryPointStore['db']['batch']>): Promise<void> {
    const bad = await badBlockSet(this.store)
    const healed = [...bad].filter(hex => this.staged.has(hex))
    if (healed.length === 0) return
    const old = await this.store.db.getMany(healed.map(blockKey))
    const packs = new Map<string, PackRecord>()
    for (const [i, hex] of healed.entries()) {
      batch.del(badBlockKey(hex))
      const v = old[i]
      if (v === undefined) continue // the block was missing: nothing to account
      const loc = decodeLocation(v)
      let rec = packs.get(loc.pack)
      if (rec === undefined) {
        const stored = await this.store.db.get(packKey(loc.pack))
        if (stored === undefined) continue
        rec = decodeRecord<PackRecord>(stored)
        packs.set(loc.pack, rec)
      }
      rec.liveBlocks--
      rec.liveBytes -= loc.storedLength
    }
    for (const [id, rec] of packs) {
      batch.put(packKey(id), encodeRecord(rec))
      batch.put(healedPackKey(id), encodeRecord(true))
    }
  }

  private async sealWriter (): Promise<void> {
    if (this.writer === undefined) return
    await this.writer.seal()
    this.sealed.push({ id: this.writer.id, record: packRecord(this.writer) })
    this.writer = undefined
  }

  private async checkComplete (): Promise<void> {
    const needed = new Set<string>()
    for (const [, { manifest, base }] of this.disks) {
      if (base !== undefined && await this.store.db.get(pointKey(base.point)) === undefined) {
        throw new CoreError(CoreErrorCode.CORE_COMMIT_INCOMPLETE, `base recovery point ${base.point} no longer exists`)
      }
      const n = blockCount(manifest.size, manifest.blockSize)
      const baseCount = base === undefined ? 0 : blockCount(base.manifest.size, base.manifest.blockSize)
      for (let i = 0; i < n; i++) {
        if (isZeroBlock(manifest, i)) continue
        if (i < baseCount && equalHashes(manifest.hashes, i * HASH_LENGTH, base!.manifest.hashes, i * HASH_LENGTH)) continue
        const hex = toHex(manifest.hashes.subarray(i * HASH_LENGTH, (i + 1) * HASH_LENGTH))
        if (!this.staged.has(hex)) needed.add(hex)
      }
    }
    const list = [...needed]
    const present = await this.store.hasBlocks(list)
    const missing = list.filter((_, i) => present[i] !== true)
    if (missing.length > 0) {
      throw new CoreError(CoreErrorCode.CORE_COMMIT_INCOMPLETE, `${missing.length} block(s) the point needs were never received (first: ${missing[0]})`, { details: { missing: missing.slice(0, 16) } })
    }
  }

  private async currentWriter (): Promise<PackWriter> {
    if (this.writer !== undefined && this.writer.size >= MAX_PACK_BYTES) await this.sealWriter()
    if (this.writer === undefined) {
      this.writer = await createPendingPack(this.store)
      this.newPackFile = true
    }
    return this.writer
  }

  private assertOpen (): void {
    if (this.finished) throw new TypeError('cycle already committed or aborted')
  }
}

/** Makes directory entries (new pack files) durable. */
export async function fsyncDir (dir: string): Promise<void> {
  const h = await open(dir, 'r')
  try { await h.sync() } finally { await h.close() }
}

/**
 * Cuts a staged pack back to the length its checkpoint recorded (records
 * appended after the checkpoint were never acknowledged) and makes that
 * durable. A pack shorter than its record lost acknowledged data: corrupt.
 */
async function truncatePack (path: string, bytes: number): Promise<void> {
  const size = await stat(path).then(s => s.size, () => -1)
  if (size < bytes) throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `staged pack ${path} holds ${size} bytes; its checkpoint recorded ${bytes}`)
  if (size === bytes) return
  const h = await open(path, 'r+')
  try { await h.truncate(bytes); await h.datasync() } finally { await h.close() }
}

/** Adds the deletion of a stage's records to `batch`. */
async function deleteStage (store: RecoveryPointStore, id: string, batch: ReturnType<RecoveryPointStore['db']['batch']>): Promise<void> {
  for await (const key of store.db.keys(stageRange(id))) batch.del(key)
}
