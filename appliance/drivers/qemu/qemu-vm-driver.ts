import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_BLOCK_SIZE } from '../../../core/constants.ts'
import { abortedError, throwIfAborted } from '../../../core/errors.ts'
import { AppError, AppErrorCode } from '../../errors.ts'
import { ManualDiskSource } from '../manual/manual-source.ts'
import type { DiskSourcesOpts, OfflineEdit, VmCapabilities, VmCycle, VmDriver, VmDriverStatus, VmStartOpts, VmStopOpts } from '../vm-driver.ts'
import { holdFreeze } from './held-freeze.ts'
import { GuestAgentClient, type QmpClient } from './qmp/index.ts'
import { QemuDriver, type VmStatus } from './qemu-driver.ts'
import { TIMEOUT_FREEZE_MS } from './tracking/guest-freeze.ts'
import { LiveDisk, type LivePoint } from './tracking/live-disk.ts'
import { LivePointSource } from './tracking/live-source.ts'
import { checkOfflineEdits } from './tracking/offline-edits.ts'
import { pendingBytes } from './tracking/pending-bytes.ts'
import { ensureRawSidecar } from './tracking/raw-sidecar.ts'
import { trackFromPoint } from './tracking/track-from-point.ts'
import { checkVmDefinition, type CheckedVmDefinition, type VmDefinition } from './vm-definition.ts'

export interface QemuVmDriverInit {
  /**
   * Absolute folder holding one folder per VM (`<dir>/<name>/`): QEMU's run
   * files (qemu.pid, qmp.sock, qga.sock, serial.log), the NBD socket of
   * live points, each disk's tracking state and the default sidecars of
   * raw disks. It must survive a restart of the appliance (adopt reads
   * qemu.pid; the tracking states are the change history).
   */
  dir: string
  /** The QEMU driver to run VMs with (a new one by default); its own API stays usable beside this adapter. */
  driver?: QemuDriver
  /** Tandem's block size: the dirty bitmaps' granularity (DEFAULT_BLOCK_SIZE by default). */
  blockSize?: number
  /** Guard interval of the disk files read while the VM does not run (ManualDiskSource). */
  guardIntervalMs?: number
}

const ACTIVE = new Set(['starting', 'running', 'paused', 'stopping'])

/**
 * The QEMU driver as a VmDriver (an adapter over QemuDriver, whose API is
 * unchanged). Cycles of a running VM read point-in-time (fleece) views with
 * dirty bitmaps (tracking/live-disk.ts); of a stopped VM, its disk files,
 * guarded like manual disks (a qcow2 disk is read as its virtual disk, not
 * as the file), after checkOfflineEdits. Raw disks without a sidecar get one
 * at `<dir>/<vm>/<disk>.meta.qcow2` (their persistent bitmaps live there).
 * A VM with several disks is paused (vCPUs stopped, QEMU drains its I/O)
 * while their points are taken, so the points are one moment; an
 * app-consistent cycle freezes the guest once around all of them.
 */
export class QemuVmDriver implements VmDriver {
  readonly kind = 'qemu'
  readonly driver: QemuDriver
  private readonly init: QemuVmDriverInit
  private readonly blockSize: number
  private readonly live = new Map<string, { qmp: QmpClient, disks: Map<string, LiveDisk> }>()
  private readonly cycles = new Set<string>()

  constructor (init: QemuVmDriverInit) {
    this.init = init
    this.driver = init.driver ?? new QemuDriver()
    this.blockSize = init.blockSize ?? DEFAULT_BLOCK_SIZE
  }

  /** Lets go of every VM without stopping it (QemuDriver.release); live points' NBD exports end with their QMP connection. */
  release (): void {
    this.live.clear()
    this.driver.release()
  }

  /** The VM's folder (its QEMU run directory). */
  vmDir (name: string): string {
    return join(this.init.dir, name)
  }

  /** The definition as this driver runs it: every raw disk with its sidecar. */
  effective (vm: VmDefinition): CheckedVmDefinition {
    const def = checkVmDefinition(vm)
    return {
      ...def,
      disks: def.disks.map(d => d.format === 'raw' && d.sidecar === undefined ? { ...d, sidecar: join(this.vmDir(def.name), `${d.name}.meta.qcow2`) } : d)
    }
  }

  capabilities (vm: VmDefinition): VmCapabilities {
    const def = checkVmDefinition(vm)
    return { lifecycle: true, changeTracking: true, appConsistent: def.guestAgent }
  }

  /** Makes missing sidecars, checks for offline edits (before QEMU opens the disks), then QemuDriver.start. */
  async start (vm: VmDefinition, opts: VmStartOpts = {}): Promise<VmDriverStatus> {
    const def = this.effective(vm)
    // a VM already active is refused by QemuDriver.start (APP_VM_ALREADY_RUNNING); the steps before it are harmless then
    await mkdir(this.vmDir(def.name), { recursive: true })
    for (const d of def.disks) {
      if (d.sidecar !== undefined) await ensureRawSidecar(d.path, d.sidecar, opts.signal)
    }
    await this.checkOfflineEdits(def)
    return toStatus(await this.driver.start(def, { runDir: this.vmDir(def.name), accel: opts.accel, timeoutMs: opts.timeoutMs, signal: opts.signal }))
  }

  async stop (vm: VmDefinition, opts: VmStopOpts = {}): Promise<VmDriverStatus> {
    const { name } = checkVmDefinition(vm)
    const status = await this.driver.stop(name, opts)
    this.live.delete(name)
    return toStatus(status)
  }

  async status (vm: VmDefinition): Promise<VmDriverStatus> {
    return toStatus(this.driver.status(checkVmDefinition(vm).name))
  }

  async exited (vm: VmDefinition): Promise<VmDriverStatus> {
    return toStatus(await this.driver.exited(checkVmDefinition(vm).name))
  }

  async adopt (vm: VmDefinition, opts: { signal?: AbortSignal } = {}): Promise<VmDriverStatus> {
    const def = checkVmDefinition(vm)
    return toStatus(await this.driver.adopt(def, { runDir: this.vmDir(def.name), signal: opts.signal }))
  }

  /**
   * Raw disks with a sidecar whose raw file was written while no QEMU had
   * it open (tracking/offline-edits.ts): their tracking is marked
   * distrusted, so the next live point hashes them whole. Does nothing
   * while the VM is active under this driver: QEMU holds the disks then,
   * and its own writes would look like edits.
   */
  async checkOfflineEdits (vm: VmDefinition): Promise<OfflineEdit[]> {
    const def = this.effective(vm)
    if (ACTIVE.has(this.driver.status(def.name).state)) return []
    const edits: OfflineEdit[] = []
    for (const d of def.disks) {
      if (d.sidecar === undefined) continue
      const reason = await checkOfflineEdits({ raw: d.path, sidecar: d.sidecar }, this.stateFile(def.name, d.name)).catch(err => {
        // no sidecar yet: QEMU never tracked this disk, so there is nothing to distrust
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw err
      })
      if (reason !== undefined) edits.push({ disk: d.name, reason })
    }
    return edits
  }

  /**
   * Starts change tracking of the VM's qcow2 disks from the point they
   * read as now, each disk's manifest root in `roots` (by disk name): a
   * failover VM's fresh overlays, before its first start
   * (tracking/track-from-point.ts). Its first live point is then tracked
   * relative to those roots, so a reversal reads only what changed since
   * (docs/failover.md "Delta failback"). Disks not in `roots`, and raw
   * disks, are left untracked (their first point compares by hash).
   * APP_VM_ALREADY_RUNNING while the VM is active (QEMU holds the disks);
   * APP_QEMU_IMG_FAILED; CORE_ABORTED.
   */
  async trackFrom (vm: VmDefinition, roots: ReadonlyMap<string, { root: string, size: number }>, signal?: AbortSignal): Promise<void> {
    const def = this.effective(vm)
    if (ACTIVE.has(this.driver.status(def.name).state)) throw new AppError(AppErrorCode.APP_VM_ALREADY_RUNNING, `${def.name} runs: tracking starts before QEMU opens its disks`)
    await mkdir(this.vmDir(def.name), { recursive: true })
    for (const d of def.disks) {
      const point = roots.get(d.name)
      if (point === undefined || d.format !== 'qcow2') continue
      await trackFromPoint({ image: d.path, stateFile: this.stateFile(def.name, d.name), size: point.size, root: point.root }, this.blockSize, signal)
    }
  }

  /**
   * For a running (or paused) VM, the sum over its disks of the dirty bytes
   * of their `tandem-*` bitmaps (tracking/pending-bytes.ts): the recording
   * one, plus the disabled one of a point whose cycle has not completed; an
   * upper bound. Null when the VM does not run (its bitmaps are in the
   * image files, not counted), when any disk's tracking is distrusted, and
   * when QMP fails or times out (a status figure, not worth an error). One
   * QMP query; it shares the driver's connection with a cycle in flight.
   */
  async pendingBytes (vm: VmDefinition, signal?: AbortSignal): Promise<number | null> {
    const def = checkVmDefinition(vm)
    throwIfAborted(signal)
    const state = this.driver.status(def.name).state
    if (state !== 'running' && state !== 'paused') return null
    const disks = def.disks.map(d => ({ node: d.node, stateFile: this.stateFile(def.name, d.name) }))
    try {
      return await pendingBytes(this.driver.qmp(def.name), disks, signal)
    } catch {
      throwIfAborted(signal)
      return null
    }
  }

  async diskSources (vm: VmDefinition, opts: DiskSourcesOpts = {}): Promise<VmCycle> {
    const def = this.effective(vm)
    if (opts.signal?.aborted === true) throw abortedError(opts.signal)
    if (this.cycles.has(def.name)) throw new TypeError(`VM ${def.name} already has a cycle in progress`)
    this.cycles.add(def.name)
    try {
      const state = this.driver.status(def.name).state
      if (state === 'running' || state === 'paused') return await this.liveCycle(def, opts)
      return await this.offlineCycle(def, opts)
    } catch (err) {
      this.cycles.delete(def.name)
      throw err
    }
  }

  private async offlineCycle (def: CheckedVmDefinition, opts: DiskSourcesOpts): Promise<VmCycle> {
    await this.checkOfflineEdits(def)
    return {
      disks: def.disks.map(d => ({ name: d.name, source: new ManualDiskSource(d.path, d.format, { intervalMs: this.init.guardIntervalMs }) })),
      mode: 'offline',
      consistency: 'crash',
      ...(opts.appConsistent === true ? { consistencyNote: 'the VM is not running: its disks are read as they were left (crash-consistent)' } : {}),
      complete: this.once(def.name, async () => {})
    }
  }

  private async liveCycle (def: CheckedVmDefinition, opts: DiskSourcesOpts): Promise<VmCycle> {
    const signal = opts.signal
    const qmp = this.driver.qmp(def.name)
    const disks = await this.liveDisks(def, qmp, signal)
    let note: string | undefined
    let agent: GuestAgentClient | undefined
    if (opts.appConsistent === true) {
      const socket = def.guestAgent ? this.driver.guestAgentSocket(def.name) : undefined
      if (socket === undefined) note = 'the VM has no guest agent: crash-consistent'
      else agent = await GuestAgentClient.connect(socket, { signal }).catch((err: unknown) => { note = `guest agent unavailable (${codeOf(err)}): crash-consistent`; return undefined })
    }
    const held = agent === undefined ? undefined : holdFreeze(agent)
    const points: LivePoint[] = []
    let thawNote: string | undefined
    try {
      const pause = def.disks.length > 1 && this.driver.status(def.name).state === 'running'
      // the agent runs in the guest: freeze before the vCPUs stop (the points then share this freeze), thaw after they run again
      if (pause && held !== undefined) await held.agent.fsfreezeFreeze({ timeoutMs: TIMEOUT_FREEZE_MS }).catch(() => undefined)
      try {
        // inside the try: a stop that timed out or was aborted may still have paused the VM, and cont must follow
        if (pause) await qmp.execute('stop', undefined, { signal })
        for (const d of def.disks) points.push(await disks.get(d.name)!.takePoint({ agent: held?.agent, signal }))
      } finally {
        if (pause) await qmp.execute('cont')
      }
    } catch (err) {
      for (const p of points) await p.complete({ ok: false }).catch(() => undefined)
      throw err
    } finally {
      thawNote = await held?.thaw()
      await agent?.close().catch(() => undefined)
    }
    const app = held !== undefined && thawNote === undefined && points.every(p => p.consistency === 'app')
    note = thawNote ?? note ?? points.find(p => p.consistency !== 'app' && p.consistencyNote !== undefined)?.consistencyNote ?? points[0]?.consistencyNote
    return {
      disks: def.disks.map((d, i) => ({ name: d.name, source: new LivePointSource(points[i]!) })),
      mode: 'live',
      consistency: app ? 'app' : 'crash',
      ...(note === undefined ? {} : { consistencyNote: note }),
      complete: this.once(def.name, async outcome => {
        if (outcome.ok) {
          const missing = def.disks.find(d => outcome.roots[d.name] === undefined)
          if (missing !== undefined) throw new TypeError(`no root for disk ${missing.name}`)
        }
        let first: unknown
        for (const [i, p] of points.entries()) {
          const root = outcome.ok ? outcome.roots[def.disks[i]!.name]! : undefined
          await p.complete(root === undefined ? { ok: false } : { ok: true, root }).catch(err => { first ??= err })
        }
        if (first !== undefined) throw first
      })
    }
  }

  /** The LiveDisk of each disk for the VM's current QMP connection (a new QEMU process means new ones; opening one finishes a point a crash interrupted). */
  private async liveDisks (def: CheckedVmDefinition, qmp: QmpClient, signal?: AbortSignal): Promise<Map<string, LiveDisk>> {
    const cached = this.live.get(def.name)
    if (cached?.qmp === qmp && def.disks.every(d => cached.disks.has(d.name))) return cached.disks
    const disks = new Map<string, LiveDisk>()
    for (const [i, d] of def.disks.entries()) {
      disks.set(d.name, await LiveDisk.open({
        qmp,
        node: d.node,
        stateFile: this.stateFile(def.name, d.name),
        workDir: this.vmDir(def.name),
        nbdSocket: join(this.vmDir(def.name), 'nbd.sock'),
        granularity: this.blockSize,
        fleeceTag: String(i)
      }, signal))
    }
    this.live.set(def.name, { qmp, disks })
    return disks
  }

  private stateFile (vm: string, disk: string): string {
    return join(this.vmDir(vm), `${disk}.tracking.json`)
  }

  /** complete(): runs `fn` once and ends the VM's cycle whatever it does. */
  private once (name: string, fn: VmCycle['complete']): VmCycle['complete'] {
    let done = false
    return async outcome => {
      if (done) return
      done = true
      try {
        await fn(outcome)
      } finally {
        this.cycles.delete(name)
      }
    }
  }
}

function toStatus (s: VmStatus): VmDriverStatus {
  return { ...s }
}

const codeOf = (err: unknown): string => (err as { code?: string })?.code ?? String(err)
