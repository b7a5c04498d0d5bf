/**
 * The steps of an unplanned failover on the Replica (docs/failover.md
 * "Unplanned failover", "Complete and cancel"), each idempotent so that a
 * restarted daemon can run it again from its record: the VM started on
 * overlays over the served point, or the point's raw files written; the
 * copy into the VM's own disks; what a failover leaves when it is undone.
 * Failovers (failovers.ts) decides when each runs.
 */
import { createHash } from 'node:crypto'
import { mkdir, rm, rmdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { MAX_SOCKET_PATH_BYTES } from '../../core/nbd/index.ts'
import { createNbdOverlay, disksStandalone, streamDisks, type QemuDriver, type VmDefinition } from '../drivers/qemu/index.ts'
import { AppErrorCode } from '../errors.ts'
import type { EventLog } from '../events/index.ts'
import type { InventoryVm, VmInventory } from '../inventory/index.ts'
import type { Relationship, RelationshipTable } from '../relationships/index.ts'
import type { PointsResult } from '../service/index.ts'
import { CANCEL_VM_STOP_WINDOW_MS, NBD_RECONNECT_DELAY_S } from './constants.ts'
import { writeFailoverRecord, type FailoverRecord } from './failover-record.ts'
import type { PointServing } from './point-server.ts'

/** Where the failover workflows log (the daemon's pino logger). */
export interface FailoversLog {
  info: (fields: object, message: string) => void
  warn: (fields: object, message: string) => void
  error: (fields: object, message: string) => void
}

/** What the failover workflows need of the Replica side (ReplicaSide). */
export interface FailoverReplica {
  points: (name: string) => Promise<PointsResult>
  servePoint: (name: string, pointId: number, options: { socketName?: string }) => Promise<PointServing>
  /** ReplicaSide.failedOver: the term raised, the old primary refused from then on. */
  failedOver: (name: string, options: { reason?: string }) => Promise<{ relationship: Relationship }>
  failoverCancelled: (name: string, options: { reason?: string }) => Promise<Relationship>
  failoverCompleted: (name: string, options: { reason?: string }) => Promise<Relationship>
  materializePoint: (name: string, pointId: number, disks: ReadonlyArray<{ disk: string, out: string }>, options: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void }) => Promise<void>
  keepOnlyPoint: (name: string, pointId: number) => Promise<number[]>
}

/** The VMs of the inventory through the daemon (VmControl): a failover's VM is started and stopped as any VM, with its events. */
export interface FailoverVms {
  start: (name: string) => Promise<unknown>
  stop: (name: string, request: { force?: boolean, timeoutMs?: number }) => Promise<unknown>
}

export interface FailoverWorkInit {
  /** DATA/failover/: each relationship's record (and raw files) in `<relationship>/`. */
  dir: string
  /** DATA/vms/: the qemu driver's folder of each VM; a failover VM's overlays are its disks there. */
  vmRuns: string
  /** DATA/exports/: where the servings' sockets are. */
  exportsDir: string
  relationships: Pick<RelationshipTable, 'get' | 'byVm'>
  replica: FailoverReplica
  inventory: Pick<VmInventory, 'get' | 'add' | 'remove'>
  vms: FailoverVms
  driver: QemuDriver
  /**
   * Change tracking of a failover VM's disks from its point (the qemu
   * driver's QemuVmDriver.trackFrom), started before the VM first runs; a
   * reversal then reads only the blocks that can differ. Absent: no tracking
   * until the VM's first cycle (the reversal compares every block by hash).
   */
  tracking?: { trackFrom: (vm: VmDefinition, roots: ReadonlyMap<string, { root: string, size: number }>, signal?: AbortSignal) => Promise<void> }
  events: EventLog
  logger: FailoversLog
  now: () => number
  /** A monotonic clock for the step timings (performance.now by default). */
  clock?: () => number
}

const ACTIVE = new Set(['starting', 'running', 'paused', 'stopping'])

export const codeOf = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : AppErrorCode.APP_UNEXPECTED
}

/**
 * The steps, on one record at a time (the caller runs at most one step of
 * a relationship at once). It keeps the records and the servings it
 * opened, by relationship.
 */
export class FailoverWork {
  readonly init: FailoverWorkInit
  readonly clock: () => number
  readonly records = new Map<string, FailoverRecord>()
  private readonly servings = new Map<string, PointServing>()

  constructor (init: FailoverWorkInit) {
    this.init = init
    this.clock = init.clock ?? (() => performance.now())
  }

  /** DATA/failover/<relationship>/. */
  relDir (relationship: string): string {
    return join(this.init.dir, relationship)
  }

  /** The qemu driver's folder of VM `vm`: its run files and, for a failover VM, its disks. */
  vmDir (vm: string): string {
    return join(this.init.vmRuns, vm)
  }

  /**
   * The fixed socket name of a relationship's failover serving: the
   * overlays' backing names its path, so a restarted daemon serves the
   * point there again. Named after the relationship, or after a hash of it
   * when the path would be too long for a Unix socket.
   */
  socketName (relationship: string): string {
    const name = `failover-${relationship}.sock`
    if (Buffer.byteLength(join(this.init.exportsDir, name)) <= MAX_SOCKET_PATH_BYTES) return name
    return `failover-${createHash('sha256').update(relationship).digest('hex').slice(0, 16)}.sock`
  }

  /** Writes `r` (durably) and keeps it as the relationship's record. */
  async save (r: FailoverRecord): Promise<void> {
    await mkdir(this.relDir(r.relationship), { recursive: true, mode: 0o700 })
    await writeFailoverRecord(this.relDir(r.relationship), r)
    this.records.set(r.relationship, r)
  }

  /** Removes the record (the failover is over), and the relationship's folder when nothing else is in it. */
  async forget (relationship: string): Promise<void> {
    await rm(join(this.relDir(relationship), 'failover.json'), { force: true })
    this.records.delete(relationship)
    await rmdir(this.relDir(relationship)).catch(() => undefined)
  }

  /** The VM's state under the qemu driver, or null for a `files` failover. */
  vmState (r: FailoverRecord): string | null {
    return r.kind === 'vm' ? this.init.driver.status(r.vm).state : null
  }

  vmActive (r: FailoverRecord): boolean {
    return ACTIVE.has(this.init.driver.status(r.vm).state)
  }

  /** The record's term raised (ReplicaSide.failedOver), timed. */
  async raiseTerm (r: FailoverRecord, reason: string): Promise<Relationship> {
    const t0 = this.clock()
    const recorded = await this.init.replica.failedOver(r.relationship, { reason })
    r.timings.termMs = Math.round(this.clock() - t0)
    return recorded.relationship
  }

  /** Serves the record's point on its fixed socket, unless this daemon serves it already. */
  async serve (r: FailoverRecord): Promise<PointServing> {
    const open = this.servings.get(r.relationship)
    if (open !== undefined) return open
    const t0 = this.clock()
    const serving = await this.init.replica.servePoint(r.relationship, r.point.id, { socketName: r.socketName ?? this.socketName(r.relationship) })
    this.servings.set(r.relationship, serving)
    r.timings.serveMs ??= Math.round(this.clock() - t0)
    return serving
  }

  /** Closes the relationship's serving (the point unpinned); idempotent. */
  async closeServing (relationship: string): Promise<void> {
    const serving = this.servings.get(relationship)
    this.servings.delete(relationship)
    await serving?.close()
  }

  /**
   * A `vm` failover's VM: served point, overlays in the VM's folder (their
   * backing reconnects: NBD_RECONNECT_DELAY_S), the VM in the inventory,
   * then started through the daemon's VM control (its `vm-start` event).
   * Each step timed in the record.
   */
  async startVm (r: FailoverRecord): Promise<void> {
    const serving = await this.serve(r)
    const t0 = this.clock()
    const vmDir = this.vmDir(r.vm)
    // a leftover folder of a VM of that name that is no longer in the inventory: the qemu driver's files only
    await rm(vmDir, { recursive: true, force: true })
    await mkdir(vmDir, { recursive: true, mode: 0o700 })
    for (const d of r.definition.disks) {
      await createNbdOverlay(d.path, { socket: serving.socket, export: d.name }, undefined, { reconnectDelayS: NBD_RECONNECT_DELAY_S })
    }
    await this.trackFromPoint(r, serving)
    r.timings.overlayMs = Math.round(this.clock() - t0)
    await this.enlist(r)
    const t1 = this.clock()
    await this.init.vms.start(r.vm)
    r.timings.startMs = Math.round(this.clock() - t1)
  }

  /**
   * Starts the change tracking of the fresh overlays from the served point
   * (docs/failover.md "Delta failback"). A failure does not stop the
   * failover (goal 3: the VM must run): it is logged, and the first
   * reverse cycle then compares every block by hash, as without tracking.
   */
  private async trackFromPoint (r: FailoverRecord, serving: PointServing): Promise<void> {
    if (this.init.tracking === undefined) return
    const roots = new Map(serving.disks.map(d => [d.name, { root: d.root, size: d.size }]))
    await this.init.tracking.trackFrom(r.definition, roots).catch((err: unknown) => {
      this.init.logger.warn({ relationship: r.relationship, vm: r.vm, err }, 'change tracking of the failover VM could not start: a later reverse replication compares every block by hash')
    })
  }

  /** The VM of the record in the inventory (qemu for `vm`, manual for `files`), unless it is there already. */
  async enlist (r: FailoverRecord): Promise<void> {
    if (this.init.inventory.get(r.vm) !== undefined) return
    const vm: InventoryVm = { driver: r.kind === 'vm' ? 'qemu' : 'manual', definition: r.definition, addedAt: this.init.now() }
    await this.init.inventory.add(vm)
  }

  /**
   * A `files` failover's raw files: each disk of the point written beside
   * and renamed into place (absent or whole); files already in place are
   * kept (a resumed copy writes only those missing). Progress in bytes.
   */
  async writeFiles (r: FailoverRecord, options: { signal: AbortSignal, onProgress: (done: number, total: number) => void }): Promise<void> {
    const t0 = this.clock()
    await mkdir(this.relDir(r.relationship), { recursive: true, mode: 0o700 })
    const todo: Array<{ disk: string, out: string }> = []
    for (const d of r.definition.disks) {
      if (!await stat(d.path).then(s => s.isFile(), () => false)) todo.push({ disk: d.name, out: d.path })
    }
    const sizes = new Map(r.point.disks.map(d => [d.name, d.size]))
    const total = r.point.disks.reduce((n, d) => n + d.size, 0)
    const skipped = r.definition.disks.filter(d => !todo.some(t => t.disk === d.name)).reduce((n, d) => n + (sizes.get(d.name) ?? 0), 0)
    await this.init.replica.materializePoint(r.relationship, r.point.id, todo, { signal: options.signal, onProgress: done => { options.onProgress(skipped + done, total) } })
    r.timings.copyMs = Math.round(this.clock() - t0)
    await this.enlist(r)
  }

  /**
   * A `vm` failover's copy into the VM's own disks (disk-stream.ts): the
   * streams started, or followed when QEMU runs them already, until every
   * overlay stands alone. Needs the VM running and its point served.
   */
  async copyDisks (r: FailoverRecord, options: { signal: AbortSignal, onProgress: (done: number, total: number) => void }): Promise<void> {
    const qmp = this.init.driver.qmp(r.vm)
    const nodes = r.definition.disks.map(d => d.node)
    if (await disksStandalone(qmp, nodes, options.signal)) return
    await this.serve(r)
    await streamDisks(qmp, nodes, { signal: options.signal, onProgress: options.onProgress, ...(r.bandwidth === null ? {} : { speed: r.bandwidth }) })
  }

  /**
   * Keeps the failover once its data is the VM's own: the state
   * failed-over, the serving closed, every other point dropped (its point
   * stays: the last point both boxes share), the record removed. The VM
   * stays in the inventory with the same disks (now standalone files, or
   * the raw files). Idempotent. Resolves with the points dropped.
   */
  async keep (r: FailoverRecord): Promise<number[]> {
    const rel = this.init.relationships.get(r.relationship)
    if (rel?.state === 'failed-over-waiting-completion') {
      await this.init.replica.failoverCompleted(r.relationship, {
        reason: `failover completed: ${r.vm} runs on this box from its own disks; recovery point ${r.point.id} is kept as the last point both boxes share`
      })
    }
    await this.closeServing(r.relationship)
    const dropped = await this.init.replica.keepOnlyPoint(r.relationship, r.point.id)
    await this.forget(r.relationship)
    return dropped
  }

  /**
   * Everything the failover put on this box, removed: its VM stopped
   * (forced after CANCEL_VM_STOP_WINDOW_MS: its writes are discarded), out
   * of the inventory, its folder (overlays, run files) or raw files gone,
   * the serving closed. Idempotent; the record and the term are the
   * caller's. A VM that does not stop throws (nothing else is removed).
   */
  async teardown (r: FailoverRecord): Promise<void> {
    const inInventory = this.init.inventory.get(r.vm)
    // only what this failover put there: the inventory entry of its own definition
    const ours = inInventory !== undefined && inInventory.definition.disks.every((d, i) => d.path === r.definition.disks[i]?.path)
    if (r.kind === 'vm') {
      if (ours) await this.init.vms.stop(r.vm, { force: true, timeoutMs: CANCEL_VM_STOP_WINDOW_MS })
      else if (this.vmActive(r)) await this.init.driver.stop(r.vm, { timeoutMs: CANCEL_VM_STOP_WINDOW_MS })
    }
    if (ours) await this.init.inventory.remove(r.vm)
    if (r.kind === 'vm') {
      if (inInventory === undefined || ours) await rm(this.vmDir(r.vm), { recursive: true, force: true })
    } else {
      for (const d of r.definition.disks) {
        await rm(d.path, { force: true })
        await rm(`${d.path}.partial`, { force: true })
      }
    }
    await this.closeServing(r.relationship)
  }

  /** The VM of a `vm` failover running again: left as it is when it runs (adopted at the daemon's start), else started. Says which. */
  async ensureRunning (r: FailoverRecord): Promise<'running' | 'started'> {
    await this.serve(r)
    if (this.vmActive(r)) return 'running'
    await this.enlist(r)
    await this.init.vms.start(r.vm)
    return 'started'
  }

  /** The point served again and the VM in the inventory, without starting it (a VM stopped on purpose). */
  async ensureServed (r: FailoverRecord): Promise<void> {
    await this.serve(r)
    await this.enlist(r)
  }
}
