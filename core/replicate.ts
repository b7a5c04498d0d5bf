import { CoreError, CoreErrorCode, hasCode, throwIfAborted } from './errors.ts'
import { diskRoot } from './manifest.ts'
import { scanDisk } from './scan/scanner.ts'
import { checkSourceSanity } from './source-sanity.ts'
import type { ScanPool } from './scan/scan-pool.ts'
import type { DiskSource, DiskView } from './disk-view/disk-view.ts'
import { badBlockSet, damagedIndices } from './store/bad-blocks.ts'
import { prune, type PruneReport } from './store/prune.ts'
import { imageRecord, updateImage, type ImageRecord } from './store/replica-image.ts'
import { DEFAULT_RETENTION, checkRetention, type RetentionPolicy } from './store/retention.ts'
import { StagedCycle, type CyclePhase } from './store/staged-cycle.ts'
import { checkDiskName, type RecoveryPointStore } from './store/store.ts'
import type { Consistency, Extent, Manifest, ProgressListener, RecoveryPoint } from './types.ts'

export interface ReplicateOptions {
  pool: ScanPool
  disks: Array<{ name: string, source: DiskSource }>
  consistency?: Consistency
  consistencyNote?: string
  /** The moment the point stands for; default: when the views were opened. */
  time?: number
  retention?: RetentionPolicy
  /** Point ids the retention after the commit must keep whatever it says (points in use, salvage copies). */
  pinned?: Iterable<number>
  /**
   * Accept a set of disk names other than the latest point's (the VM's disks
   * really changed). Without it such a cycle fails with
   * CORE_SOURCE_DISKS_CHANGED before anything is read (core/source-sanity.ts).
   */
  allowDiskChange?: boolean
  signal?: AbortSignal
  onProgress?: ProgressListener
  /**
   * Awaited at each step where the cycle may stop safely: after each scanned
   * chunk's blocks are staged, after each block written into a replica image.
   * For tests that pause at a known moment (then signal), and fault injection.
   */
  onStep?: (step: 'scan-chunk' | 'image-block') => Promise<void> | void
  /** Observer of the commit's phases (also 'image-updated'); used by crash tests. */
  onPhase?: (phase: CyclePhase | 'image-updated' | 'points-removed' | 'pruned') => Promise<void> | void
}

export interface DiskCycleReport {
  name: string
  size: number
  /** Size the disk had in the previous point, when it changed. */
  previousSize?: number
  bytesRead: number
  /** Only the extents change tracking named were read (else every block was hashed). */
  tracked: boolean
  /** Why a source with change tracking was not trusted this cycle (first cycle, QEMU crash, ...). */
  untrackedReason?: string
  changedBlocks: number
  storedBlocks: number
  storedBytes: number
  /** Bytes written into the replica image. */
  imageWrittenBytes: number
  /** The image could not be trusted (first cycle, crash, someone wrote to it) and was re-hashed whole. */
  imageVerified: boolean
  /** Blocks recorded damaged (by verify) that this cycle stored again from the source (counted in storedBlocks too). */
  healedBlocks: number
}

export interface CycleReport {
  point: RecoveryPoint
  disks: DiskCycleReport[]
  pruned: PruneReport
}

/**
 * One local cycle: scan each disk (diffing against the latest point in the
 * same pass), stage the changed blocks, commit a recovery point, bring the
 * replica images to it, then apply retention. A failure before the commit
 * leaves the store as it was; after it, the point exists and an interrupted
 * image update is finished by `recoverImages` at the next open.
 *
 * Blocks of the latest point that verify recorded damaged are read again
 * (even where change tracking says unchanged) and, when the source still
 * holds that content, stored again: the commit heals them for every point
 * that shares them (docs/store-format.md, "Healing").
 *
 * A disk whose size changed is handled like any other change: the new size
 * is recorded, grown areas are sent, the image is resized.
 */
export async function replicateOnce (store: RecoveryPointStore, options: ReplicateOptions): Promise<CycleReport> {
  const retention = options.retention ?? DEFAULT_RETENTION
  checkRetention(retention)
  if (options.disks.length === 0) throw new TypeError('no disks to replicate')
  for (const d of options.disks) checkDiskName(d.name)
  const signal = options.signal
  throwIfAborted(signal)

  const latest = await store.latestPoint()
  const cycle = new StagedCycle(store)
  cycle.onPhase = options.onPhase
  const views: DiskView[] = []
  const reports: DiskCycleReport[] = []
  const changedByDisk = new Map<string, number[]>()
  // Healing: blocks of the latest point recorded damaged are read again even where unchanged.
  const bad = latest === undefined ? new Set<string>() : await badBlockSet(store)
  try {
    for (const d of options.disks) views.push(await d.source.open(signal))
    // Before any block is read: a wrong source must not become the latest point.
    checkSourceSanity(latest, options.disks.map((d, i) => ({ name: d.name, size: views[i]!.size })), { allowDiskChange: options.allowDiskChange })
    const time = options.time ?? Date.now()
    const totalBytes = views.reduce((n, v) => n + v.size, 0)
    let doneBefore = 0
    for (const [i, d] of options.disks.entries()) {
      const view = views[i]!
      const base = latest?.disks.some(x => x.name === d.name) === true ? await store.manifest(latest.id, d.name) : undefined
      const before = { blocks: cycle.storedBlocks, bytes: cycle.storedBytes, healed: cycle.healedBlocks }
      // With change tracking that vouches for this base, only the extents it names are read.
      const tracking = await trackedExtents(view, base, signal)
      const changedExtents = Array.isArray(tracking) ? tracking : undefined
      const result = await scanDisk(view, {
        pool: options.pool,
        blockSize: store.blockSize,
        base,
        changedExtents,
        heal: base === undefined ? undefined : damagedIndices(base, bad),
        onChanged: async blocks => {
          await cycle.putBlocks(blocks)
          if (options.onStep !== undefined) await options.onStep('scan-chunk')
        },
        signal,
        onProgress: p => options.onProgress?.({ phase: `scan ${d.name}`, done: doneBefore + p.done, total: totalBytes })
      })
      doneBefore += view.size
      cycle.setDisk(d.name, result.manifest, base === undefined ? undefined : { point: latest!.id, manifest: base })
      changedByDisk.set(d.name, result.changed)
      reports.push({
        name: d.name,
        size: view.size,
        ...(base !== undefined && base.size !== view.size ? { previousSize: base.size } : {}),
        bytesRead: result.bytesRead,
        tracked: changedExtents !== undefined,
        ...(typeof tracking === 'string' ? { untrackedReason: tracking } : {}),
        changedBlocks: result.changed.length,
        storedBlocks: cycle.storedBlocks - before.blocks,
        storedBytes: cycle.storedBytes - before.bytes,
        imageWrittenBytes: 0,
        imageVerified: false,
        healedBlocks: cycle.healedBlocks - before.healed
      })
    }
    // A view that turns out inconsistent fails here, before anything is committed.
    for (const v of views.splice(0)) await v.close()
    throwIfAborted(signal)
    const imagesBefore = new Map<string, ImageRecord | undefined>()
    for (const d of options.disks) {
      const r = await imageRecord(store, d.name)
      imagesBefore.set(d.name, r?.state === 'ready' ? r : undefined)
    }
    const point = await cycle.commit({
      time,
      consistency: options.consistency ?? 'crash',
      ...(options.consistencyNote === undefined ? {} : { consistencyNote: options.consistencyNote })
    })
    // From here on the point is committed: a failure says so (afterCommit).
    for (const [i, d] of options.disks.entries()) {
      const held = imagesBefore.get(d.name)
      const from = held !== undefined && held.point === latest?.id ? { record: held, changed: changedByDisk.get(d.name)! } : undefined
      const path = store.imagePath(d.name)
      const what = `replica image of disk "${d.name}" not updated (the next command repairs it)`
      const image = await afterCommit(point.id, CoreErrorCode.CORE_IMAGE_UPDATE_FAILED, what, { disk: d.name, path }, async () => {
        return await updateImage(store, d.name, point.id, {
          from,
          signal,
          onProgress: p => options.onProgress?.({ ...p, phase: `image ${d.name}` }),
          ...(options.onStep === undefined ? {} : { afterBlock: async () => { await options.onStep!('image-block') } })
        })
      })
      reports[i]!.imageWrittenBytes = image.writtenBytes
      reports[i]!.imageVerified = image.repaired
    }
    await options.onPhase?.('image-updated')
    const pruned = await afterCommit(point.id, CoreErrorCode.CORE_RETENTION_FAILED, 'retention not applied (the next cycle or prune applies it)', { path: store.dir }, async () => {
      throwIfAborted(signal)
      return await prune(store, retention, { onPhase: options.onPhase, ...(options.pinned === undefined ? {} : { pinned: options.pinned }) })
    })
    await options.onPhase?.('pruned')
    return { point, disks: reports, pruned }
  } catch (err) {
    await cycle.abort()
    for (const v of views) await v.close().catch(() => {})
    throw err
  }
}

/**
 * Runs a step that follows the commit of point `pointId`. The point is safe
 * whatever happens there, so a failure says so: "recovery point 7
 * committed; <what>: <cause> at <path>", with `code` (CORE_ABORTED stays
 * CORE_ABORTED: an interrupt is not a failure of the step) and `details`
 * carrying `point`, the `where` facts and the cause's code.
 */
async function afterCommit<T> (pointId: number, code: CoreErrorCode, what: string, where: { path: string, disk?: string }, step: () => Promise<T>): Promise<T> {
  try {
    return await step()
  } catch (err) {
    const aborted = hasCode(err, CoreErrorCode.CORE_ABORTED)
    const cause = rootCause(err)
    const details = { point: pointId, ...where, cause: (cause as { code?: unknown }).code ?? (err as { code?: unknown }).code }
    const reason = aborted ? 'interrupted' : `${cause.message} at ${where.path}`
    throw new CoreError(aborted ? CoreErrorCode.CORE_ABORTED : code, `recovery point ${pointId} committed; ${what}: ${reason}`, { cause: err, details })
  }
}

/** The innermost Error of a cause chain (the system error behind a CoreError, e.g. ENOSPC). */
function rootCause (err: unknown): Error {
  let e = err instanceof Error ? err : new Error(String(err))
  while (e.cause instanceof Error) e = e.cause
  return e
}

/**
 * What change tracking says for this view and base: the extents to read,
 * the reason it cannot vouch (a string), or undefined for a source without
 * tracking.
 */
export async function trackedExtents (view: DiskView, base: Manifest | undefined, signal?: AbortSignal): Promise<Extent[] | string | undefined> {
  if (view.changedSince === undefined) return undefined
  if (base === undefined) return 'the first point of this disk: every block is read'
  if (base.size !== view.size) return `the disk's size changed from ${base.size} to ${view.size} bytes`
  const answer = await view.changedSince(diskRoot(base), signal)
  return Array.isArray(answer) ? answer : answer.untracked
}
