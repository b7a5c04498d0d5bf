/**
 * The primary side of replication in the daemon (docs/replication.md):
 * enabling, suspending, resuming, resynchronizing and removing a
 * relationship, and the cycles the scheduler runs for it. Every change of
 * state goes through the pure state machine and is an event in the log;
 * every cycle is a `cycle` work item in the log whose end carries its
 * record (measure, health and the figures read them back).
 */
import { mkdir, open, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { DEFAULT_BLOCK_SIZE } from '../../core/constants.ts'
import { diskRoot } from '../../core/manifest.ts'
import { ScanPool } from '../../core/scan/index.ts'
import { P2pErrorCode } from '../../p2p/errors.ts'
import type { TandemNode } from '../../p2p/node/index.ts'
import { sendOffer, sendRemove, sendUpdate, type ProtectedVm, type RelationshipDescription } from '../../p2p/relationship/index.ts'
import { MAX_BATCH_DATA_BYTES, RateLimiter } from '../../p2p/replication/index.ts'
import type { VmDriver } from '../drivers/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { CYCLE_KIND, cycleEndInput, cycleRecordsFrom, missedIntervals, relationshipStatus, stateEventInput, type CycleRecord, type EventLog } from '../events/index.ts'
import type { DriverKind, InventoryVm, VmInventory } from '../inventory/index.ts'
import type { PeerRegistry } from '../peers/index.ts'
import {
  newRelationship, parseSettings, transitionOrThrow, type Relationship, type RelationshipSettings, type RelationshipTable, type TransitionInput
} from '../relationships/index.ts'
import { IN_FLIGHT_FILE } from '../replication/primary-state.ts'
import { rememberReplicaAddresses, restoreReplicaAddresses } from '../replication/replica-addresses.ts'
import { replicateToPeer, type ReplicateToPeerInit } from '../replication/replicate-to-peer.ts'
import { isNetworkFailure, type Scheduler } from '../scheduler/index.ts'
import type { ReplicationEnableRequest, ReplicationInfo, ReplicationMeasureInfo, ReplicationRemoveResult } from '../service/replication-types.ts'
import type { Logger } from './logger.ts'

export interface PrimaryReplicationInit {
  node: TandemNode
  registry: PeerRegistry
  inventory: VmInventory
  relationships: RelationshipTable
  events: EventLog
  drivers: Readonly<Record<DriverKind, VmDriver>>
  scheduler: Scheduler
  /** `DATA/primary`: one state directory per relationship (docs/primary-state.md). */
  primaryDir: string
  logger: Logger
  now: () => number
  /** Block size of new recovery points (default core's DEFAULT_BLOCK_SIZE). */
  blockSize?: number
  /** Threads hashing and compressing disks (default 2: a box runs few cycles at once). */
  scanThreads?: number
  /** Milliseconds the scan threads outlive their last task (default SCAN_THREADS_IDLE_MS). */
  scanIdleMs?: number
}

/** The wait for the Replica's answer to an offer, update or removal: it records durably first, which takes under a second. */
export const TIMEOUT_RELATIONSHIP_REQUEST_MS = 30_000
/** The longest `untrackedReason` a cycle's end records: the event log keeps data strings under 500 characters. */
const MAX_UNTRACKED_REASON = 400
/** Scan threads by default: cycles of one box share them, and the rest of the machine runs the VMs. */
export const DEFAULT_SCAN_THREADS = 2
/**
 * The scan threads end after this long without a task (each held ~16 MiB:
 * its heap, read buffer, compression arena and zstd contexts); the next
 * cycle that reads blocks starts them again, ~35 ms on 2 cores
 * (docs/benchmarks.md "Memory of the daemon"). Long enough for the cycles
 * of one round (the disks of one VM, the relationships due together) to
 * share them; a box whose relationships cycle every few minutes holds no
 * thread in between. An idle tracked cycle reads nothing and starts none.
 */
export const SCAN_THREADS_IDLE_MS = 10_000

/** The states whose relationship has a schedule (suspended ones have one that waits). */
const SCHEDULED = new Set(['waiting-initial-replication', 'replicating', 'suspended', 'resynchronization-required', 'resynchronizing', 'error'])

const iso = (ms: number | null | undefined): string | null => ms === null || ms === undefined ? null : new Date(ms).toISOString()

/** The setting `initial` as the operator writes it. */
function initialText (s: RelationshipSettings): string {
  const i = s.initial
  if (typeof i === 'string') return i
  return 'at' in i ? `at:${new Date(i.at).toISOString()}` : `seed:${i.seed}`
}

/** Bytes of a disk image as the guest sees it: the file size of a raw image, the virtual size in a qcow2 header. */
async function diskSize (path: string, format: 'raw' | 'qcow2'): Promise<number> {
  if (format === 'raw') return (await stat(path)).size
  const h = await open(path, 'r')
  try {
    const header = Buffer.alloc(32)
    await h.read(header, 0, 32, 0)
    return Number(header.readBigUInt64BE(24))
  } finally {
    await h.close()
  }
}

/** What the Replica is told of the VM: its shape, never its paths. */
async function protectedVm (vm: InventoryVm): Promise<ProtectedVm> {
  const def = vm.definition
  const disks = []
  for (const d of def.disks) disks.push({ name: d.name, size: await diskSize(d.path, d.format), format: d.format })
  return {
    name: def.name,
    driver: vm.driver,
    vcpus: def.vcpus,
    memoryMiB: def.memoryMiB,
    boot: vm.driver === 'manual' ? null : def.boot === undefined ? 'bios' : 'kernel',
    disks,
    // the device model qemu-args.ts gives every NIC; a manual VM's NICs are whatever its hypervisor made, and it has none listed
    nics: def.nics.map(() => ({ model: 'virtio-net-pci' }))
  }
}

async function description (rel: Relationship, vm: InventoryVm): Promise<RelationshipDescription> {
  const s = rel.settings
  const i = s.initial
  return {
    relationship: rel.id,
    term: rel.term,
    suspended: rel.state === 'suspended',
    vm: await protectedVm(vm),
    settings: {
      frequency: s.frequency,
      recoveryPoints: s.recoveryPoints,
      appConsistentEvery: s.appConsistentEvery,
      bandwidth: s.bandwidth,
      initial: typeof i === 'string' ? { mode: i } : 'at' in i ? { mode: 'at', at: i.at } : { mode: 'seed' }
    }
  }
}

/** The record's failure class: the link (the cycle resumes) or anything else. */
const failureOf = (err: unknown): 'network' | 'replication' => isNetworkFailure(err) || (err as { code?: unknown }).code === P2pErrorCode.P2P_PEER_UNREACHABLE ? 'network' : 'replication'
const codeOf = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : AppErrorCode.APP_UNEXPECTED
}

/**
 * The primary's replication: one schedule per relationship this box is the
 * primary of, cycles through the VM's driver to the Replica. start() picks
 * up every relationship where it stood (after a restart or kill -9 a cycle
 * in flight resumes from `DATA/primary/<relationship>/`); stop() ends the
 * schedules (a cycle in flight is aborted and stays resumable) and the scan
 * pool. Changes to one relationship run one at a time.
 */
export class PrimaryReplication {
  private readonly init: PrimaryReplicationInit
  private readonly pool: ScanPool
  private readonly blockSize: number
  /** One limiter per Replica, shared by its relationships' cycles (the bandwidth setting of each relationship caps its own). */
  private readonly limiters = new Map<string, { rate: number, limiter: RateLimiter }>()
  /** When each relationship last asked for an app-consistent point (ms; the interval counts from it), from the log at start. */
  private readonly lastApp = new Map<string, number>()
  private readonly changing = new Map<string, Promise<unknown>>()
  /** Cycles scanning and sending now (scanning()). */
  private cyclesRunning = 0
  private readonly listeners = new Set<(relationship: string, record: CycleRecord) => void>()

  /** The scan threads, read-only for what watches them (tests; their count is the memory they hold). */
  get scanPool (): Pick<ScanPool, 'threadCount' | 'spareCount'> {
    return this.pool
  }

  constructor (init: PrimaryReplicationInit) {
    this.init = init
    this.blockSize = init.blockSize ?? DEFAULT_BLOCK_SIZE
    this.pool = new ScanPool({ threads: init.scanThreads ?? DEFAULT_SCAN_THREADS, idleTimeoutMs: init.scanIdleMs ?? SCAN_THREADS_IDLE_MS })
  }

  /** Schedules every relationship this box is the primary of, each where it stood. */
  async start (): Promise<void> {
    const events = (await this.init.events.read()).events
    for (const rel of this.init.relationships.list()) {
      if (rel.role !== 'primary' || !SCHEDULED.has(rel.state)) continue
      const app = cycleRecordsFrom(events.filter(e => e.relationship === rel.id)).filter(c => c.appConsistentRequested).at(-1)
      if (app !== undefined) this.lastApp.set(rel.id, app.start)
      await this.schedule(rel)
    }
  }

  /**
   * Calls `listener` after each cycle that succeeded or failed, once its
   * record is in the log and its transition applied (a live view, a test's
   * wait). Returns the unsubscribe. A listener that throws is ignored.
   */
  onCycle (listener: (relationship: string, record: CycleRecord) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  async stop (): Promise<void> {
    for (const rel of this.init.relationships.list()) if (rel.role === 'primary') await this.init.scheduler.remove(rel.id)
    await this.pool.stop()
  }

  async enable (name: string, request: ReplicationEnableRequest): Promise<ReplicationInfo> {
    return await this.serial(name, async () => {
      const { inventory, relationships, registry } = this.init
      const settings = parseSettings(request)
      if (typeof settings.initial === 'object' && 'seed' in settings.initial) {
        throw new AppError(AppErrorCode.APP_INITIAL_UNSUPPORTED, 'initial replication from a seed file is not available yet: use --initial now, at:TIME or existing')
      }
      const vm = inventory.get(name)
      if (vm === undefined) throw new AppError(AppErrorCode.APP_VM_NOT_FOUND, `no VM named ${name} in this box's inventory`)
      const peers = registry.list().filter(p => p.peerId === request.to || p.name === request.to)
      if (peers.length !== 1) throw new AppError(AppErrorCode.APP_PEER_NOT_FOUND, peers.length === 0 ? `${request.to} is not a paired box` : `${peers.length} paired boxes are named ${request.to}: give its peer id`)
      if (relationships.byVm(name) !== undefined || relationships.get(name) !== undefined) throw new AppError(AppErrorCode.APP_RELATIONSHIP_EXISTS, `VM ${name} is already replicated; remove that first`)
      const now = this.init.now()
      const { next, event } = transitionOrThrow(newRelationship({ id: name, vm: name, role: 'primary', peer: peers[0]!.peerId, settings }, now), { kind: 'enable' }, now)
      // The Replica records the offer first: its refusal leaves nothing behind here.
      await sendOffer(this.init.node, peerIdFromString(next.peer), await description(next, vm), { timeoutMs: TIMEOUT_RELATIONSHIP_REQUEST_MS })
      // A fresh start: no state of an earlier relationship of the same id is resumed.
      await rm(join(this.init.primaryDir, next.id), { recursive: true, force: true })
      await mkdir(join(this.init.primaryDir, next.id), { recursive: true, mode: 0o700 })
      await rememberReplicaAddresses(join(this.init.primaryDir, next.id), this.init.node, peerIdFromString(next.peer))
      await relationships.put(next)
      if (event !== null) await this.init.events.append(stateEventInput(next, event))
      this.init.logger.info({ relationship: next.id, peer: next.peer }, 'replication enabled')
      await this.schedule(next)
      return this.info(next, [])
    })
  }

  /**
   * The relationships this box is the primary of (or only `name`'s), with
   * the health their cycle records give. Replica relationships have no
   * cycle records here: they are the ReplicaSide's (`replicaStatus`), and a
   * name held only as Replica is APP_RELATIONSHIP_NOT_FOUND.
   */
  async status (name?: string): Promise<ReplicationInfo[]> {
    const rels = name === undefined ? this.init.relationships.list().filter(r => r.role === 'primary') : [this.primaryOf(name)]
    // One read of the log for all of them: it may hold megabytes.
    const events = (await this.init.events.read(name === undefined ? {} : { relationship: rels[0]!.id })).events
    return rels.map(rel => this.info(rel, cycleRecordsFrom(events.filter(e => e.relationship === rel.id))))
  }

  /** The monitoring window's figures of the relationship of VM `name` this box is the primary of (its cycle records are here). */
  async measure (name: string): Promise<ReplicationMeasureInfo> {
    const rel = this.primaryOf(name)
    const s = relationshipStatus({ rel, cycles: await this.cycles(rel.id), now: this.init.now(), pendingBytes: 0 })
    const m = s.measure
    return {
      relationship: rel.id,
      vm: rel.vm,
      windowStart: iso(m.windowStart)!,
      windowEnd: iso(m.windowEnd)!,
      successCount: m.successCount,
      missCount: m.missCount,
      averageLatencyMs: m.averageLatencyMs,
      maxLatencyMs: m.maxLatencyMs,
      averageSizeBytes: m.averageSizeBytes,
      maxSizeBytes: m.maxSizeBytes,
      pendingSizeBytes: m.pendingSizeBytes,
      networkFailureCount: m.networkFailureCount,
      replicationFailureCount: m.replicationFailureCount,
      appConsistentFailureCount: m.appConsistentFailureCount,
      lastReplicationTime: iso(m.lastReplicationTime)
    }
  }

  async suspend (name: string): Promise<ReplicationInfo> {
    return await this.change(name, { kind: 'suspend' }, rel => { this.init.scheduler.get(rel.id)?.suspend() })
  }

  async resume (name: string): Promise<ReplicationInfo> {
    return await this.change(name, { kind: 'resume' }, async rel => {
      const schedule = this.init.scheduler.get(rel.id)
      if (schedule === undefined) await this.schedule(rel)
      else { schedule.resume(); schedule.runNow() }
    })
  }

  async resync (name: string): Promise<ReplicationInfo> {
    return await this.change(name, { kind: 'resync-start', reason: 'resynchronization asked by the operator: comparing block hashes on both boxes, sending only the blocks that differ' }, rel => {
      this.init.scheduler.get(rel.id)?.runNow()
    })
  }

  async remove (name: string): Promise<ReplicationRemoveResult> {
    // The schedule ends first, outside the queue: a cycle ending meanwhile records itself through the queue.
    await this.init.scheduler.remove(this.primaryRelationship(name).id)
    return await this.serial(name, async () => {
      const rel = this.primaryRelationship(name)
      const now = this.init.now()
      const { event } = transitionOrThrow(rel, { kind: 'remove' }, now)
      let replicaTold = true
      try {
        await restoreReplicaAddresses(join(this.init.primaryDir, rel.id), this.init.node, peerIdFromString(rel.peer))
        await sendRemove(this.init.node, peerIdFromString(rel.peer), { relationship: rel.id, term: rel.term }, { timeoutMs: TIMEOUT_RELATIONSHIP_REQUEST_MS })
      } catch (err) {
        // Already gone there is done; an unreachable Replica still keeps its points, and learns of the removal when it asks.
        replicaTold = (err as { code?: unknown }).code === P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN
        if (!replicaTold) this.init.logger.warn({ relationship: rel.id, code: codeOf(err) }, 'replication removed; the Replica could not be told')
      }
      await this.init.relationships.remove(rel.id)
      await rm(join(this.init.primaryDir, rel.id), { recursive: true, force: true })
      if (event !== null) await this.init.events.append(stateEventInput(rel, event))
      this.init.logger.info({ relationship: rel.id }, 'replication removed')
      return { relationship: rel.id, vm: rel.vm, removed: true, replicaTold }
    })
  }

  /** Applies an operator's input, then `after`, and tells the Replica (an unreachable one learns at the next update). */
  private async change (name: string, input: TransitionInput, after: (rel: Relationship) => void | Promise<void>): Promise<ReplicationInfo> {
    return await this.serial(name, async () => {
      const rel = await this.apply(this.primaryRelationship(name).id, input)
      await after(rel)
      await this.tell(rel)
      return this.info(rel, await this.cycles(rel.id))
    })
  }

  /** Sends the whole relationship to the Replica; a failure is logged, never thrown (the next change repeats it). */
  private async tell (rel: Relationship): Promise<void> {
    const vm = this.init.inventory.get(rel.vm)
    if (vm === undefined) return
    try {
      await restoreReplicaAddresses(join(this.init.primaryDir, rel.id), this.init.node, peerIdFromString(rel.peer))
      await sendUpdate(this.init.node, peerIdFromString(rel.peer), await description(rel, vm), { timeoutMs: TIMEOUT_RELATIONSHIP_REQUEST_MS })
    } catch (err) {
      this.init.logger.warn({ relationship: rel.id, code: codeOf(err) }, 'the Replica could not be told of the change')
    }
  }

  /** Runs the state machine on the stored record, stores the result and logs its event. */
  private async apply (id: string, input: TransitionInput): Promise<Relationship> {
    const rel = this.init.relationships.get(id)
    if (rel === undefined) throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `relationship ${id} is gone`)
    const { next, event } = transitionOrThrow(rel, input, this.init.now())
    await this.init.relationships.put(next)
    if (event !== null) await this.init.events.append(stateEventInput(next, event))
    return next
  }

  /** Changes of one VM run one after the other (a cycle's transitions join the same queue). */
  private async serial<T> (key: string, work: () => Promise<T>): Promise<T> {
    const before = this.changing.get(key) ?? Promise.resolve()
    const run = before.catch(() => {}).then(work)
    const tail = run.catch(() => {})
    this.changing.set(key, tail)
    try {
      return await run
    } finally {
      if (this.changing.get(key) === tail) this.changing.delete(key)
    }
  }

  private relationship (name: string): Relationship {
    const rel = this.init.relationships.byVm(name) ?? this.init.relationships.get(name)
    if (rel === undefined) throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `VM ${name} has no replication relationship on this box`)
    return rel
  }

  /** The relationship of VM `name` this box is the primary of, for what only the primary knows (its cycles). */
  private primaryOf (name: string): Relationship {
    const rel = this.relationship(name)
    if (rel.role !== 'primary') throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `this box is the Replica of ${name}, not its primary: see replicaStatus`, { details: { role: rel.role } })
    return rel
  }

  /** The relationship of VM `name` that this box is the primary of: the operator changes replication where it starts. */
  private primaryRelationship (name: string): Relationship {
    const rel = this.relationship(name)
    if (rel.role !== 'primary') throw new AppError(AppErrorCode.APP_INVALID_STATE, `this box is the Replica of ${name}: replication is changed on its primary`, { details: { state: rel.state, role: rel.role } })
    return rel
  }

  private async cycles (id: string): Promise<CycleRecord[]> {
    return cycleRecordsFrom((await this.init.events.read({ relationship: id })).events)
  }

  private info (rel: Relationship, cycles: CycleRecord[]): ReplicationInfo {
    const s = relationshipStatus({ rel, cycles, now: this.init.now(), pendingBytes: 0 })
    const schedule = this.init.scheduler.get(rel.id)
    return {
      relationship: rel.id,
      vm: rel.vm,
      role: rel.role,
      peer: rel.peer,
      term: rel.term,
      state: rel.state,
      stateReason: rel.reason,
      health: s.health,
      healthRule: s.healthRule,
      reason: s.reason,
      code: rel.code ?? null,
      lastReplicationTime: iso(s.lastReplicationTime),
      lastPointTime: iso(rel.lastPointAt),
      achievedRpo: { ...s.achievedRpo },
      dataAtRisk: { ...s.dataAtRisk },
      forecast: { breachInMs: s.forecast.breachInMs, cause: s.forecast.cause, message: s.forecast.message },
      settings: { ...rel.settings, initial: initialText(rel.settings) },
      nextCycleAt: schedule === undefined || schedule.suspended ? null : iso(schedule.nextDue),
      running: schedule?.running === true
    }
  }

  /**
   * Adds the relationship's schedule: its first cycle when initial
   * replication is due, or one interval after its newest point; at once
   * when a cycle was in flight (a stop or crash cut it short: it resumes).
   */
  private async schedule (rel: Relationship): Promise<void> {
    const initial = rel.settings.initial
    const inFlight = await stat(join(this.init.primaryDir, rel.id, IN_FLIGHT_FILE)).then(() => true, () => false)
    const firstDue = inFlight ? undefined : rel.initialDoneAt === undefined
      ? (typeof initial === 'object' && 'at' in initial ? initial.at : undefined)
      : rel.lastPointAt === undefined || rel.settings.frequency === 'continuous' ? undefined : rel.lastPointAt + rel.settings.frequency
    await this.init.scheduler.add({
      id: rel.id,
      frequencyMs: rel.settings.frequency === 'continuous' ? 0 : rel.settings.frequency,
      runCycle: async signal => { await this.runCycle(rel.id, signal) },
      suspended: rel.state === 'suspended',
      ...(firstDue === undefined ? {} : { firstDue })
    })
  }

  /**
   * One cycle of relationship `id`: the VM's driver gives its disks' sources
   * (app-consistent when the interval is due), replicateToPeer sends them
   * (resuming a cycle in flight), the driver hears the outcome, the log gets
   * the cycle's record and the state machine its input. Throws the cycle's
   * failure so the scheduler retries a network one.
   */
  private async runCycle (id: string, signal: AbortSignal): Promise<void> {
    const { relationships, inventory, events, drivers, logger } = this.init
    let rel = relationships.get(id)
    if (rel === undefined || rel.state === 'suspended') return
    const due = this.init.scheduler.get(id)?.nextDue ?? this.init.now()
    if (rel.state === 'resynchronization-required') rel = await this.serial(rel.vm, async () => await this.apply(id, { kind: 'resync-start' }))
    const vm = inventory.get(rel.vm)
    const driver = vm === undefined ? undefined : drivers[vm.driver]
    const every = rel.settings.appConsistentEvery
    const appWanted = every !== null && this.init.now() - (this.lastApp.get(id) ?? 0) >= every
    const begin = await events.begin({ relationship: id, vm: rel.vm, kind: CYCLE_KIND, reason: appWanted ? 'replication cycle (app-consistent)' : 'replication cycle' })
    const record: CycleRecord = {
      start: this.init.now(), end: 0, outcome: 'failed', bytesSent: 0, bytesChanged: 0, consistency: 'crash', missedIntervals: 0, appConsistentRequested: appWanted, appConsistentSucceeded: false
    }
    let failure: unknown
    /** Why a cycle that asked for an app-consistent point got a crash-consistent one (the driver's note). */
    let note: string | undefined
    /** Whether every disk was read from its change tracking, and if not why (the first such disk's reason). */
    let tracking: { tracked: boolean, untrackedReason?: string } | undefined
    try {
      if (vm === undefined || driver === undefined) throw new AppError(AppErrorCode.APP_VM_NOT_FOUND, `VM ${rel.vm} is no longer in the inventory`)
      const edits = await driver.checkOfflineEdits(vm.definition)
      if (edits.length > 0 && (rel.state === 'replicating' || rel.state === 'error')) {
        const reason = edits.map(e => `${e.disk}: ${e.reason}`).join('; ')
        rel = await this.serial(rel.vm, async () => { await this.apply(id, { kind: 'tracking-lost', reason }); return await this.apply(id, { kind: 'resync-start' }) })
      }
      const stateDir = join(this.init.primaryDir, id)
      const replica = peerIdFromString(rel.peer)
      await restoreReplicaAddresses(stateDir, this.init.node, replica)
      const cycle = await driver.diskSources(vm.definition, { appConsistent: appWanted, signal })
      let roots: Record<string, string> | undefined
      try {
        const request: ReplicateToPeerInit = {
          node: this.init.node,
          replica,
          relationship: id,
          stateDir,
          disks: [...cycle.disks],
          pool: this.pool,
          blockSize: this.blockSize,
          term: rel.term,
          consistency: cycle.consistency,
          ...(cycle.consistencyNote === undefined ? {} : { consistencyNote: cycle.consistencyNote }),
          // a resynchronization, or initial replication onto a copy already on the Replica, diffs against the Replica's own manifests
          fromReplica: rel.state === 'resynchronizing' || (rel.state === 'waiting-initial-replication' && rel.settings.initial === 'existing'),
          limiter: this.limiter(rel),
          signal
        }
        const sent = await this.scanning(async () => await replicateToPeer(request))
        roots = Object.fromEntries(sent.disks.map(d => [d.name, diskRoot(d.manifest)]))
        record.start = sent.time
        record.bytesSent = sent.wireBytes
        record.bytesChanged = sent.changedBlocks * this.blockSize
        record.consistency = sent.consistency
        record.appConsistentSucceeded = sent.consistency === 'app'
        if (sent.consistency !== 'app' && appWanted) note = sent.consistencyNote
        const [untracked] = Object.entries(sent.untracked)
        tracking = untracked === undefined ? { tracked: true } : { tracked: false, untrackedReason: `${untracked[0]}: ${untracked[1]}`.slice(0, MAX_UNTRACKED_REASON) }
        record.outcome = 'ok'
        await rememberReplicaAddresses(stateDir, this.init.node, replica).catch(() => {})
      } finally {
        await cycle.complete(roots === undefined ? { ok: false } : { ok: true, roots })
      }
    } catch (err) {
      failure = err
    }
    record.end = this.init.now()
    const frequency = rel.settings.frequency === 'continuous' ? 0 : rel.settings.frequency
    record.missedIntervals = frequency > 0 ? missedIntervals(frequency, due, record.end) : 0
    if (failure !== undefined) {
      record.failure = failureOf(failure)
      record.code = codeOf(failure)
    }
    if (signal.aborted && failure !== undefined) {
      // Stopped (daemon stop, suspend, remove): the cycle stays resumable and is no failure of the link or the Replica.
      await events.end(begin.seq, { outcome: 'interrupted', reason: 'the cycle was stopped; it resumes with the next one' })
      throw failure
    }
    const end = cycleEndInput(record, failure === undefined ? `cycle committed (${record.consistency}-consistent${note === undefined ? '' : `: ${note}`})` : `cycle failed (${record.failure}): ${codeOf(failure)}`)
    // Beside the record: whether the cycle read only what change tracking named (docs/events.md).
    if (tracking !== undefined) end.data = { ...end.data, ...tracking }
    await events.end(begin.seq, end)
    // The interval counts from the last attempt, as Hyper-V's does: a guest that cannot be
    // quiesced (no agent, a failing freeze) is asked again one interval later, not every cycle.
    if (appWanted) this.lastApp.set(id, record.start)
    if (failure === undefined) {
      const state = relationships.get(id)?.state
      const input: TransitionInput = state === 'waiting-initial-replication'
        ? { kind: 'initial-done', point: record.start }
        : state === 'resynchronizing' ? { kind: 'resync-done', point: record.start } : { kind: 'cycle-ok', point: record.start }
      await this.serial(rel.vm, async () => await this.apply(id, input)).catch(err => { logger.warn({ relationship: id, err }, 'cycle committed; recording it in the relationship failed') })
      logger.info({ relationship: id, point: iso(record.start), consistency: record.consistency, bytesSent: record.bytesSent, missedIntervals: record.missedIntervals }, 'replication cycle committed')
      this.tellCycle(id, record)
      return
    }
    logger.warn({ relationship: id, code: record.code, failure: record.failure }, 'replication cycle failed')
    await this.serial(rel.vm, async () => await this.apply(id, { kind: 'cycle-failed', code: record.code! })).catch(() => {})
    this.tellCycle(id, record)
    throw failure
  }

  /**
   * Runs one cycle's scan and send. The last of those running to end frees
   * the scan pool's kept result buffers: reuse pays within a cycle
   * (thousands of chunks); between cycles they would only stay resident
   * (up to MAX_SPARE_RESULTS x 4 MiB) until the threads end.
   */
  private async scanning<T> (work: () => Promise<T>): Promise<T> {
    this.cyclesRunning++
    try {
      return await work()
    } finally {
      if (--this.cyclesRunning === 0) this.pool.trim()
    }
  }

  private tellCycle (id: string, record: CycleRecord): void {
    for (const l of this.listeners) try { l(id, { ...record }) } catch {}
  }

  /** The limiter of a relationship with a bandwidth setting; none without one. */
  private limiter (rel: Relationship): RateLimiter | undefined {
    const rate = rel.settings.bandwidth
    if (rate === null) return undefined
    const held = this.limiters.get(rel.id)
    if (held?.rate === rate) return held.limiter
    const limiter = new RateLimiter({ bytesPerSecond: rate, minBurst: MAX_BATCH_DATA_BYTES })
    this.limiters.set(rel.id, { rate, limiter })
    return limiter
  }
}
