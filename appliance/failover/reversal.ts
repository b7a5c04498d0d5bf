/**
 * Reverse replication on the box that failed over (docs/failover.md
 * "Reverse replication", "Delta failback"): `replication reverse NAME`
 * tells the old primary to become the Replica (the relationship protocol's
 * `reverse`: it stops its VM, keeps its disks as they are - a salvage copy
 * of what it wrote after the shared point - and answers once that is
 * durable), then this box takes the relationship up as its primary at its
 * term. Its first cycle diffs against the old primary's own manifests
 * (initial replication `existing`), so it sends only the blocks that differ:
 * those changed here since the failover plus the old primary's divergent ones.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import type { TandemNode } from '../../p2p/node/index.ts'
import { sendReverse } from '../../p2p/relationship/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { stateEventInput, type CycleRecord, type EventLog } from '../events/index.ts'
import type { InventoryVm, VmInventory } from '../inventory/index.ts'
import type { JobRegistry } from '../jobs/index.ts'
import { transition, type Relationship, type RelationshipTable } from '../relationships/index.ts'
import { description } from '../replication/description.ts'
import { learnReplicaAddresses } from '../replication/replica-addresses.ts'
import type { JobInfo, PointsResult, ReverseCycleInfo, ReverseInfo, ReversePlanInfo, ReverseRequest, SharedPointInfo, PlanFacts } from '../service/index.ts'
import { REVERSE_REQUEST_TIMEOUT_MS } from './constants.ts'
import type { FailoversLog } from './failover-work.ts'

export interface ReversalsInit {
  node: Pick<TandemNode, 'dialProtocol' | 'peerStore'>
  relationships: RelationshipTable
  inventory: Pick<VmInventory, 'get'>
  /** The Replica side's points of a relationship held here (the failover point kept as the shared base). */
  replica: { points: (name: string) => Promise<PointsResult> }
  /** The primary's replication: takes the relationship up (adopt) and tells each cycle's end (onCycle). */
  primary: {
    adopt: (rel: Relationship) => Promise<void>
    onCycle: (listener: (relationship: string, record: CycleRecord) => void) => () => void
  }
  jobs: JobRegistry
  /** Whether a test failover or a failover of the relationship runs here (a reversal waits for it to end). */
  busy: (relationship: string) => string | undefined
  peerName: (peer: string) => string
  events: EventLog
  logger: FailoversLog
  now: () => number
}

/** Methods may be called concurrently; one reversal of a relationship at a time (a second answers the first's job). */
export class Reversals {
  private readonly init: ReversalsInit
  private readonly running = new Map<string, string>()

  constructor (init: ReversalsInit) {
    this.init = init
  }

  /** What `replication reverse` would do, checked as it checks; nothing is done. */
  async plan (name: string, request: ReverseRequest = {}): Promise<PlanFacts<ReversePlanInfo>> {
    const { rel, vm, base } = await this.check(name)
    return {
      relationship: rel.id,
      vm: rel.vm,
      replica: this.init.peerName(rel.peer),
      state: rel.state,
      term: rel.term,
      base,
      force: request.force === true,
      disks: vm.definition.disks.map(d => ({ name: d.name, path: d.path }))
    }
  }

  /**
   * Starts the reversal of `name` as a `replication-reverse` job
   * (ReplicationApi.replicationReverse): the old primary told, this box the
   * primary, the job ending with the first cycle's outcome.
   */
  async reverse (name: string, request: ReverseRequest = {}): Promise<JobInfo> {
    // a reversal in progress answers its job (its record may be the primary's already)
    const id = (this.init.relationships.byVm(name) ?? this.init.relationships.get(name))?.id
    const running = id === undefined ? undefined : this.running.get(id)
    if (running !== undefined) return this.init.jobs.get(running)
    const { rel, vm, base } = await this.check(name)
    const who = this.init.peerName(rel.peer)
    const job = await this.init.jobs.start({
      kind: 'replication-reverse',
      vm: rel.vm,
      relationship: rel.id,
      reason: `reversing replication of ${rel.vm}: ${who} becomes its Replica (its writes after ${base === null ? 'the failover' : base.time} kept as a salvage copy), this box its primary at term ${rel.term}`,
      work: async ctx => {
        try {
          const info = await this.run(rel, vm, base, request.force === true, ctx.signal)
          const c = info.firstCycle
          return {
            result: { kind: 'reverse', result: info },
            reason: info.reason,
            data: { term: info.term, reverseMs: info.timings.reverseMs, firstCycleMs: info.timings.firstCycleMs, bytesSent: c?.bytesSent ?? null, bytesChanged: c?.bytesChanged ?? null }
          }
        } finally {
          this.running.delete(rel.id)
        }
      }
    })
    this.running.set(rel.id, job.id)
    return job
  }

  /**
   * The reversal of a planned failover's Replica, once its failover is
   * completed (failovers.ts): as `reverse`, but run by the caller's job.
   */
  async reverseNow (name: string, signal: AbortSignal): Promise<ReverseInfo> {
    const { rel, vm, base } = await this.check(name)
    return await this.run(rel, vm, base, false, signal)
  }

  /** The relationship, its VM here and the shared point; APP_RELATIONSHIP_NOT_FOUND, APP_INVALID_STATE, APP_VM_NOT_FOUND. */
  private async check (name: string): Promise<{ rel: Relationship, vm: InventoryVm, base: SharedPointInfo | null }> {
    const rel = this.init.relationships.byVm(name) ?? this.init.relationships.get(name)
    if (rel === undefined) throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `this box holds no relationship ${name.slice(0, 80)}`)
    if (rel.role === 'primary') {
      throw new AppError(AppErrorCode.APP_INVALID_STATE, `this box is the primary of ${rel.vm} already (${rel.state}): reverse runs on the box that failed over`, { details: { state: rel.state, input: 'reverse' } })
    }
    const can = transition(rel, { kind: 'reverse', term: rel.term }, this.init.now())
    if (!can.ok) throw new AppError(AppErrorCode.APP_INVALID_STATE, can.reason, { details: { state: rel.state, input: 'reverse' } })
    const busy = this.init.busy(rel.id)
    if (busy !== undefined) throw new AppError(AppErrorCode.APP_INVALID_STATE, busy, { details: { state: rel.state, input: 'reverse' } })
    const vm = this.init.inventory.get(rel.vm)
    if (vm === undefined) throw new AppError(AppErrorCode.APP_VM_NOT_FOUND, `${rel.vm} is not in this box's inventory: the VM that replicates back must run here`)
    const points = (await this.init.replica.points(rel.id)).points
    const latest = points.at(-1)
    return { rel, vm, base: latest === undefined ? null : { id: latest.id, root: latest.root, time: latest.time } }
  }

  private async run (held: Relationship, vm: InventoryVm, base: SharedPointInfo | null, force: boolean, signal: AbortSignal): Promise<ReverseInfo> {
    const { relationships, events, logger } = this.init
    const t0 = performance.now()
    const r = transition(held, {
      kind: 'reverse',
      term: held.term,
      reason: `replication reversed: this box is now the primary of ${held.vm} (term ${held.term}); its first cycle sends only the blocks that differ from ${this.init.peerName(held.peer)}'s disk`
    }, this.init.now())
    if (!r.ok) throw new AppError(AppErrorCode.APP_INVALID_STATE, r.reason, { details: { state: held.state, input: 'reverse' } })
    const next = r.next
    // The old primary records first: its refusal (its VM runs, a stale term...) leaves nothing changed here.
    const d = await description(next, vm)
    const accepted = await sendReverse(this.init.node, peerIdFromString(held.peer), {
      ...d,
      force,
      base: base === null ? null : { root: base.root, time: Date.parse(base.time) }
    }, { signal, timeoutMs: REVERSE_REQUEST_TIMEOUT_MS })
    const first = this.firstCycle(held.id, signal)
    try {
      // Where the new Replica listens: the primary's state records it (adopt), so a restart or a dropped link does not strand the relationship.
      await learnReplicaAddresses(this.init.node, peerIdFromString(held.peer), accepted.addresses ?? [])
      await relationships.put(next)
      if (r.event !== null) await events.append(stateEventInput(next, r.event))
      await this.init.primary.adopt(next)
    } catch (err) {
      first.cancel()
      throw err
    }
    const reverseMs = Math.round(performance.now() - t0)
    logger.warn({ relationship: held.id, vm: held.vm, term: held.term, peer: held.peer }, 'replication reversed: this box is now the primary')
    const t1 = performance.now()
    const cycle = await first.done
    const firstCycleMs = cycle === null ? null : Math.round(performance.now() - t1)
    const who = this.init.peerName(held.peer)
    const reason = cycle === null
      ? `replication of ${held.vm} reversed: ${who} is its Replica; the first cycle had not ended when the job stopped following it (tandem replication status ${held.vm})`
      : cycle.outcome === 'ok'
        ? `replication of ${held.vm} reversed: ${who} is its Replica; the first cycle sent ${cycle.bytesSent} bytes for ${cycle.bytesChanged} bytes of blocks that differed`
        : `replication of ${held.vm} reversed: ${who} is its Replica; the first cycle failed (${cycle.code ?? '?'}) and is retried at the relationship's frequency (tandem replication status ${held.vm})`
    return {
      relationship: held.id,
      vm: held.vm,
      replica: who,
      term: held.term,
      base,
      firstCycle: cycle,
      timings: { reverseMs, firstCycleMs },
      reason
    }
  }

  /**
   * The first cycle of the reversed relationship: the first that committed,
   * or the first that failed other than on the link (a link failure is
   * retried by the schedule); null when `signal` aborts first.
   */
  private firstCycle (id: string, signal: AbortSignal): { done: Promise<ReverseCycleInfo | null>, cancel: () => void } {
    let cancel!: () => void
    const done = new Promise<ReverseCycleInfo | null>(resolve => {
      const finish = (v: ReverseCycleInfo | null): void => { off(); signal.removeEventListener('abort', onAbort); resolve(v) }
      const onAbort = (): void => { finish(null) }
      const off = this.init.primary.onCycle((rel, record) => {
        if (rel !== id || (record.outcome !== 'ok' && record.failure === 'network')) return
        finish({ outcome: record.outcome === 'ok' ? 'ok' : 'failed', bytesSent: record.bytesSent, bytesChanged: record.bytesChanged, code: record.code ?? null })
      })
      signal.addEventListener('abort', onAbort, { once: true })
      cancel = () => { finish(null) }
    })
    return { done, cancel }
  }
}
