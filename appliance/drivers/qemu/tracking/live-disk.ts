import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { AppError, AppErrorCode } from '../../../errors.ts'
import { freezeGuest, thawGuest, TIMEOUT_FREEZE_MS, TIMEOUT_THAW_MS, type FreezeAgent } from './guest-freeze.ts'
import { qemuImg } from './qemu-img.ts'
import { initialTrackingState, loadTrackingState, saveTrackingState, type TrackingState } from './tracking-state.ts'

/** The QMP commands this module needs (appliance/drivers/qemu/qmp's QmpClient). */
export interface QmpExecutor {
  execute: <T = unknown>(command: string, args?: Record<string, unknown>, options?: { timeoutMs?: number, signal?: AbortSignal }) => Promise<T>
}

export type { FreezeAgent } from './guest-freeze.ts'

export interface LiveDiskInit {
  qmp: QmpExecutor
  /** The disk's QEMU block node: its qcow2 node, or the qcow2 sidecar of a raw disk (raw-sidecar.ts). */
  node: string
  /** This disk's tracking state file (tracking-state.ts). */
  stateFile: string
  /** Folder for the scratch files of point-in-time views (a few MiB each: only what the guest overwrites while a point is read). */
  workDir: string
  /** Unix socket of QEMU's NBD server; started there when QEMU runs none. */
  nbdSocket: string
  /** Bitmap granularity: Tandem's block size, so a dirty extent is whole blocks. */
  granularity: number
  /**
   * Tells this disk's temporary nodes (and scratch files) from those of the
   * other disks of the same QEMU: node names are per QEMU, and every disk's
   * generation counts from 1. Required when one QEMU has several tracked
   * disks (e.g. the disk's index); FLEECE_TAG. Names: `tandem-fleece-<tag>-<n>`,
   * without a tag `tandem-fleece-<n>`.
   */
  fleeceTag?: string
  /** Limit of a guest freeze (default TIMEOUT_FREEZE_MS); past it the point is crash-consistent. */
  freezeTimeoutMs?: number
  /** Limit of the thaw's retries (default TIMEOUT_THAW_MS). */
  thawTimeoutMs?: number
}

export interface TakePointOptions {
  /** Quiesce the guest's filesystems around the transaction (an app-consistent point when it works). */
  agent?: FreezeAgent
  signal?: AbortSignal
}

/** A point-in-time view of a running disk, exported over NBD until `complete`. */
export interface LivePoint {
  size: number
  socketPath: string
  exportName: string
  /**
   * Change tracking for this point: the NBD meta context whose dirty
   * extents are every change since the disk as it was in the manifest with
   * root `baseRoot`. Absent when tracking cannot be trusted; `untrackedReason` says why.
   */
  tracking?: { baseRoot: string, context: string }
  untrackedReason?: string
  consistency: 'app' | 'crash'
  /** Why a point asked to be app-consistent is only crash-consistent (or that the freeze worked). */
  consistencyNote?: string
  /** How long the guest's disk I/O was held (freeze through thaw, or the transaction alone), ms. */
  pauseMs: number
  /**
   * Ends the point: the export and the temporary node go. `ok` with the
   * root of the manifest the Replica committed: the point's changes are
   * replicated and its bitmap is dropped. Otherwise the bitmap is merged
   * into the next one, so no change is lost. Call it once the view is closed.
   */
  complete: (outcome: { ok: true, root: string } | { ok: false }) => Promise<void>
}

/** A fleece tag: short, so `tandem-fleece-<tag>-<n>` stays within QEMU's 31-character node names. */
export const FLEECE_TAG = /^[a-z0-9]{1,3}$/

/** A QMP command of a cycle (transaction, node add/remove). */
const TIMEOUT_QMP_MS = 30_000
/** How long a cancelled fleece job may take to go away before its node is removed anyway. */
const TIMEOUT_JOB_GONE_MS = 10_000

/** A dirty bitmap as `query-named-block-nodes` reports it: `count` is its dirty bytes. */
export interface NodeBitmap { name?: string, recording?: boolean, inconsistent?: boolean, busy?: boolean, granularity?: number, count?: number }
/** A block node as `query-named-block-nodes` reports it (the fields Tandem reads). */
export interface NamedNode { 'node-name': string, image: { 'virtual-size': number }, 'dirty-bitmaps'?: NodeBitmap[] }

/**
 * Change tracking and point-in-time views for one disk of a running QEMU
 * (a VM or qemu-storage-daemon), following docs/platform-notes.md: a
 * persistent dirty bitmap records writes; each point is one QMP
 * transaction (add the next bitmap, disable the current one, start a
 * copy-before-write "fleece" of the disk into a temporary node), optionally
 * inside a guest filesystem freeze; the fleece is exported read-only over
 * NBD with the disabled bitmap as a meta context, so a cycle reads only the
 * dirty extents of an unchanging view.
 *
 * Nothing is ever skipped (docs/design.md invariant 3): when the bitmap cannot be trusted
 * (first cycle, missing, inconsistent after a QEMU crash, size change) the
 * point has no `tracking` and the caller compares every block by hash. The
 * state file is written before each QEMU step that matters, so an
 * appliance restart finishes or undoes an interrupted point (`open`).
 * One point at a time per disk.
 */
export class LiveDisk {
  private readonly init: LiveDiskInit
  private state: TrackingState

  private constructor (init: LiveDiskInit, state: TrackingState) {
    this.init = init
    this.state = state
  }

  /** Loads the disk's tracking state and cleans up after a point that a crash interrupted. */
  static async open (init: LiveDiskInit, signal?: AbortSignal): Promise<LiveDisk> {
    if (init.fleeceTag !== undefined && !FLEECE_TAG.test(init.fleeceTag)) throw new TypeError(`fleeceTag must match ${String(FLEECE_TAG)}`)
    const node = await findNode(init.qmp, init.node, signal)
    const state = await loadTrackingState(init.stateFile) ?? initialTrackingState(node.image['virtual-size'])
    const disk = new LiveDisk(init, state)
    if (state.pending !== null) await disk.recover(signal)
    return disk
  }

  async takePoint (options: TakePointOptions = {}): Promise<LivePoint> {
    const { qmp } = this.init
    const signal = options.signal
    if (this.state.pending !== null) await this.recover(signal)
    const node = await findNode(qmp, this.init.node, signal)
    const size = node.image['virtual-size']
    const current = this.state.bitmap
    const untrackedReason = this.distrust(node, size)
    if (untrackedReason !== undefined && current !== null && bitmapOf(node, current) !== undefined) {
      // A bitmap that cannot be trusted is of no use; the next one starts clean.
      await qmp.execute('block-dirty-bitmap-remove', { node: this.init.node, name: current }, { timeoutMs: TIMEOUT_QMP_MS, signal })
    }

    const generation = this.state.generation + 1
    const next = `tandem-${generation}`
    const fleece = this.init.fleeceTag === undefined ? `tandem-fleece-${generation}` : `tandem-fleece-${this.init.fleeceTag}-${generation}`
    const scratch = join(this.init.workDir, `${fleece}.qcow2`)
    await rm(scratch, { force: true })
    await qemuImg(['create', '-q', '-f', 'qcow2', scratch, String(size)], signal)
    const tracked = untrackedReason === undefined
    // A distrusted history ends here: the next bitmap records from this point's transaction on.
    const { distrust: _ended, ...rest } = this.state
    this.state = { ...rest, generation, pending: { next, fleece, scratch, tracked } }
    await saveTrackingState(this.init.stateFile, this.state)

    let pauseMs = 0
    let consistency: LivePoint['consistency'] = 'crash'
    let consistencyNote: string | undefined
    try {
      await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': fleece, file: { driver: 'file', filename: scratch }, backing: this.init.node }, { timeoutMs: TIMEOUT_QMP_MS, signal })
      const actions: Array<{ type: string, data: Record<string, unknown> }> = [
        { type: 'block-dirty-bitmap-add', data: { node: this.init.node, name: next, persistent: true, granularity: this.init.granularity } }
      ]
      if (tracked) actions.push({ type: 'block-dirty-bitmap-disable', data: { node: this.init.node, name: current } })
      actions.push({ type: 'blockdev-backup', data: { device: this.init.node, target: fleece, sync: 'none', 'job-id': fleece } })

      const started = performance.now()
      const limits = { freezeMs: this.init.freezeTimeoutMs ?? TIMEOUT_FREEZE_MS, thawMs: this.init.thawTimeoutMs ?? TIMEOUT_THAW_MS }
      const frozen = options.agent === undefined ? undefined : await freezeGuest(options.agent, limits)
      try {
        await qmp.execute('transaction', { actions }, { timeoutMs: TIMEOUT_QMP_MS, signal })
      } finally {
        // Not the cycle's signal: a cancelled cycle (or a stopping daemon) still retries the
        // thaw for its whole limit, since a guest left frozen is worse than a slower stop.
        if (frozen?.ok === true) consistencyNote = await thawGuest(options.agent!, limits.thawMs)
        pauseMs = performance.now() - started
      }
      if (frozen !== undefined) {
        consistency = frozen.ok && consistencyNote === undefined ? 'app' : 'crash'
        consistencyNote = frozen.ok ? consistencyNote ?? `guest filesystems frozen (${frozen.count})` : frozen.reason
      }
      await this.startNbdServer(signal)
      await qmp.execute('block-export-add', {
        type: 'nbd', id: fleece, 'node-name': fleece, name: fleece, writable: false, bitmaps: tracked ? [current] : []
      }, { timeoutMs: TIMEOUT_QMP_MS, signal })
    } catch (err) {
      await this.recover()
      throw err
    }

    let completed = false
    return {
      size,
      socketPath: this.init.nbdSocket,
      exportName: fleece,
      ...(tracked ? { tracking: { baseRoot: this.state.baseRoot!, context: `qemu:dirty-bitmap:${current!}` } } : { untrackedReason }),
      consistency,
      ...(consistencyNote === undefined ? {} : { consistencyNote }),
      pauseMs,
      complete: async outcome => {
        if (completed) return
        completed = true
        if (outcome.ok) await this.succeed(outcome.root)
        else await this.recover()
      }
    }
  }

  /** Why the current bitmap cannot stand for every change since `baseRoot`, or undefined when it can. */
  private distrust (node: NamedNode, size: number): string | undefined {
    const { bitmap, baseRoot } = this.state
    if (bitmap === null) return 'first cycle: no change tracking yet'
    if (this.state.distrust !== undefined) return this.state.distrust
    if (size !== this.state.size) return `the disk's size changed from ${this.state.size} to ${size} bytes`
    const b = bitmapOf(node, bitmap)
    if (b === undefined) return `dirty bitmap ${bitmap} is missing (the disk was opened without it or replaced)`
    if (b.inconsistent === true) return `dirty bitmap ${bitmap} is inconsistent (QEMU stopped without saving it)`
    if (b.recording !== true) return `dirty bitmap ${bitmap} was not recording`
    if (b.granularity !== undefined && b.granularity > this.init.granularity) return `dirty bitmap ${bitmap} is coarser than the block size`
    if (baseRoot === null) return 'no cycle has succeeded since tracking started'
    return undefined
  }

  /** The point was replicated: its bitmap goes; the next one (already recording) stands for changes since `root`. */
  private async succeed (root: string): Promise<void> {
    const pending = this.state.pending
    if (pending === null) return
    await this.removeFleece(pending.fleece, pending.scratch)
    const old = this.state.bitmap
    const node = await findNode(this.init.qmp, this.init.node)
    if (old !== null && bitmapOf(node, old) !== undefined) {
      await this.init.qmp.execute('block-dirty-bitmap-remove', { node: this.init.node, name: old }, { timeoutMs: TIMEOUT_QMP_MS })
    }
    this.state = { ...this.state, size: node.image['virtual-size'], bitmap: pending.next, baseRoot: root, pending: null }
    await saveTrackingState(this.init.stateFile, this.state)
  }

  /**
   * Undoes a point that failed or was interrupted (also after a crash, from
   * the state file): the export and temporary node go; if the transaction
   * happened, the old bitmap is merged into the new one, so the new one
   * holds every change since `baseRoot` and nothing is lost. Idempotent.
   */
  private async recover (signal?: AbortSignal): Promise<void> {
    const pending = this.state.pending
    if (pending === null) return
    await this.removeFleece(pending.fleece, pending.scratch)
    const node = await findNode(this.init.qmp, this.init.node, signal)
    const old = this.state.bitmap
    const oldThere = old !== null && bitmapOf(node, old) !== undefined
    if (bitmapOf(node, pending.next) !== undefined) {
      // The transaction happened: `next` records writes after the point.
      if (pending.tracked && oldThere) {
        await this.init.qmp.execute('block-dirty-bitmap-merge', { node: this.init.node, target: pending.next, bitmaps: [old] }, { timeoutMs: TIMEOUT_QMP_MS, signal })
        await this.init.qmp.execute('block-dirty-bitmap-remove', { node: this.init.node, name: old }, { timeoutMs: TIMEOUT_QMP_MS, signal })
        this.state = { ...this.state, bitmap: pending.next, pending: null }
      } else {
        // No trusted history before the point: hashes decide the next cycle.
        if (oldThere) await this.init.qmp.execute('block-dirty-bitmap-remove', { node: this.init.node, name: old }, { timeoutMs: TIMEOUT_QMP_MS, signal })
        this.state = { ...this.state, bitmap: pending.next, baseRoot: null, pending: null }
      }
    } else {
      // The transaction did not happen (it is atomic): the old bitmap still records, as before.
      this.state = { ...this.state, pending: null }
    }
    await saveTrackingState(this.init.stateFile, this.state)
  }

  /** Removes the export, the fleece job and node, and the scratch file; each step tolerates what is already gone. */
  private async removeFleece (fleece: string, scratch: string): Promise<void> {
    const { qmp } = this.init
    const quiet = async (command: string, args: Record<string, unknown>): Promise<void> => {
      await qmp.execute(command, args, { timeoutMs: TIMEOUT_QMP_MS }).catch(() => undefined)
    }
    await quiet('block-export-del', { id: fleece, mode: 'hard' })
    await quiet('block-job-cancel', { device: fleece, force: true })
    const until = performance.now() + TIMEOUT_JOB_GONE_MS
    for (;;) {
      const jobs = await qmp.execute<Array<{ device: string }>>('query-block-jobs', {}, { timeoutMs: TIMEOUT_QMP_MS })
      const exports = await qmp.execute<Array<{ id: string }>>('query-block-exports', {}, { timeoutMs: TIMEOUT_QMP_MS }).catch(() => [])
      if (!jobs.some(j => j.device === fleece) && !exports.some(e => e.id === fleece)) break
      if (performance.now() > until) break
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    const nodes = await qmp.execute<NamedNode[]>('query-named-block-nodes', { flat: true }, { timeoutMs: TIMEOUT_QMP_MS })
    if (nodes.some(n => n['node-name'] === fleece)) await qmp.execute('blockdev-del', { 'node-name': fleece }, { timeoutMs: TIMEOUT_QMP_MS })
    await rm(scratch, { force: true })
  }

  private async startNbdServer (signal?: AbortSignal): Promise<void> {
    try {
      // QEMU 7.2 takes the legacy socket address form here ({ type, data }).
      await this.init.qmp.execute('nbd-server-start', { addr: { type: 'unix', data: { path: this.init.nbdSocket } } }, { timeoutMs: TIMEOUT_QMP_MS, signal })
    } catch (err) {
      // One NBD server per QEMU: when it already runs, it is the one at nbdSocket (the VM's launcher configures it there).
      if (!/already running/i.test(String((err as Error).message))) throw err
    }
  }
}

async function findNode (qmp: QmpExecutor, name: string, signal?: AbortSignal): Promise<NamedNode> {
  const nodes = await qmp.execute<NamedNode[]>('query-named-block-nodes', { flat: true }, { timeoutMs: TIMEOUT_QMP_MS, signal })
  const node = nodes.find(n => n['node-name'] === name)
  if (node === undefined) throw new AppError(AppErrorCode.APP_DISK_NODE_MISSING, `QEMU has no block node named ${name}`)
  return node
}

const bitmapOf = (node: NamedNode, name: string): NodeBitmap | undefined => node['dirty-bitmaps']?.find(b => b.name === name)
