/**
 * Planned failover, on the primary (docs/failover.md "Planned failover"):
 * (1) the VM shut down (guest agent or ACPI within a window; refused rather
 * than powered off unless `force`; a manual VM must be stopped by its own
 * hypervisor: its disks are checked free), (2) one last cycle of the quiet
 * disks (crash-consistent of a stopped disk is exact), the relationship
 * prepared-for-planned-failover, (3) the Replica told (`planned-failover`
 * with the final point's root): it fails over to that point at term + 1,
 * starts the VM, makes its disks local and reverses replication, which
 * makes this box its Replica (demotion.ts) with no full copy.
 * Each step is timed and logged; a failure says what happened and what to
 * run next.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { TandemNode } from '../../p2p/node/index.ts'
import { sendPlannedFailover } from '../../p2p/relationship/index.ts'
import type { VmDriver } from '../drivers/index.ts'
import { diskInUse } from '../drivers/manual/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { CycleRecord, EventLog } from '../events/index.ts'
import type { DriverKind, InventoryVm, VmInventory } from '../inventory/index.ts'
import type { JobRegistry } from '../jobs/index.ts'
import type { Relationship, RelationshipTable } from '../relationships/index.ts'
import type { FailoverCancelResult, JobInfo, PlannedInfo, PlannedPlanInfo, PlannedPlanRequest, PlannedRequest, PlanFacts } from '../service/index.ts'
import { MAX_PLANNED_SHUTDOWN_WINDOW_MS, MIN_PLANNED_SHUTDOWN_WINDOW_MS, PLANNED_SHUTDOWN_WINDOW_MS, REVERSE_REQUEST_TIMEOUT_MS } from './constants.ts'
import { codeOf, type FailoverVms, type FailoversLog } from './failover-work.ts'

export interface PlannedFailoversInit {
  node: Pick<TandemNode, 'dialProtocol'>
  relationships: Pick<RelationshipTable, 'get' | 'byVm'>
  inventory: Pick<VmInventory, 'get'>
  drivers: Readonly<Record<DriverKind, VmDriver>>
  vms: FailoverVms
  /** The primary's replication (PrimaryReplication). */
  primary: {
    finalCycle: (id: string, after: number, signal: AbortSignal) => Promise<{ record: CycleRecord, root: string }>
    prepare: (id: string, reason: string) => Promise<Relationship>
    unprepare: (id: string, reason: string) => Promise<Relationship>
  }
  jobs: JobRegistry
  peerName: (peer: string) => string
  events: EventLog
  logger: FailoversLog
  now: () => number
}

const ACTIVE = new Set(['starting', 'running', 'paused', 'stopping'])
const iso = (ms: number): string => new Date(ms).toISOString()

export class PlannedFailovers {
  private readonly init: PlannedFailoversInit
  /** The final point handed over, by relationship: a resumed planned failover sends it again. */
  private readonly finals = new Map<string, { root: string, time: number }>()

  constructor (init: PlannedFailoversInit) {
    this.init = init
  }

  /** What `failover planned` (or `failover cancel` on the primary) would do, checked the same way. */
  async plan (name: string, request: PlannedPlanRequest = {}): Promise<PlanFacts<PlannedPlanInfo>> {
    const action = request.action ?? 'planned'
    const { rel, vm, windowMs } = action === 'cancel' ? { ...this.prepared(name), windowMs: this.window(request) } : this.check(name, request)
    const status = await this.init.drivers[vm.driver].status(vm.definition)
    const shutdown = vm.driver === 'manual' ? 'manual' : ACTIVE.has(status.state) ? 'shutdown' : 'stopped'
    return {
      action,
      relationship: rel.id,
      vm: rel.vm,
      replica: this.init.peerName(rel.peer),
      state: rel.state,
      term: rel.term,
      termAfter: rel.term + 1,
      driver: vm.driver,
      vmState: status.state,
      shutdown,
      shutdownWindowMs: windowMs,
      force: request.force === true,
      lastPointTime: rel.lastPointAt === undefined ? null : iso(rel.lastPointAt),
      resumes: rel.state === 'prepared-for-planned-failover',
      startsVm: action === 'cancel' && vm.driver === 'qemu' && shutdown === 'stopped'
    }
  }

  /** FailoverApi.failoverPlanned: the job `failover-planned`. */
  async planned (name: string, request: PlannedRequest = {}): Promise<JobInfo> {
    const { rel, vm, windowMs } = this.check(name, request)
    if (this.init.jobs.running('failover-planned', rel.vm) !== undefined) throw new AppError(AppErrorCode.APP_INVALID_STATE, `a planned failover of ${rel.vm} runs`, { details: { state: rel.state, input: 'prepare-planned' } })
    const who = this.init.peerName(rel.peer)
    return await this.init.jobs.start({
      kind: 'failover-planned',
      vm: rel.vm,
      relationship: rel.id,
      reason: `planned failover of ${rel.vm} to ${who}: shut down, last cycle, handover`,
      work: async ctx => {
        const info = await this.run(rel, vm, windowMs, request.force === true, ctx.signal)
        return {
          result: { kind: 'planned', result: info },
          reason: info.reason,
          data: { term: info.term, root: info.point.root, bytesSent: info.bytesSent, ...info.timings }
        }
      }
    })
  }

  /**
   * `failover cancel` on the primary: a prepared planned failover given up
   * (the Replica did not take it: its refusal, or it was unreachable), back
   * to replicating; a qemu VM is started again. APP_INVALID_STATE when not prepared.
   */
  async cancel (name: string): Promise<FailoverCancelResult> {
    const { rel, vm } = this.prepared(name)
    await this.init.primary.unprepare(rel.id, 'planned failover cancelled on the primary: replicating again from this box')
    let vmStarted = false
    if (vm.driver === 'qemu' && !ACTIVE.has((await this.init.drivers.qemu.status(vm.definition)).state)) {
      await this.init.vms.start(rel.vm)
      vmStarted = true
    }
    this.finals.delete(rel.id)
    await this.note(rel, `planned failover of ${rel.vm} cancelled: replicating again from this box${vmStarted ? `; ${rel.vm} started again` : ''}`, undefined, 'failover-cancel')
    return { relationship: rel.id, vm: rel.vm, point: null, term: rel.term, kind: 'planned', cancelled: true, vmStarted }
  }

  /** The relationship this box is the primary of, in a state a planned failover starts from, and its VM. */
  private check (name: string, request: PlannedRequest): { rel: Relationship, vm: InventoryVm, windowMs: number } {
    const rel = this.primaryOf(name)
    if (rel.state !== 'replicating' && rel.state !== 'prepared-for-planned-failover') {
      throw new AppError(AppErrorCode.APP_INVALID_STATE, `${rel.vm} is ${rel.state}: a planned failover starts from replicating (${rel.reason})`, { details: { state: rel.state, input: 'prepare-planned' } })
    }
    const vm = this.init.inventory.get(rel.vm)
    if (vm === undefined) throw new AppError(AppErrorCode.APP_VM_NOT_FOUND, `${rel.vm} is not in this box's inventory`)
    return { rel, vm, windowMs: this.window(request) }
  }

  private prepared (name: string): { rel: Relationship, vm: InventoryVm } {
    const rel = this.primaryOf(name)
    if (rel.state !== 'prepared-for-planned-failover') throw new AppError(AppErrorCode.APP_INVALID_STATE, `no planned failover of ${rel.vm} is prepared (it is ${rel.state}): nothing to cancel`, { details: { state: rel.state, input: 'cancel' } })
    const vm = this.init.inventory.get(rel.vm)
    if (vm === undefined) throw new AppError(AppErrorCode.APP_VM_NOT_FOUND, `${rel.vm} is not in this box's inventory`)
    return { rel, vm }
  }

  /** Whether `name` names a relationship this box is the primary of (a cancel on the primary is this module's). */
  isPrimary (name: string): boolean {
    return (this.init.relationships.byVm(name) ?? this.init.relationships.get(name))?.role === 'primary'
  }

  private primaryOf (name: string): Relationship {
    const rel = this.init.relationships.byVm(name) ?? this.init.relationships.get(name)
    if (rel === undefined) throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `this box holds no relationship ${name.slice(0, 80)}`)
    if (rel.role !== 'primary') throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `this box is the Replica of ${rel.vm}: a planned failover starts on its primary (${this.init.peerName(rel.peer)})`)
    return rel
  }

  private window (request: PlannedRequest): number {
    const w = request.timeoutMs ?? PLANNED_SHUTDOWN_WINDOW_MS
    if (!Number.isSafeInteger(w) || w < MIN_PLANNED_SHUTDOWN_WINDOW_MS || w > MAX_PLANNED_SHUTDOWN_WINDOW_MS) {
      throw new AppError(AppErrorCode.APP_USAGE, `the shut-down window must be ${MIN_PLANNED_SHUTDOWN_WINDOW_MS} ms to ${MAX_PLANNED_SHUTDOWN_WINDOW_MS} ms`)
    }
    return w
  }

  private async run (rel: Relationship, vm: InventoryVm, windowMs: number, force: boolean, signal: AbortSignal): Promise<PlannedInfo> {
    const timings: PlannedInfo['timings'] = { shutdownMs: null, finalCycleMs: null, handoverMs: null }
    const who = this.init.peerName(rel.peer)
    let final = this.finals.get(rel.id)
    let bytesSent = 0
    if (rel.state !== 'prepared-for-planned-failover' || final === undefined) {
      // (1) the VM stopped: a failure here changed nothing, replication goes on
      let t = performance.now()
      await this.shutDown(vm, windowMs, force)
      timings.shutdownMs = Math.round(performance.now() - t)
      await this.note(rel, `planned failover of ${rel.vm}: the VM is stopped (${timings.shutdownMs} ms); sending its last changes`)
      // (2) the last cycle of the quiet disks; the state prepared
      t = performance.now()
      const after = this.init.now()
      let last: { record: CycleRecord, root: string }
      try {
        last = await this.init.primary.finalCycle(rel.id, after, signal)
      } catch (err) {
        await this.note(rel, `planned failover of ${rel.vm}: the last cycle failed (${codeOf(err)}); ${rel.vm} stays stopped and replication goes on: start it again (tandem vm start ${rel.vm}) or run the planned failover again`, codeOf(err))
        throw err
      }
      timings.finalCycleMs = Math.round(performance.now() - t)
      bytesSent = last.record.bytesSent
      final = { root: last.root, time: last.record.start }
      this.finals.set(rel.id, final)
      await this.init.primary.prepare(rel.id, `prepared for planned failover: ${rel.vm} is shut down and its last changes are on ${who} (point ${last.root.slice(0, 12)}, ${iso(final.time)}); handing over`)
    }
    // (3) the handover: the Replica fails over to the final point and reverses replication
    const t = performance.now()
    const held = this.init.relationships.get(rel.id) ?? rel
    try {
      await sendPlannedFailover(this.init.node, peerIdFromString(rel.peer), { relationship: rel.id, term: held.term, root: final.root }, { signal, timeoutMs: REVERSE_REQUEST_TIMEOUT_MS })
    } catch (err) {
      const code = codeOf(err)
      await this.init.primary.prepare(rel.id, `prepared for planned failover, but ${who} did not take it (${code}): run tandem failover planned ${rel.vm} again, or tandem failover cancel ${rel.vm} to start it here again`).catch(() => undefined)
      throw err
    }
    timings.handoverMs = Math.round(performance.now() - t)
    this.finals.delete(rel.id)
    const reason = `planned failover of ${rel.vm}: ${who} took the final point (${final.root.slice(0, 12)}) at term ${held.term + 1} and starts the VM; it reverses replication next, which makes this box its Replica (tandem replication status ${rel.vm})`
    this.init.logger.warn({ relationship: rel.id, vm: rel.vm, ...timings }, 'planned failover handed over')
    return { relationship: rel.id, vm: rel.vm, replica: who, term: held.term + 1, point: { root: final.root, time: iso(final.time) }, bytesSent, timings, reason }
  }

  /** Stops the VM: a qemu VM shut down within the window (powered off with `force`), a manual VM's disks checked free. */
  private async shutDown (vm: InventoryVm, windowMs: number, force: boolean): Promise<void> {
    const name = vm.definition.name
    if (vm.driver === 'manual') {
      for (const d of vm.definition.disks) {
        const use = await diskInUse(d.path, d.format)
        if (use.inUse) throw new AppError(AppErrorCode.APP_DISK_IN_USE, `a process holds the disk ${d.name} of ${name} (${use.reason}): shut the VM down in its hypervisor, then run the planned failover again`)
      }
      return
    }
    const status = await this.init.drivers[vm.driver].status(vm.definition)
    if (!ACTIVE.has(status.state)) return
    // without force a guest still up after the window keeps running, and this throws APP_VM_STOP_TIMEOUT
    await this.init.vms.stop(name, { force, timeoutMs: windowMs })
  }

  /** An event (`failover-planned` by default) and a log line; never throws. */
  private async note (rel: Relationship, reason: string, code?: string, kind = 'failover-planned-step'): Promise<void> {
    this.init.logger[code === undefined ? 'info' : 'warn']({ relationship: rel.id, vm: rel.vm, code }, reason)
    await this.init.events.append({ kind, relationship: rel.id, vm: rel.vm, reason, ...(code === undefined ? {} : { code }) }).catch(() => undefined)
  }
}
