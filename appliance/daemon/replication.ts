/**
 * The primary side of replication in the daemon (docs/replication.md):
 * enabling, suspending, resuming, resynchronizing and removing a
 * relationship, and the cycles the scheduler runs for it. Every change of
 * state goes through the pure state machine and is an event in the log;
 * every cycle is a `cycle` work item in the log whose end carries its
 * record (measure, health and the figures read them back).
 */
import { mkdir, rm, stat } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { DEFAULT_BLOCK_SIZE } from '../../core/constants.ts'
import { diskRoot } from '../../core/manifest.ts'
import type { Manifest } from '../../core/types.ts'
import { ScanPool } from '../../core/scan/index.ts'
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
import type { TandemNode } from '../../p2p/node/index.ts'
import { sendOffer, sendRemove, sendUpdate, type FailoverNotice, type RelationshipPrimary } from '../../p2p/relationship/index.ts'
import { MAX_BATCH_DATA_BYTES, RateLimiter, type ReplicaManifests } from '../../p2p/replication/index.ts'
import type { VmDriver } from '../drivers/index.ts'
import type { JobRegistry } from '../jobs/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { CYCLE_KIND, CycleHistory, cycleEndInput, cycleRecordsFrom, missedIntervals, relationshipStatus, settingsEventInput, stateEventInput, type CycleRecord, type EventLog } from '../events/index.ts'
import type { DriverKind, VmInventory } from '../inventory/index.ts'
import type { PeerRegistry } from '../peers/index.ts'
import {
  STALE_VM_EVENT, TERM_LOST_CODES, applySettingsChange, hasLostTerm, newRelationship, oneLine, parseSettings, parseSettingsChange, staleVmReason, termLostInput, transitionOrThrow,
  type Relationship, type RelationshipSettings, type RelationshipTable, type TermLoss, type TransitionInput
} from '../relationships/index.ts'
import { CycleProgress } from '../replication/cycle-progress.ts'
import { IN_FLIGHT_FILE, PrimaryState } from '../replication/primary-state.ts'
import { rememberReplicaAddresses, restoreReplicaAddresses } from '../replication/replica-addresses.ts'
import { fetchReplicaManifests, replicateToPeer, type ReplicateToPeerInit } from '../replication/replicate-to-peer.ts'
import { seedFromDisks } from '../replication/seed-from-disks.ts'
import { description } from '../replication/description.ts'
import { isNetworkFailure, type Scheduler } from '../scheduler/index.ts'
import type { JobInfo, SeedExportRequest } from '../service/job-types.ts'
import { ServiceError } from '../service/service-error.ts'
import type { ReplicationEnableRequest, ReplicationInfo, ReplicationMeasureInfo, ReplicationRemoveResult, ReplicationUpdateRequest } from '../service/replication-types.ts'
import type { Logger } from './logger.ts'

export interface PrimaryReplicationInit {
  node: TandemNode
  registry: PeerRegistry
  inventory: VmInventory
  relationships: RelationshipTable
  events: EventLog
  drivers: Readonly<Record<DriverKind, VmDriver>>
  scheduler: Scheduler
  /** Where seed exports run (docs/seeds.md). */
  jobs: JobRegistry
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
  /**
   * Told when relationship `id` lost its term (Demotion.prepare: its disks
   * kept at once, docs/failover.md "Salvage"); must not throw or wait.
   */
  termLost?: (id: string) => void
  /**
   * Awaited when a relationship that lost its term is resumed, or any is
   * removed, here (Demotion.unprepare: what termLost kept is not needed).
   */
  termLossEnded?: (id: string) => Promise<void>
  /**
   * Each disk's manifest in the last point this box holds of relationship
   * `rel` as its Replica (kept when it failed over: the failover point), or
   * undefined. Asked for a cycle that diffs against the Replica's manifests
   * (the reversal's first cycle, a resynchronization): a driver's tracking
   * since that point then carries over (docs/failover.md "Delta failback").
   */
  sharedManifests?: (rel: Relationship, signal: AbortSignal) => Promise<ReadonlyMap<string, Manifest> | undefined>
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

/** The states whose relationship has a schedule (suspended ones have one that waits), but for a primary that lost its term (hasLostTerm). */
const SCHEDULED = new Set(['waiting-initial-replication', 'replicating', 'suspended', 'resynchronization-required', 'resynchronizing', 'error'])

/** The seed path of a relationship whose initial replication comes from a seed, else undefined. */
const seedPath = (s: RelationshipSettings): string | undefined => typeof s.initial === 'object' && 'seed' in s.initial ? s.initial.seed : undefined

const iso = (ms: number | null | undefined): string | null => ms === null || ms === undefined ? null : new Date(ms).toISOString()

/** The setting `initial` as the operator writes it. */
function initialText (s: RelationshipSettings): string {
  const i = s.initial
  if (typeof i === 'string') return i
  return 'at' in i ? `at:${new Date(i.at).toISOString()}` : `seed:${i.seed}`
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
 *
 * It is also this box's RelationshipPrimary: a Replica that failed over
 * tells it (`failed-over`), and so does its refusal of a cycle, an update
 * or an offer (P2P_STALE_TERM, P2P_FAILED_OVER). Either way the
 * relationship goes to `error` with that code and a reason that says what
 * to do, its schedule stops, and nothing starts the VM (docs/failover.md
 * "Terms and the returning primary").
 */
export class PrimaryReplication implements Pick<RelationshipPrimary, 'failedOver'> {
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
  /** The cycle records status and measure need, read from the log once at start, then kept as cycles end. */
  private readonly history = new CycleHistory()
  /** VMs whose seed export runs: no cycle reads their disks meanwhile (a driver gives one VM's sources to one reader at a time). */
  private readonly exporting = new Set<string>()
  /** The newest seed export job of each relationship (by id), for status. */
  private readonly seedJobs = new Map<string, string>()
  /** How far each running cycle is, for status. */
  private readonly progress: CycleProgress

  /** The scan threads, read-only for what watches them (tests; their count is the memory they hold). */
  get scanPool (): Pick<ScanPool, 'threadCount' | 'spareCount'> {
    return this.pool
  }

  constructor (init: PrimaryReplicationInit) {
    this.init = init
    this.blockSize = init.blockSize ?? DEFAULT_BLOCK_SIZE
    this.progress = new CycleProgress(init.now)
    this.pool = new ScanPool({ threads: init.scanThreads ?? DEFAULT_SCAN_THREADS, idleTimeoutMs: init.scanIdleMs ?? SCAN_THREADS_IDLE_MS })
  }

  /** Schedules every relationship this box is the primary of, each where it stood. */
  async start (): Promise<void> {
    const events = (await this.init.events.read()).events
    for (const rel of this.init.relationships.list()) {
      if (rel.role !== 'primary') continue
      const records = cycleRecordsFrom(events.filter(e => e.relationship === rel.id))
      this.history.load(rel.id, records, this.init.now())
      if (!SCHEDULED.has(rel.state) || hasLostTerm(rel)) continue
      const app = records.filter(c => c.appConsistentRequested).at(-1)
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
      const seed = seedPath(next.settings)
      // The relationship stands before its seed is written: an export that fails is run again with `seed export`.
      // It starts before the schedule, whose cycles then wait for it.
      if (seed !== undefined) await this.startSeedExport(next, { to: seed })
      await this.schedule(next)
      return this.info(next, [])
    })
  }

  /**
   * Starts writing a seed of VM `name` for the initial replication of its
   * relationship (docs/seeds.md); the job's end records the export time,
   * which the health's reason turns into the next step (import it on the
   * Replica). The relationship must be waiting for initial replication from
   * a seed; one export of a VM at a time, never during a cycle of it.
   */
  async seedExport (name: string, request: SeedExportRequest): Promise<JobInfo> {
    return await this.serial(name, async () => {
      const rel = this.primaryRelationship(name)
      if (seedPath(rel.settings) === undefined) throw new AppError(AppErrorCode.APP_INVALID_STATE, `the replication of ${rel.vm} was enabled with --initial ${initialText(rel.settings)}: a seed is for --initial seed:PATH (remove the relationship and enable it again to change that)`, { details: { state: rel.state } })
      if (rel.state !== 'waiting-initial-replication') throw new AppError(AppErrorCode.APP_INVALID_STATE, `the initial replication of ${rel.vm} is done (${rel.state}): a seed is only for initial replication`, { details: { state: rel.state } })
      return await this.startSeedExport(rel, request)
    })
  }

  private async startSeedExport (rel: Relationship, request: SeedExportRequest): Promise<JobInfo> {
    const { jobs, inventory, drivers, relationships, node } = this.init
    if (!isAbsolute(request.to) || request.to.includes('\0')) throw new AppError(AppErrorCode.APP_USAGE, `${request.to.slice(0, 200)} is not an absolute path`)
    if (this.exporting.has(rel.vm)) throw new AppError(AppErrorCode.APP_INVALID_STATE, `a seed export of ${rel.vm} is running (job ${this.seedJobs.get(rel.id) ?? '?'})`)
    if (this.init.scheduler.get(rel.id)?.running === true) throw new AppError(AppErrorCode.APP_INVALID_STATE, `a replication cycle of ${rel.vm} is running; run the seed export when it ends`)
    this.exporting.add(rel.vm)
    try {
      const job = await jobs.start({
        kind: 'seed-export',
        vm: rel.vm,
        relationship: rel.id,
        reason: `writing a seed of ${rel.vm} to ${request.to}`,
        work: async ({ signal, progress }) => {
          try {
            const vm = inventory.get(rel.vm)
            if (vm === undefined) throw new AppError(AppErrorCode.APP_VM_NOT_FOUND, `VM ${rel.vm} is no longer in the inventory`)
            const cycle = await drivers[vm.driver].diskSources(vm.definition, { appConsistent: rel.settings.appConsistentEvery !== null, signal })
            const time = this.init.now()
            let roots: Record<string, string> | undefined
            try {
              const written = await this.scanning(async () => await seedFromDisks({
                disks: [...cycle.disks],
                pool: this.pool,
                blockSize: this.blockSize,
                path: request.to,
                force: request.force === true,
                origin: { relationship: rel.id, peer: node.peerId.toString() },
                time,
                consistency: cycle.consistency,
                ...(cycle.consistencyNote === undefined ? {} : { consistencyNote: cycle.consistencyNote }),
                signal,
                onProgress: p => { progress(p.done, p.total) }
              }))
              roots = Object.fromEntries(written.disks.map(d => [d.name, d.root]))
              await this.serial(rel.vm, async () => {
                const held = relationships.get(rel.id)
                if (held !== undefined) await relationships.put({ ...held, seedExportedAt: this.init.now() })
              })
              return {
                result: { kind: 'seed-export', result: { path: request.to, bytes: written.bytes, blocks: written.blocks, root: written.root, time: iso(time)! } },
                reason: `seed of ${rel.vm} written to ${request.to} (${written.bytes} bytes, ${cycle.consistency}-consistent): import it on the Replica with tandem seed import --from PATH`,
                data: { bytes: written.bytes, blocks: written.blocks, root: written.root }
              }
            } finally {
              // Tracking then counts from the seed's point: the first cycle after the import reads only what changed since.
              await cycle.complete(roots === undefined ? { ok: false } : { ok: true, roots })
            }
          } finally {
            this.exporting.delete(rel.vm)
          }
        }
      })
      this.seedJobs.set(rel.id, job.id)
      return job
    } catch (err) {
      this.exporting.delete(rel.vm)
      throw err
    }
  }

  /**
   * The relationships this box is the primary of (or only `name`'s), with
   * the health their cycle records give. Replica relationships have no
   * cycle records here: they are the ReplicaSide's (`replicaStatus`), and a
   * name held only as Replica is APP_RELATIONSHIP_NOT_FOUND.
   */
  async status (name?: string): Promise<ReplicationInfo[]> {
    const rels = name === undefined ? this.init.relationships.list().filter(r => r.role === 'primary') : [this.primaryOf(name)]
    return await Promise.all(rels.map(async rel => this.info(rel, this.cycles(rel.id), await this.pendingBytes(rel))))
  }

  /** The monitoring window's figures of the relationship of VM `name` this box is the primary of (its cycle records are here). */
  async measure (name: string): Promise<ReplicationMeasureInfo> {
    const rel = this.primaryOf(name)
    const s = relationshipStatus({ rel, cycles: this.cycles(rel.id), now: this.init.now(), pendingBytes: await this.pendingBytes(rel) })
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

  /**
   * ReplicationApi.replicationUpdate: the given settings of the relationship
   * of VM `name` this box is the primary of, in any state but
   * prepared-for-planned-failover (APP_INVALID_STATE). Written durably
   * and logged (kind `replication-settings`) before the schedule takes the
   * new frequency (RelationshipSchedule.setFrequency); the next cycle reads
   * the bandwidth and app-consistent interval from the record (a cycle in
   * flight keeps what it started with). The Replica is told with `update`
   * (its retention follows recoveryPoints), unless the relationship lost
   * its term (its Replica refuses every update). Settings equal to the
   * stored ones write nothing.
   */
  async update (name: string, request: ReplicationUpdateRequest): Promise<ReplicationInfo> {
    const change = parseSettingsChange(request)
    return await this.serial(name, async () => {
      const rel = this.primaryOf(name)
      // The Replica is taking the VM over: what it is told now could only race with the handover.
      if (rel.state === 'prepared-for-planned-failover') throw new AppError(AppErrorCode.APP_INVALID_STATE, `a planned failover of ${rel.vm} is under way: change the settings once it is done (on the new primary) or cancelled`, { details: { state: rel.state } })
      const { next: settings, changed } = applySettingsChange(rel.settings, change)
      if (changed.length === 0) return this.info(rel, this.cycles(rel.id), await this.pendingBytes(rel))
      const next: Relationship = { ...rel, settings }
      await this.init.relationships.put(next)
      await this.init.events.append(settingsEventInput(next, rel.settings, changed))
      this.init.logger.info({ relationship: rel.id, changed }, 'replication settings changed')
      if (changed.includes('frequency')) this.init.scheduler.get(rel.id)?.setFrequency(settings.frequency === 'continuous' ? 0 : settings.frequency)
      if (!hasLostTerm(next)) {
        const lost = await this.tell(next)
        if (lost !== undefined) await this.loseTerm(rel.id, { kind: 'refused', code: lost, at: this.init.now() }, { queued: true })
      }
      const now = this.init.relationships.get(rel.id) ?? next
      return this.info(now, this.cycles(rel.id), await this.pendingBytes(now))
    })
  }

  async suspend (name: string): Promise<ReplicationInfo> {
    return await this.change(name, { kind: 'suspend' }, rel => { this.init.scheduler.get(rel.id)?.suspend() })
  }

  async resume (name: string): Promise<ReplicationInfo> {
    const lost = hasLostTerm(this.primaryRelationship(name))
    return await this.change(name, { kind: 'resume' }, async rel => {
      // its failover was cancelled: the disks kept for a reversal are not needed
      if (lost) await this.init.termLossEnded?.(rel.id)
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
      this.history.forget(rel.id)
      await rm(join(this.init.primaryDir, rel.id), { recursive: true, force: true })
      await this.init.termLossEnded?.(rel.id)
      if (event !== null) await this.init.events.append(stateEventInput(rel, event))
      this.init.logger.info({ relationship: rel.id }, 'replication removed')
      return { relationship: rel.id, vm: rel.vm, removed: true, replicaTold }
    })
  }

  /**
   * Takes up relationship `rel` as its primary after a reversal made this
   * box the primary (docs/failover.md "Reverse replication"): a fresh state
   * directory (nothing of an earlier run is resumed; the first cycle diffs
   * against the Replica's manifests: initial replication `existing`), the
   * Replica's addresses remembered, the schedule added (its first cycle at
   * once). `rel` is the stored record, role primary.
   */
  async adopt (rel: Relationship): Promise<void> {
    await this.serial(rel.vm, async () => {
      const dir = join(this.init.primaryDir, rel.id)
      await rm(dir, { recursive: true, force: true })
      await mkdir(dir, { recursive: true, mode: 0o700 })
      await rememberReplicaAddresses(dir, this.init.node, peerIdFromString(rel.peer)).catch(() => {})
      this.history.forget(rel.id)
      await this.schedule(rel)
    })
  }

  /**
   * A planned failover's last cycle of relationship `id` (docs/failover.md
   * "Planned failover"): run now through its schedule (after a cycle in
   * flight), resolving with the record of the first cycle that began at or
   * after `after` and the root the Replica committed (the primary's state:
   * docs/primary-state.md). A failed cycle, a link failure included (the
   * schedule retries it on its own), rejects with the cycle's code, and
   * `signal` with its reason: the caller says what to run next rather than
   * wait on an unreachable Replica.
   */
  async finalCycle (id: string, after: number, signal: AbortSignal): Promise<{ record: CycleRecord, root: string }> {
    const schedule = this.init.scheduler.get(id)
    if (schedule === undefined) throw new AppError(AppErrorCode.APP_INVALID_STATE, `${id} has no replication schedule on this box (suspended, or it lost its term)`)
    const record = await new Promise<CycleRecord>((resolve, reject) => {
      const finish = (err: unknown, r?: CycleRecord): void => {
        off()
        signal.removeEventListener('abort', onAbort)
        if (r === undefined) reject(err)
        else resolve(r)
      }
      const onAbort = (): void => { finish(signal.reason) }
      const off = this.onCycle((rel, r) => {
        if (rel !== id || r.start < after) return
        if (r.outcome === 'ok') finish(undefined, r)
        else finish(new ServiceError(r.code ?? AppErrorCode.APP_UNEXPECTED, `the last cycle of ${id} failed (${r.code ?? '?'}, a ${r.failure ?? 'replication'} failure)`))
      })
      signal.addEventListener('abort', onAbort, { once: true })
      schedule.resume()
      schedule.runNow()
    })
    const state = await PrimaryState.open(join(this.init.primaryDir, id))
    const root = state.replicated?.root
    if (root === undefined) throw new AppError(AppErrorCode.APP_INVALID_STATE, `the last cycle of ${id} left no replicated point in its state`)
    return { record, root }
  }

  /**
   * A planned failover's state change on this box (prepared for planned
   * failover, with `reason`: each step says where it stands), its schedule
   * suspended so no cycle follows the last one. Durable and logged.
   */
  async prepare (id: string, reason: string): Promise<Relationship> {
    const vm = this.init.relationships.get(id)?.vm ?? id
    const next = await this.serial(vm, async () => await this.apply(id, { kind: 'prepare-planned', reason }))
    this.init.scheduler.get(id)?.suspend()
    return next
  }

  /**
   * A prepared planned failover given up on this box (`failover cancel` on
   * the primary): back to replicating, the schedule resumed. Durable and logged.
   */
  async unprepare (id: string, reason: string): Promise<Relationship> {
    const vm = this.init.relationships.get(id)?.vm ?? id
    const next = await this.serial(vm, async () => await this.apply(id, { kind: 'cancel', reason }))
    const schedule = this.init.scheduler.get(id)
    if (schedule === undefined) await this.schedule(next)
    else schedule.resume()
    return next
  }

  /**
   * Stops replicating relationship `id` as its primary (an old primary
   * becoming the Replica: docs/failover.md "Reverse replication"): its
   * schedule removed (a cycle in flight aborted), its cycle history
   * forgotten. The record and the state directory are the caller's.
   */
  async leave (id: string): Promise<void> {
    await this.init.scheduler.remove(id)
    this.history.forget(id)
    this.limiters.delete(id)
  }

  /** Applies an operator's input, then `after`, and tells the Replica (an unreachable one learns at the next update). */
  private async change (name: string, input: TransitionInput, after: (rel: Relationship) => void | Promise<void>): Promise<ReplicationInfo> {
    return await this.serial(name, async () => {
      const rel = await this.apply(this.primaryRelationship(name).id, input)
      await after(rel)
      const lost = await this.tell(rel)
      if (lost !== undefined) await this.loseTerm(rel.id, { kind: 'refused', code: lost, at: this.init.now() }, { queued: true })
      const now = this.init.relationships.get(rel.id) ?? rel
      return this.info(now, this.cycles(rel.id), await this.pendingBytes(now))
    })
  }

  /**
   * Sends the whole relationship to the Replica, offering it again when the
   * Replica does not hold it (P2P_RELATIONSHIP_UNKNOWN: its record was lost);
   * a failure is logged, never thrown (the next change or cycle repeats it).
   * Resolves with the Replica's refusal when it is one of TERM_LOST_CODES
   * (the caller makes the relationship lose its term), else undefined.
   */
  private async tell (rel: Relationship): Promise<string | undefined> {
    const vm = this.init.inventory.get(rel.vm)
    if (vm === undefined) return undefined
    const replica = peerIdFromString(rel.peer)
    try {
      await restoreReplicaAddresses(join(this.init.primaryDir, rel.id), this.init.node, replica)
      const d = await description(rel, vm)
      await sendUpdate(this.init.node, replica, d, { timeoutMs: TIMEOUT_RELATIONSHIP_REQUEST_MS }).catch(async err => {
        if ((err as { code?: unknown }).code !== P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN) throw err
        this.init.logger.warn({ relationship: rel.id }, 'the Replica does not hold the relationship: offering it again')
        await sendOffer(this.init.node, replica, d, { timeoutMs: TIMEOUT_RELATIONSHIP_REQUEST_MS })
      })
    } catch (err) {
      const code = codeOf(err)
      this.init.logger.warn({ relationship: rel.id, code }, 'the Replica could not be told of the change')
      if (TERM_LOST_CODES.has(code)) return code
    }
    return undefined
  }

  /**
   * RelationshipPrimary: `peer`, the Replica of the relationship, failed it
   * over at `notice.term`. Durable (the record in `error`) before it
   * resolves; the schedule stops (a cycle in flight is aborted, resumable).
   * P2P_RELATIONSHIP_UNKNOWN when this box is not the primary of that
   * relationship with `peer` as its Replica, P2P_STALE_TERM when the
   * notice's term is not above this box's.
   */
  async failedOver (peer: string, notice: FailoverNotice, signal: AbortSignal): Promise<void> {
    const rel = this.init.relationships.get(notice.relationship)
    if (rel?.role !== 'primary' || rel.peer !== peer) throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, `this box is not the primary of ${notice.relationship} with that Replica`)
    if (notice.term <= rel.term) throw new P2pError(P2pErrorCode.P2P_STALE_TERM, `this box holds term ${rel.term} of ${rel.vm}; the notice is of term ${notice.term}`)
    if (rel.state === 'prepared-for-planned-failover' && notice.term === rel.term + 1) {
      // this box handed the VM over (planned failover): the notice is the expected answer, not a lost term; the Replica's reverse makes this box its Replica next
      this.init.logger.info({ relationship: rel.id, term: notice.term }, 'the Replica failed over as this box asked (planned failover)')
      this.stopSchedule(rel.id)
      return
    }
    await this.serial(rel.vm, async () => {
      signal.throwIfAborted()
      await this.loseTermLocked(rel.id, { kind: 'notice', term: notice.term, at: notice.at })
    })
    this.stopSchedule(rel.id)
  }

  /**
   * The relationship `id` lost its term (`loss`: its Replica's refusal or
   * notice): `term-lost`, the record in `error` with the code and a reason
   * that says what to do, durable and logged. Runs inside serial(). A
   * refusal changes a relationship that already lost its term no more; a
   * notice (which names the term and time) refines the reason. Throws when
   * the record cannot be written.
   */
  private async loseTermLocked (id: string, loss: TermLoss): Promise<void> {
    const { relationships, registry, logger } = this.init
    const rel = relationships.get(id)
    if (rel?.role !== 'primary') return
    const replica = registry.list().find(p => p.peerId === rel.peer)?.name ?? rel.peer
    const input = termLostInput(rel, replica, loss)
    if (hasLostTerm(rel) && (loss.kind === 'refused' || (rel.code === input.code && rel.reason === oneLine(input.reason)))) return
    const next = await this.apply(id, input)
    logger.warn({ relationship: id, code: input.code, reason: next.reason }, 'this box is no longer the primary: its Replica failed over; replication stopped')
    await this.noteRunningVm(next)
    this.init.termLost?.(id)
  }

  /**
   * A refusal made the relationship lose its term: loseTermLocked (through
   * the queue unless `queued`: the caller runs inside it), then its schedule
   * stops whatever happened (no retry hammers the Replica). Never throws: a
   * record that cannot be written is logged, and the next refusal (after a
   * restart) records it.
   */
  private async loseTerm (id: string, loss: TermLoss, options: { queued?: boolean } = {}): Promise<void> {
    const vm = this.init.relationships.get(id)?.vm ?? id
    try {
      if (options.queued === true) await this.loseTermLocked(id, loss)
      else await this.serial(vm, async () => { await this.loseTermLocked(id, loss) })
    } catch (err) {
      this.init.logger.error({ relationship: id, err }, 'the lost term could not be recorded')
    } finally {
      this.stopSchedule(id)
    }
  }

  /**
   * A VM that still runs here after its relationship lost its term is left
   * running (the operator decides) but said so: a log line and an event.
   */
  private async noteRunningVm (rel: Relationship): Promise<void> {
    const vm = this.init.inventory.get(rel.vm)
    if (vm === undefined) return
    const status = await this.init.drivers[vm.driver].status(vm.definition).catch(() => undefined)
    if (status?.state !== 'running' && status?.state !== 'paused') return
    this.init.logger.warn({ vm: rel.vm, relationship: rel.id }, 'the VM still runs on this box, which is no longer its primary; it is left running')
    await this.init.events.append({ relationship: rel.id, vm: rel.vm, kind: STALE_VM_EVENT, code: rel.code, reason: staleVmReason(rel.vm) })
      .catch(err => { this.init.logger.error({ err }, 'could not write an event') })
  }

  /** Stops the relationship's schedule without waiting for it (a cycle in flight may be the caller): no cycle starts from now on. */
  private stopSchedule (id: string): void {
    this.init.scheduler.get(id)?.suspend()
    void this.init.scheduler.remove(id).catch(err => { this.init.logger.error({ relationship: id, err }, 'the schedule could not be stopped') })
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

  private cycles (id: string): CycleRecord[] {
    return this.history.records(id, this.init.now())
  }

  /** Bytes the VM's driver counts as written since the last replicated point; null when it cannot tell or the VM left the inventory. */
  private async pendingBytes (rel: Relationship): Promise<number | null> {
    const vm = this.init.inventory.get(rel.vm)
    return vm === undefined ? null : await this.init.drivers[vm.driver].pendingBytes(vm.definition)
  }

  /** `pendingBytes`: the driver's count when the caller asked it (status), else null (the result of a change: unknown). */
  private info (rel: Relationship, cycles: CycleRecord[], pendingBytes: number | null = null): ReplicationInfo {
    const s = relationshipStatus({ rel, cycles, now: this.init.now(), pendingBytes })
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
      running: schedule?.running === true,
      seedExportJob: this.seedJobs.get(rel.id) ?? null,
      progress: this.progress.info(rel.id)
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
      ...(firstDue === undefined ? {} : { firstDue }),
      // a new frequency counts from the newest point until a cycle has run
      ...(inFlight || rel.initialDoneAt === undefined || rel.lastPointAt === undefined ? {} : { lastDue: rel.lastPointAt })
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
    if (rel === undefined || rel.state === 'suspended' || hasLostTerm(rel)) return
    const due = this.init.scheduler.get(id)?.nextDue ?? this.init.now()
    if (rel.state === 'resynchronization-required') rel = await this.serial(rel.vm, async () => await this.apply(id, { kind: 'resync-start' }))
    // Initial replication from a seed waits for the Replica to import it (no cycle, no record meanwhile), then diffs against it.
    let replicaManifests: ReplicaManifests | undefined
    if (rel.state === 'waiting-initial-replication' && seedPath(rel.settings) !== undefined) {
      if (this.exporting.has(rel.vm)) return
      await restoreReplicaAddresses(join(this.init.primaryDir, id), this.init.node, peerIdFromString(rel.peer))
      try {
        replicaManifests = await fetchReplicaManifests({ node: this.init.node, replica: peerIdFromString(rel.peer), relationship: id, term: rel.term, signal })
      } catch (err) {
        const code = codeOf(err)
        if (TERM_LOST_CODES.has(code)) await this.loseTerm(id, { kind: 'refused', code, at: this.init.now() })
        throw err
      }
      if (replicaManifests.point === null) return
    }
    const vm = inventory.get(rel.vm)
    const driver = vm === undefined ? undefined : drivers[vm.driver]
    const every = rel.settings.appConsistentEvery
    const appWanted = every !== null && this.init.now() - (this.lastApp.get(id) ?? 0) >= every
    const begin = await events.begin({ relationship: id, vm: rel.vm, kind: CYCLE_KIND, reason: appWanted ? 'replication cycle (app-consistent)' : 'replication cycle' })
    const record: CycleRecord = {
      start: this.init.now(), end: 0, outcome: 'failed', bytesSent: 0, bytesChanged: 0, consistency: 'crash', missedIntervals: 0, appConsistentRequested: appWanted, appConsistentSucceeded: false
    }
    let failure: unknown
    this.progress.begin(id)
    /** Why a cycle that asked for an app-consistent point got a crash-consistent one (the driver's note). */
    let note: string | undefined
    /** Whether every disk was read from its change tracking, and if not why (the first such disk's reason); the bytes read. */
    let tracking: { tracked: boolean, untrackedReason?: string, bytesRead: number } | undefined
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
      const fromReplica = rel.state === 'resynchronizing' || (rel.state === 'waiting-initial-replication' && (rel.settings.initial === 'existing' || replicaManifests !== undefined))
      // No shared point known is no error: the cycle compares every block it cannot vouch for.
      const shared = fromReplica ? await this.init.sharedManifests?.(rel, signal).catch((err: unknown) => { logger.warn({ relationship: id, err }, 'the shared point\'s manifests could not be read: the cycle compares by hash'); return undefined }) : undefined
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
          fromReplica,
          ...(replicaManifests === undefined ? {} : { replicaManifests }),
          ...(shared === undefined ? {} : { shared }),
          limiter: this.limiter(rel),
          signal,
          onProgress: p => { this.progress.report(id, p) }
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
        tracking = untracked === undefined ? { tracked: true, bytesRead: sent.bytesRead } : { tracked: false, untrackedReason: `${untracked[0]}: ${untracked[1]}`.slice(0, MAX_UNTRACKED_REASON), bytesRead: sent.bytesRead }
        record.outcome = 'ok'
        await rememberReplicaAddresses(stateDir, this.init.node, replica).catch(() => {})
      } finally {
        await cycle.complete(roots === undefined ? { ok: false } : { ok: true, roots })
      }
    } catch (err) {
      failure = err
    }
    this.progress.end(id)
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
    this.history.add(id, record, this.init.now())
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
    // The Replica lost its record of the relationship: it is offered again, and the retry finds it.
    // (the record as stored now: its settings may have changed during the cycle)
    const lost = record.code === P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN ? await this.tell(relationships.get(id) ?? rel) : TERM_LOST_CODES.has(record.code!) ? record.code : undefined
    // The Replica failed over: no retry, no more cycles, until the operator decides.
    if (lost !== undefined) await this.loseTerm(id, { kind: 'refused', code: lost, at: record.end })
    else await this.serial(rel.vm, async () => await this.apply(id, { kind: 'cycle-failed', code: record.code! })).catch(() => {})
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
