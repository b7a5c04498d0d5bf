import { rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { checkVmDefinition } from '../drivers/qemu/vm-definition.ts'
import type { VmDriver, VmDriverStatus } from '../drivers/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { EventLog } from '../events/index.ts'
import type { DriverKind, InventoryVm, VmInventory } from '../inventory/index.ts'
import { STALE_VM_EVENT, hasLostTerm, staleVmReason, type RelationshipTable } from '../relationships/index.ts'
import { MAX_VM_STOP_WINDOW_MS, type VmAddRequest, type VmInfo, type VmRemoveResult, type VmStopRequest } from '../service/index.ts'
import { SerialQueue } from '../serial-queue.ts'
import type { Logger } from './logger.ts'
import { clearStopped, markStopped } from '../drivers/qemu/index.ts'
import { DiskSizes, definitionOf, diskStats, identity, probeFormat } from './vm-disks.ts'

export interface VmControlComponents {
  inventory: VmInventory
  relationships: RelationshipTable
  events: EventLog
  drivers: Readonly<Record<DriverKind, VmDriver>>
  logger: Logger
  /** The qemu driver's folder of VMs (`DATA/vms`): a removed VM's folder there goes with it. */
  vmRuns: string
  /** The clock of `addedAt`; Date.now by default. */
  now?: () => number
}

/** States in which a qemu VM holds its disks: it cannot be removed. */
const ACTIVE = new Set(['starting', 'running', 'paused', 'stopping'])

const isoTime = (d: Date | number): string => new Date(d).toISOString()
const codeOf = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : AppErrorCode.APP_UNEXPECTED
}
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`

/**
 * The VMs of a box through the daemon (docs/vms.md "Through the daemon"):
 * adds and removes inventory entries, starts and stops VMs through their
 * driver, tells what each VM is, and after a restart finds the qemu VMs
 * again (`adoptAll`). Every change is an event in the event log and a log
 * line. Adds run one at a time (a file is checked against every VM added
 * before); start and remove of one VM run one at a time, so a VM is never
 * removed while it starts; stop is not queued behind them (the driver lets
 * a stop wait for a start itself). Never writes to a disk.
 */
export class VmControl {
  private readonly c: VmControlComponents
  /** The tail of each VM's queue of changes. */
  private readonly queues = new Map<string, Promise<unknown>>()
  /** VMs being stopped through this daemon: their end is that stop's event, not a `vm-exited` one. */
  private readonly stopping = new Set<string>()
  private released = false
  private readonly sizes = new DiskSizes()
  private readonly adds = new SerialQueue()
  /** qemu VMs left alone because their QEMU did not answer adoption: name → why (shown as state `unknown`). */
  private readonly unadopted = new Map<string, string>()

  constructor (components: VmControlComponents) {
    this.c = components
  }

  /**
   * After a daemon start: every qemu VM of the inventory is found again
   * (running or paused, by its pid file, /proc cmdline and QMP socket) or
   * reported crashed with the reason; a VM left stopped or crashed has its
   * disks checked for offline edits (change tracking distrusted where they
   * were written while no QEMU watched them). Each outcome is an event
   * (`vm-adopt`, `tracking-distrusted`) and a log line. Never throws: a VM
   * that cannot be adopted (its QEMU does not answer QMP) is left alone,
   * reported with its code and shown as `unknown` until a start or remove
   * tries again (`readopt`). The VMs are adopted concurrently (each bounded
   * by the driver's TIMEOUT_ADOPT_QMP_MS).
   *
   * Adoption never starts a VM: a VM found stopped stays stopped, and no
   * part of the daemon starts one on its own (only `vmStart`, the
   * operator's). A VM found running whose relationship lost its term (its
   * Replica failed over: relationships/term-rules.ts) is left running, and
   * said so (`stale-primary-vm`): the operator decides.
   */
  async adoptAll (signal?: AbortSignal): Promise<void> {
    await Promise.all(this.c.inventory.list().filter(vm => vm.driver === 'qemu').map(async vm => { await this.adopt(vm, signal) }))
  }

  /** Adopts one VM; resolves with the adoption's error when it failed (the VM is then left alone and in `unadopted`). */
  private async adopt (vm: InventoryVm, signal?: AbortSignal): Promise<unknown> {
    const name = vm.definition.name
    const driver = this.c.drivers[vm.driver]
    let status: VmDriverStatus
    try {
      status = await driver.adopt(vm.definition, { signal })
    } catch (err) {
      const code = codeOf(err)
      this.unadopted.set(name, `its QEMU (found by its pid file) did not answer when the daemon started (${code}: ${(err as Error).message}); it is left alone, and a start or remove tries again`)
      this.c.logger.warn({ vm: name, code, err }, 'VM not adopted: its QEMU did not answer; left alone')
      await this.event({ kind: 'vm-adopt', vm: name, code, reason: `its QEMU runs but was not found again: ${(err as Error).message}` })
      return err
    }
    this.unadopted.delete(name)
    const found = status.state === 'running' || status.state === 'paused'
    const reason = found ? `found again: ${status.state} (pid ${status.pid ?? '?'})` : `${status.state}: ${status.reason}`
    this.c.logger.info({ vm: name, state: status.state, pid: status.pid, reason: status.reason }, found ? 'VM found again' : `VM ${status.state}`)
    await this.event({ kind: 'vm-adopt', vm: name, reason, data: { state: status.state, pid: status.pid ?? null } })
    if (found) {
      this.watch(vm)
      const rel = this.c.relationships.byVm(name)
      if (rel !== undefined && hasLostTerm(rel)) {
        this.c.logger.warn({ vm: name, relationship: rel.id }, 'the VM runs on this box, which is no longer its primary; it is left running')
        await this.event({ kind: STALE_VM_EVENT, vm: name, relationship: rel.id, ...(rel.code === undefined ? {} : { code: rel.code }), reason: staleVmReason(name) })
      }
      return undefined
    }
    try {
      for (const edit of await driver.checkOfflineEdits(vm.definition)) {
        this.c.logger.warn({ vm: name, disk: edit.disk, reason: edit.reason }, 'change tracking distrusted: the disk was written while no QEMU watched it')
        await this.event({ kind: 'tracking-distrusted', vm: name, reason: `disk ${edit.disk}: ${edit.reason}`, data: { disk: edit.disk } })
      }
    } catch (err) {
      // the next cycle checks again (diskSources runs checkOfflineEdits), so a failure here loses nothing
      this.c.logger.warn({ vm: name, code: codeOf(err), err }, 'could not check the disks for offline edits; the next cycle checks them')
    }
    return undefined
  }

  /**
   * A VM whose adoption failed at start is tried again before it is started
   * or removed (its QEMU may answer now, or be gone): throws the adoption's
   * error (APP_QMP_*) when it still fails, so that neither a second QEMU is
   * started on its disks nor its pid file removed while it may run.
   */
  private async readopt (vm: InventoryVm): Promise<void> {
    if (!this.unadopted.has(vm.definition.name)) return
    const err = await this.adopt(vm)
    if (err !== undefined) throw err
  }

  /** Every VM, in the order they were added, with what its driver says now. */
  async list (): Promise<VmInfo[]> {
    return await Promise.all(this.c.inventory.list().map(async vm => await this.info(vm)))
  }

  /** vmAdd (service/vm-api.ts). */
  async add (request: VmAddRequest): Promise<VmInfo> {
    const name = request.name
    // one add at a time: two adds naming one file by different paths are both checked against the inventory
    return await this.adds.run(async () => {
      if (this.c.inventory.get(name) !== undefined) throw new AppError(AppErrorCode.APP_VM_EXISTS, `a VM named ${name} is already in the inventory`)
      const driver = request.driver ?? 'qemu'
      const paths = Array.isArray(request.disks) ? request.disks : []
      // shape first (absolute paths, ranges), so nothing is probed for a request that cannot be added
      const shape = checkVmDefinition(definitionOf(request, paths.map(path => ({ path, format: 'raw' }))))
      const identities: string[] = []
      const disks: Array<{ path: string, format: 'raw' | 'qcow2' }> = []
      for (const [i, d] of shape.disks.entries()) {
        const st = await diskStats(d.path, `disks[${i}]`)
        const id = identity(st)
        const twin = identities.indexOf(id)
        if (twin >= 0) throw new AppError(AppErrorCode.APP_VM_INVALID, `VM definition: disks[${i}].path names the same file as disks[${twin}].path`, { details: { field: `disks[${i}].path` } })
        identities.push(id)
        disks.push({ path: d.path, format: await probeFormat(d.path, i) })
      }
      await this.refuseTakenFiles(identities, shape.disks.map(d => d.path))
      const definition = checkVmDefinition(definitionOf(request, disks))
      const added = await this.c.inventory.add({ driver, definition, addedAt: (this.c.now ?? Date.now)() })
      this.c.logger.info({ vm: name, driver, disks: disks.map(d => d.path) }, 'VM added')
      await this.event({ kind: 'vm-added', vm: name, reason: `VM added (${driver} driver, ${plural(disks.length, 'disk')})`, data: { driver, disks: disks.length } })
      return await this.info(added)
    })
  }

  /** vmStart: through the VM's driver; the manual driver refuses (APP_VM_NOT_MANAGED) before anything is logged. */
  async start (name: string): Promise<VmInfo> {
    return await this.queued(name, async () => {
      const vm = this.require(name)
      const driver = this.c.drivers[vm.driver]
      // a driver without lifecycle refuses (APP_VM_NOT_MANAGED, its own message): nothing was tried, so no event
      if (!driver.capabilities(vm.definition).lifecycle) await driver.start(vm.definition)
      await this.readopt(vm)
      const begin = await this.c.events.begin({ kind: 'vm-start', vm: name, reason: 'start requested' })
      try {
        const status = await driver.start(vm.definition)
        this.watch(vm)
        await clearStopped(this.c.vmRuns, name)
        this.c.logger.info({ vm: name, pid: status.pid, accel: status.accel, reason: status.reason }, 'VM started')
        await this.c.events.end(begin.seq, { outcome: 'ok', reason: status.reason, data: { pid: status.pid ?? null, accel: status.accel ?? null } })
      } catch (err) {
        this.c.logger.warn({ vm: name, code: codeOf(err), err }, 'VM start failed')
        await this.c.events.end(begin.seq, { outcome: 'failed', code: codeOf(err), reason: (err as Error).message })
        throw err
      }
      return await this.info(this.require(name))
    })
  }

  /** vmStop: through the VM's driver, refused (not forced) when the guest does not shut down in time unless `force`. */
  async stop (name: string, request: VmStopRequest = {}): Promise<VmInfo> {
    const vm = this.require(name)
    const driver = this.c.drivers[vm.driver]
    // as in start: the driver's own refusal, before any event
    if (!driver.capabilities(vm.definition).lifecycle) await driver.stop(vm.definition)
    const timeoutMs = request.timeoutMs
    if (timeoutMs !== undefined && (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_VM_STOP_WINDOW_MS)) {
      throw new AppError(AppErrorCode.APP_USAGE, `the stop's window must be 1 ms to ${MAX_VM_STOP_WINDOW_MS} ms`)
    }
    const force = request.force === true
    const begin = await this.c.events.begin({ kind: 'vm-stop', vm: name, reason: force ? 'forced stop requested' : 'stop requested' })
    this.stopping.add(name)
    try {
      // marked before the stop, so a daemon killed in the middle still knows the VM was meant to stop
      await markStopped(this.c.vmRuns, name, force ? 'forced stop requested' : 'stop requested')
      const status = await driver.stop(vm.definition, { force, ...(timeoutMs === undefined ? {} : { timeoutMs }) })
      this.c.logger.info({ vm: name, state: status.state, reason: status.reason }, 'VM stopped')
      await this.c.events.end(begin.seq, { outcome: 'ok', reason: status.reason, data: { state: status.state } })
    } catch (err) {
      if (ACTIVE.has((await driver.status(vm.definition).catch(() => ({ state: 'unknown' }))).state)) await clearStopped(this.c.vmRuns, name).catch(() => undefined)
      this.c.logger.warn({ vm: name, code: codeOf(err), err }, 'VM stop failed')
      await this.c.events.end(begin.seq, { outcome: 'failed', code: codeOf(err), reason: (err as Error).message })
      throw err
    } finally {
      this.stopping.delete(name)
    }
    return await this.info(vm)
  }

  /**
   * The daemon stops: the drivers let go of their VMs without stopping
   * them (VmDriver.release: they run on, and the next start adopts them),
   * and ends seen from now on are not logged. Idempotent.
   */
  release (): void {
    this.released = true
    for (const driver of Object.values(this.c.drivers)) driver.release()
  }

  /**
   * Logs how a VM's current run ends when no stop through this daemon ended
   * it: a crash (QEMU killed, aborted) or a guest that powered itself off
   * (`vm-exited`, with the driver's reason).
   */
  private watch (vm: InventoryVm): void {
    const name = vm.definition.name
    void this.c.drivers[vm.driver].exited(vm.definition).then(async status => {
      if (this.released || this.stopping.has(name)) return
      this.c.logger.warn({ vm: name, state: status.state, reason: status.reason }, `VM ${status.state}`)
      // a guest that powered itself off was stopped on purpose; a crash was not
      if (status.state === 'stopped') await markStopped(this.c.vmRuns, name, status.reason ?? 'the guest powered off').catch(() => undefined)
      await this.event({ kind: 'vm-exited', vm: name, reason: status.reason, data: { state: status.state } })
    })
  }

  /** vmRemove: refused while a qemu VM runs or a relationship protects it; forgets the VM and its qemu folder, never its disks. */
  async remove (name: string): Promise<VmRemoveResult> {
    return await this.queued(name, async () => {
      const vm = this.require(name)
      const rel = this.c.relationships.byVm(name)
      if (rel !== undefined) {
        throw new AppError(AppErrorCode.APP_VM_PROTECTED, `relationship ${rel.id} (${rel.role}, peer ${rel.peer}) protects VM ${name}: remove it first with \`tandem replication remove ${name}\``, { details: { name, relationship: rel.id } })
      }
      await this.readopt(vm)
      const status = await this.c.drivers[vm.driver].status(vm.definition)
      if (ACTIVE.has(status.state)) {
        throw new AppError(AppErrorCode.APP_VM_RUNNING, `VM ${name} is ${status.state} under Tandem: stop it first with \`tandem vm stop ${name}\``, { details: { name, state: status.state } })
      }
      await this.c.inventory.remove(name)
      // its run files, tracking states and default sidecars: metadata of a VM this box no longer knows (a name added again starts afresh)
      if (vm.driver === 'qemu') await rm(join(this.c.vmRuns, name), { recursive: true, force: true })
      this.c.logger.info({ vm: name }, 'VM removed; its disks are untouched')
      await this.event({ kind: 'vm-removed', vm: name, reason: 'VM removed from the inventory; its disks are untouched' })
      return { name, removed: true }
    })
  }

  /** APP_DISK_TAKEN when one of the files (by device and inode, whatever the path) is a disk of a VM already in the inventory. */
  private async refuseTakenFiles (identities: string[], paths: string[]): Promise<void> {
    for (const other of this.c.inventory.list()) {
      for (const d of other.definition.disks) {
        const st = await stat(d.path).catch(() => undefined)
        const i = st === undefined ? -1 : identities.indexOf(identity(st))
        if (i >= 0) throw new AppError(AppErrorCode.APP_DISK_TAKEN, `disk ${paths[i]!} is ${d.path}, a disk of VM ${other.definition.name}`, { details: { path: paths[i]!, vm: other.definition.name } })
      }
    }
  }

  private require (name: string): InventoryVm {
    const vm = this.c.inventory.get(name)
    if (vm === undefined) throw new AppError(AppErrorCode.APP_VM_NOT_FOUND, `no VM named ${String(name).slice(0, 64)} in the inventory (tandem vm list)`, { details: { name } })
    return vm
  }

  private async info (vm: InventoryVm): Promise<VmInfo> {
    const def = vm.definition
    const status = await this.c.drivers[vm.driver].status(def)
    const rel = this.c.relationships.byVm(def.name)
    const left = status.state === 'stopped' ? this.unadopted.get(def.name) : undefined
    return {
      name: def.name,
      driver: vm.driver,
      state: left === undefined ? status.state : 'unknown',
      reason: left ?? status.reason,
      since: isoTime(status.since),
      pid: status.pid ?? null,
      accel: status.accel ?? null,
      cpus: def.vcpus,
      memoryMiB: def.memoryMiB,
      guestAgent: def.guestAgent,
      disks: await Promise.all(def.disks.map(async d => await this.sizes.diskInfo(d))),
      nics: def.nics.map(n => ({ id: n.id, mode: n.mode, bridge: n.bridge ?? null, mac: n.mac ?? null })),
      boot: def.boot === undefined ? null : { kernel: def.boot.kernel, initrd: def.boot.initrd ?? null, append: def.boot.append ?? null },
      relationship: rel === undefined ? null : { id: rel.id, role: rel.role, peer: rel.peer, state: rel.state },
      addedAt: isoTime(vm.addedAt)
    }
  }

  /** Runs `work` after every earlier change of VM `name`. */
  private async queued<T> (name: string, work: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(name) ?? Promise.resolve()).then(work)
    const tail = run.catch(() => undefined)
    this.queues.set(name, tail)
    void tail.then(() => { if (this.queues.get(name) === tail) this.queues.delete(name) })
    return await run
  }

  /** Appends an event; a log that cannot be written is logged, never the operation's failure (it already happened). */
  private async event (input: Parameters<EventLog['append']>[0]): Promise<void> {
    await this.c.events.append(input).catch((err: unknown) => { this.c.logger.error({ err, kind: input.kind, vm: input.vm }, 'could not write an event') })
  }
}
