/**
 * Unplanned failover on the Replica alone, and its complete and cancel
 * (docs/failover.md "Unplanned failover", "Complete and cancel", "After a
 * stop or a crash"). The steps are in failover-work.ts; this decides which run, one
 * operation per relationship at a time, as daemon jobs where they take
 * long, and finds again at the daemon's start what a stop or a crash left.
 */
import { readdir } from 'node:fs/promises'
import { DISK_NAME_PATTERN } from '../../core/constants.ts'
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
import type { PlannedFailover } from '../../p2p/relationship/index.ts'
import { cancelStreams, wasStopped } from '../drivers/qemu/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { EventData } from '../events/index.ts'
import type { JobContext, JobRegistry } from '../jobs/index.ts'
import { parseBandwidth, transition, type Relationship } from '../relationships/index.ts'
import type { CompleteRequest, FailoverCancelResult, FailoverInfo, FailoverPlanInfo, JobInfo, PointInfo, ReverseInfo, UnplannedRequest, PlanFacts } from '../service/index.ts'
import { failoverInfo, planInfo } from './failover-info.ts'
import { readFailoverRecord, type FailoverRecord } from './failover-record.ts'
import { failoverPlan, type FailoverPlan } from './failover-plan.ts'
import { codeOf, FailoverWork, type FailoverWorkInit } from './failover-work.ts'
import { hostBridges } from './host-bridges.ts'
import { checkPointId, choosePoint, type PointChoice } from './point-choice.ts'
import { checkBootFiles } from './test-vm-plan.ts'

export interface FailoversInit extends FailoverWorkInit {
  jobs: JobRegistry
  /** Whether a test failover of the relationship runs (a completion would drop the point it may run on). */
  tests: { running: (relationship: string) => boolean }
  /** The bridges of this box (host-bridges.ts by default). */
  bridges?: () => Promise<ReadonlySet<string>>
  /** Reverse replication once a planned failover is completed (reversal.ts); absent: the operator runs `replication reverse`. */
  reverse?: (relationship: string, signal: AbortSignal) => Promise<ReverseInfo>
}

/** An operation in progress on a relationship's failover. */
interface Op {
  what: string
  /** Its job, when it runs as one. */
  job: string | null
  /** Aborts its work when the operator cancels or the daemon stops (a job's own signal covers the operator). */
  stop: AbortController
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`
const pointText = (p: PointInfo): string => `point ${p.id} (${p.time}, ${p.consistency}-consistent)`
const noTimings = (): FailoverRecord['timings'] => ({ termMs: null, serveMs: null, overlayMs: null, startMs: null, copyMs: null })

/**
 * Lifecycle: start() after the point server, the VMs' adoption and the
 * jobs (what a killed daemon left is carried on: each relationship's
 * record, an event each); then failovers come and go; stop() before the
 * jobs stop: it refuses new operations, lets a VM's start finish, and
 * leaves long work (a copy) for the next start. Failover VMs are never
 * stopped with the daemon. Methods may be called concurrently.
 */
export class Failovers {
  private readonly init: FailoversInit
  private readonly work: FailoverWork
  private readonly ops = new Map<string, Op>()
  private readonly busy = new Set<Promise<unknown>>()
  private readonly stopping = new AbortController()

  constructor (init: FailoversInit) {
    this.init = init
    this.work = new FailoverWork(init)
  }

  /** Reads every record under DATA/failover/ and carries each failover on (resume). Never throws for one failover: each outcome is an event. */
  async start (): Promise<void> {
    const names = (await readdir(this.init.dir).catch(() => [] as string[])).filter(n => DISK_NAME_PATTERN.test(n)).sort()
    for (const rel of names) {
      let record: FailoverRecord | undefined
      try {
        record = await readFailoverRecord(this.work.relDir(rel))
      } catch (err) {
        await this.note(rel, undefined, `the failover record of ${rel} cannot be read: left as it is (${(err as Error).message})`, codeOf(err))
        continue
      }
      if (record === undefined) continue
      this.work.records.set(rel, record)
      await this.track(rel, 'resuming', null, async () => { await this.resume(record) }).catch(() => undefined)
    }
  }

  /** Refuses new operations, stops following long work (it resumes at the next start), waits for the rest. Idempotent. */
  async stop (): Promise<void> {
    this.stopping.abort()
    for (const op of this.ops.values()) op.stop.abort()
    await Promise.allSettled([...this.busy])
  }

  /** The relationship held here as Replica that `name` names. APP_USAGE, APP_RELATIONSHIP_NOT_FOUND. */
  resolve (name: string): Relationship {
    if (!DISK_NAME_PATTERN.test(name)) throw new AppError(AppErrorCode.APP_USAGE, `${name.slice(0, 80)} is not a VM name or relationship id`)
    const rel = this.init.relationships.byVm(name) ?? this.init.relationships.get(name)
    if (rel?.role === 'replica') return rel
    if (rel?.role === 'primary') throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `this box is the primary of ${rel.vm}: failover runs on its Replica (${rel.peer})`)
    throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `this box holds no relationship ${name} as Replica`)
  }

  /** The failover of a relationship as status shows it, or null. */
  info (relationship: string): FailoverInfo | null {
    const r = this.work.records.get(relationship)
    return r === undefined ? null : this.infoOf(r)
  }

  /** What `action` would do, checked as it checks (but `yes`); nothing is done. */
  async plan (name: string, request: { action: 'unplanned' | 'complete' | 'cancel', point?: number }): Promise<PlanFacts<FailoverPlanInfo>> {
    const rel = this.resolve(name)
    const action = request.action
    if (action === 'unplanned') {
      const { choice, plan } = await this.checkUnplanned(rel, request.point)
      const all = (await this.init.replica.points(rel.id)).points.length
      return planInfo('unplanned', rel, rel.term + 1, plan, choice, all, !choice.latest)
    }
    const r = this.waiting(rel, action)
    const points = (await this.init.replica.points(rel.id)).points
    const i = points.findIndex(p => p.id === r.point.id)
    const choice: PointChoice = { point: r.point, latest: i === points.length - 1, newer: i < 0 ? 0 : points.length - 1 - i }
    const plan: FailoverPlan = { kind: r.kind, definition: r.definition, boot: null, bootFiles: [], nics: r.nics, note: null }
    if (action === 'complete') this.refuseComplete(rel, r)
    return planInfo(action, rel, action === 'cancel' ? rel.term - 1 : rel.term, plan, choice, points.length, action === 'complete')
  }

  /**
   * Starts an unplanned failover of `name` to `request.point` (the latest
   * by default) as a `failover` job, after checking everything a start
   * needs (FailoverApi.failoverUnplanned). The job raises the term, then
   * starts the VM or writes the files; if it fails, it undoes all of it.
   */
  async unplanned (name: string, request: UnplannedRequest = {}): Promise<JobInfo> {
    const rel = this.resolve(name)
    this.refuseBusy(rel, 'fail over')
    const { choice, plan } = await this.checkUnplanned(rel, request.point)
    if (!choice.latest && request.yes !== true) {
      throw new AppError(AppErrorCode.APP_CONFIRMATION_REQUIRED, `${pointText(choice.point)} is older than the latest: the ${plural(choice.newer, 'newer point')} will be dropped if you complete this failover; add --yes to fail over to it`)
    }
    const r = this.newRecord(rel, choice, plan, false)
    const what = plan.kind === 'vm' ? `${rel.vm} starts on this box` : `its disks are written as raw files here (${plan.note ?? ''})`
    return await this.startJob(rel, 'failover', `unplanned failover of ${rel.vm} to ${pointText(choice.point)}: ${what}`, async (ctx, op) => await this.runUnplanned(r, ctx, op))
  }

  /** Keeps the failover of `name` as a `failover-complete` job (FailoverApi.failoverComplete); a completion in progress answers its job. */
  async complete (name: string, request: CompleteRequest = {}): Promise<JobInfo> {
    const rel = this.resolve(name)
    const op = this.ops.get(rel.id)
    if (op?.job !== null && op?.what === 'completing') return this.init.jobs.get(op.job)
    this.refuseBusy(rel, 'complete the failover of')
    const r = this.waiting(rel, 'complete')
    if (request.yes !== true) {
      const points = (await this.init.replica.points(rel.id)).points.length
      throw new AppError(AppErrorCode.APP_CONFIRMATION_REQUIRED, `completing keeps ${rel.vm} on this box and drops the ${plural(Math.max(0, points - 1), 'other recovery point')} of ${rel.vm} (only point ${r.point.id} is kept, the base of a later failback); add --yes to complete`)
    }
    const bandwidth = request.bandwidth === undefined ? null : parseBandwidth(request.bandwidth)
    this.refuseComplete(rel, r)
    r.bandwidth = bandwidth
    return await this.completeJob(rel, r)
  }

  /** Undoes the failover of `name` (FailoverApi.failoverCancel); a job of it that runs is cancelled first. */
  async cancel (name: string): Promise<FailoverCancelResult> {
    const before = this.work.records.get(this.resolve(name).id)
    const job = this.ops.get(this.resolve(name).id)?.job
    // a failover whose files are being written is undone by its job's cancel; a copy stops, and the failover waits again
    if (job !== null && job !== undefined) await this.init.jobs.cancel(job)
    const rel = this.resolve(name)
    const result = (r: FailoverRecord): FailoverCancelResult => ({ relationship: r.relationship, vm: r.vm, point: r.point.id, term: this.init.relationships.get(r.relationship)?.term ?? 0, kind: r.kind, cancelled: true, vmStarted: null })
    if (before !== undefined && !this.work.records.has(rel.id) && rel.state !== 'failed-over-waiting-completion') return result(before)
    this.refuseBusy(rel, 'cancel the failover of')
    const r = this.waiting(rel, 'cancel')
    await this.track(rel.id, 'cancelling', null, async () => {
      const begin = await this.init.events.begin({ kind: 'failover-cancel', relationship: r.relationship, vm: r.vm, reason: `cancelling the failover of ${r.vm} to point ${r.point.id}`, data: { point: r.point.id } })
      try {
        r.phase = 'cancelling'
        r.reason = 'cancel requested'
        await this.work.save(r)
        await this.undo(r, `failover cancelled by the operator: back to receiving replication; no recovery point changed, and what ${r.vm} wrote since the failover was discarded`)
      } catch (err) {
        await this.init.events.end(begin.seq, { outcome: 'failed', code: codeOf(err), reason: `the failover of ${r.vm} could not be cancelled: ${(err as Error).message}` }).catch(() => undefined)
        throw err
      }
      const term = this.init.relationships.get(r.relationship)?.term ?? null
      await this.init.events.end(begin.seq, { outcome: 'ok', reason: `failover of ${r.vm} cancelled: ${r.kind === 'vm' ? 'the VM stopped and its overlays removed' : 'its files removed'}, point ${r.point.id} no longer served, term ${term ?? '?'}`, data: { point: r.point.id, term } })
    })
    return result(r)
  }

  /**
   * PlannedFailoverTarget: `peer`, the primary, shut the VM down and
   * replicated its last changes as point `request.root`
   * (docs/failover.md "Planned failover"). Checked as an unplanned failover
   * is, and the point must be the latest here; then the record is written
   * and the term raised (durable before the answer). The rest runs as a
   * `failover` job: the VM started on the point, its data copied into its
   * own disks (the failover completed: no `yes`, the point is the latest),
   * then replication reversed. Idempotent. P2P_RELATIONSHIP_UNKNOWN,
   * P2P_STALE_TERM, P2P_FAILED_OVER, P2P_FAILOVER_REFUSED (nothing changed).
   */
  async plannedFailover (peer: string, request: PlannedFailover, signal: AbortSignal): Promise<void> {
    const rel = this.init.relationships.get(request.relationship)
    if (rel?.role !== 'replica' || rel.peer !== peer) throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, `this box holds no relationship ${request.relationship} as Replica of that box`)
    const existing = this.work.records.get(rel.id)
    if (existing?.planned === true && existing.point.root === request.root && rel.term === request.term + 1) return
    if (request.term < rel.term) throw new P2pError(P2pErrorCode.P2P_STALE_TERM, `this box holds term ${rel.term} of ${rel.vm}; the planned failover is of term ${request.term}`)
    if (existing !== undefined || rel.state === 'failed-over') throw new P2pError(P2pErrorCode.P2P_FAILED_OVER, `${rel.vm} is failed over on this box already`)
    const refused = (why: string): P2pError => new P2pError(P2pErrorCode.P2P_FAILOVER_REFUSED, `this box does not take the planned failover of ${rel.vm}: ${why}`.slice(0, 400))
    let checked: { choice: PointChoice, plan: FailoverPlan }
    try {
      this.refuseBusy(rel, 'fail over')
      checked = await this.checkUnplanned(rel, undefined)
    } catch (err) {
      throw refused((err as Error).message)
    }
    const { choice, plan } = checked
    if (choice.point.root !== request.root) throw refused(`its latest point (${choice.point.id}) is not the final point the primary sent`)
    signal.throwIfAborted()
    const r = this.newRecord(rel, choice, plan, true)
    await this.work.save(r)
    try {
      await this.work.raiseTerm(r, `planned failover to ${pointText(r.point)}, the primary's final point: ${r.vm} starts on this box, then replication reverses`)
    } catch (err) {
      await this.work.forget(rel.id)
      throw err
    }
    const what = plan.kind === 'vm' ? `${rel.vm} starts on this box, its data is copied into its own disks` : 'its disks are written as raw files here'
    await this.startJob(rel, 'failover', `planned failover of ${rel.vm} to ${pointText(r.point)}: ${what}, then replication reverses`, async (ctx, op) => await this.runPlanned(r, ctx, op))
      .catch(async err => { await this.note(rel.id, rel.vm, `the planned failover of ${rel.vm} could not start its job (${(err as Error).message}): run tandem failover cancel ${rel.vm}, or start it and complete`, codeOf(err)) })
  }

  /** The record of a failover of `rel` to the chosen point, before its first step. */
  private newRecord (rel: Relationship, choice: PointChoice, plan: FailoverPlan, planned: boolean): FailoverRecord {
    return {
      relationship: rel.id,
      vm: rel.vm,
      kind: plan.kind,
      phase: plan.kind === 'vm' ? 'starting' : 'materializing',
      point: choice.point,
      since: this.init.now(),
      definition: plan.definition,
      nics: plan.nics,
      socketName: plan.kind === 'vm' ? this.work.socketName(rel.id) : null,
      bandwidth: null,
      timings: noTimings(),
      planned,
      reason: planned ? 'planned failover' : 'failing over'
    }
  }

  // --- checks ---

  private refuseBusy (rel: Relationship, what: string): void {
    if (this.stopping.signal.aborted) throw new AppError(AppErrorCode.APP_INVALID_STATE, `the daemon is stopping: cannot ${what} ${rel.vm}`, { details: { state: rel.state, input: 'failover' } })
    const op = this.ops.get(rel.id)
    if (op !== undefined) throw new AppError(AppErrorCode.APP_INVALID_STATE, `cannot ${what} ${rel.vm}: its failover is ${op.what}${op.job === null ? '' : ` (job ${op.job})`}; try again once it is done`, { details: { state: rel.state, input: 'failover' } })
  }

  /**
   * The failover that `action` applies to: one that waits for completion,
   * in any phase for a cancel (the way out of a failover a restart could
   * not carry on), running or completing for a complete; or one whose
   * completion a failure cut short after the state changed (completing,
   * failed-over). APP_INVALID_STATE otherwise. The caller has checked that
   * no operation of the relationship runs.
   */
  private waiting (rel: Relationship, action: 'complete' | 'cancel'): FailoverRecord {
    const r = this.work.records.get(rel.id)
    const finishing = action === 'complete' && r?.phase === 'completing' && rel.state === 'failed-over'
    if (r === undefined || (rel.state !== 'failed-over-waiting-completion' && !finishing)) {
      throw new AppError(AppErrorCode.APP_INVALID_STATE, `no failover of ${rel.vm} waits for completion (it is ${rel.state}): nothing to ${action}`, { details: { state: rel.state, input: action } })
    }
    if (action === 'complete' && r.phase !== 'running' && r.phase !== 'completing') {
      throw new AppError(AppErrorCode.APP_INVALID_STATE, `the failover of ${rel.vm} is ${r.phase}: it cannot be completed (cancel it: tandem failover cancel ${rel.vm})`, { details: { state: rel.state, input: action } })
    }
    return r
  }

  private refuseComplete (rel: Relationship, r: FailoverRecord): void {
    // completed already but for its last steps: nothing to copy, nothing a test could lose
    if (rel.state === 'failed-over') return
    if (this.init.tests.running(rel.id)) throw new AppError(AppErrorCode.APP_INVALID_STATE, `a test failover of ${rel.vm} runs: stop it first (tandem failover stop-test ${rel.vm}); completing drops the points it may run on`, { details: { state: rel.state, input: 'complete' } })
    if (r.kind === 'vm' && !this.work.vmActive(r)) {
      throw new AppError(AppErrorCode.APP_VM_NOT_RUNNING, `${r.vm} is ${this.init.driver.status(r.vm).state}: the copy into its own disks runs while it runs; start it (tandem vm start ${r.vm}), then complete`, { details: { name: r.vm } })
    }
  }

  /** What an unplanned failover of `rel` needs: a state that fails over, no failover already, the point, a VM this box can run or files. */
  private async checkUnplanned (rel: Relationship, requested: number | undefined): Promise<{ choice: PointChoice, plan: FailoverPlan }> {
    checkPointId(requested)
    const existing = this.work.records.get(rel.id)
    if (existing !== undefined) throw new AppError(AppErrorCode.APP_INVALID_STATE, `${rel.vm} is failed over already (point ${existing.point.id}, ${existing.phase}): complete or cancel that failover`, { details: { state: rel.state, input: 'failover' } })
    const can = transition(rel, { kind: 'failover' }, this.init.now())
    if (!can.ok) throw new AppError(AppErrorCode.APP_INVALID_STATE, can.reason, { details: { state: rel.state, input: 'failover' } })
    const choice = choosePoint(rel.vm, (await this.init.replica.points(rel.id)).points, requested)
    const bridges = await (this.init.bridges ?? hostBridges)()
    const plan = failoverPlan(rel.protectedVm, rel.vm, choice.point.disks, { vmDir: this.work.vmDir(rel.vm), filesDir: this.work.relDir(rel.id) }, bridges)
    if (this.init.inventory.get(rel.vm) !== undefined) throw new AppError(AppErrorCode.APP_VM_EXISTS, `the inventory has a VM named ${rel.vm}: the failover would start ${rel.vm} under that name; rename or remove it first`)
    await checkBootFiles(rel.vm, plan.bootFiles)
    return { choice, plan }
  }

  // --- work ---

  /** Runs `work` as the relationship's one operation, refused while another runs, waited for by stop(). */
  private async track<T> (relationship: string, what: string, job: string | null, work: (op: Op) => Promise<T>): Promise<T> {
    const op: Op = { what, job, stop: new AbortController() }
    this.ops.set(relationship, op)
    const run = work(op)
    this.busy.add(run)
    try {
      return await run
    } finally {
      this.busy.delete(run)
      if (this.ops.get(relationship) === op) this.ops.delete(relationship)
    }
  }

  /** Starts a job whose work is the relationship's one operation until it ends. */
  private async startJob (rel: Relationship, kind: 'failover' | 'failover-complete', reason: string, work: (ctx: JobContext, op: Op) => Promise<{ info: FailoverInfo, reason: string, data: EventData }>): Promise<JobInfo> {
    const op: Op = { what: kind === 'failover' ? 'starting' : 'completing', job: null, stop: new AbortController() }
    this.ops.set(rel.id, op)
    let done!: () => void
    const finished = new Promise<void>(resolve => { done = resolve })
    this.busy.add(finished)
    try {
      const job = await this.init.jobs.start({
        kind,
        vm: rel.vm,
        relationship: rel.id,
        reason,
        work: async ctx => {
          try {
            const out = await work(ctx, op)
            return { result: { kind: 'failover', result: out.info }, reason: out.reason, data: out.data }
          } finally {
            if (this.ops.get(rel.id) === op) this.ops.delete(rel.id)
            this.busy.delete(finished)
            done()
          }
        }
      })
      op.job = job.id
      return job
    } catch (err) {
      this.ops.delete(rel.id)
      this.busy.delete(finished)
      done()
      throw err
    }
  }

  /** The `failover` job's work: the term raised, then the VM started or the files written; undone on failure. */
  private async runUnplanned (r: FailoverRecord, ctx: JobContext, op: Op): Promise<{ info: FailoverInfo, reason: string, data: EventData }> {
    // the record is written before the term moves: a stop or crash from here on is found at the next start
    await this.work.save(r)
    const signal = AbortSignal.any([ctx.signal, op.stop.signal])
    try {
      const rel = await this.work.raiseTerm(r, `unplanned failover to ${pointText(r.point)}: ${r.kind === 'vm' ? `${r.vm} runs on this box` : 'its disks are written as raw files on this box'}; complete or cancel it`)
      r.reason = `failed over at term ${rel.term}`
      await this.work.save(r)
      if (r.kind === 'vm') await this.work.startVm(r)
      else await this.work.writeFiles(r, { signal, onProgress: ctx.progress })
      return await this.running(r, 'failover')
    } catch (err) {
      if (this.stopping.signal.aborted && r.kind === 'files') {
        // the copy goes on at the next start (the record says materializing)
        throw new AppError(AppErrorCode.APP_INVALID_STATE, 'the daemon stopped while the files were written: the next start writes the rest', { cause: err })
      }
      const code = codeOf(err)
      await this.undo(r, `the failover of ${r.vm} did not ${r.kind === 'vm' ? 'start' : 'finish writing its files'} (${code}: ${(err as Error).message}): back to receiving replication, no recovery point changed; fix the cause and fail over again`)
        .catch(async undoErr => { await this.stuck(r, undoErr) })
      throw err
    }
  }

  /**
   * A planned failover's job: the VM started (or files written; undone on
   * failure, as an unplanned failover is), the failover completed, then
   * replication reversed. A copy or a reversal that fails leaves the
   * failover waiting (complete it) or completed (reverse it), and says so.
   */
  private async runPlanned (r: FailoverRecord, ctx: JobContext, op: Op): Promise<{ info: FailoverInfo, reason: string, data: EventData }> {
    const signal = AbortSignal.any([ctx.signal, op.stop.signal])
    try {
      if (r.kind === 'vm') await this.work.startVm(r)
      else await this.work.writeFiles(r, { signal, onProgress: ctx.progress })
    } catch (err) {
      await this.undo(r, `the planned failover of ${r.vm} did not ${r.kind === 'vm' ? 'start' : 'finish writing its files'} (${codeOf(err)}: ${(err as Error).message}): back to receiving replication; on the primary, run tandem failover cancel ${r.vm} to start it there again`)
        .catch(async undoErr => { await this.stuck(r, undoErr) })
      throw err
    }
    const up = await this.running(r, 'planned failover')
    r.phase = 'completing'
    r.reason = 'completing the planned failover: copying the data into the VM\'s own disks'
    await this.work.save(r)
    const t0 = this.work.clock()
    try {
      if (r.kind === 'vm') await this.work.copyDisks(r, { signal, onProgress: ctx.progress })
    } catch (err) {
      await this.copyStopped(r, err)
      throw err
    }
    r.timings.copyMs = Math.round(this.work.clock() - t0)
    await this.work.keep(r)
    const info: FailoverInfo = { ...this.infoOf(r), phase: 'running', reason: `${r.vm} runs on this box from its own disks after a planned failover (point ${r.point.id})` }
    if (this.init.reverse === undefined) return { info, reason: `${up.reason}; completed: run tandem replication reverse ${r.vm}`, data: { ...up.data, copyMs: r.timings.copyMs } }
    let reversed: ReverseInfo
    try {
      reversed = await this.init.reverse(r.relationship, signal)
    } catch (err) {
      await this.note(r.relationship, r.vm, `the planned failover of ${r.vm} is completed, but replication could not be reversed (${codeOf(err)}: ${(err as Error).message}): run tandem replication reverse ${r.vm}`, codeOf(err))
      throw err
    }
    const c = reversed.firstCycle
    return {
      info: { ...info, reason: reversed.reason },
      reason: `planned failover of ${r.vm} done: it runs here from its own disks (copied in ${r.timings.copyMs} ms); ${reversed.reason}`,
      data: { ...up.data, copyMs: r.timings.copyMs, reverseMs: reversed.timings.reverseMs, bytesSent: c?.bytesSent ?? null, bytesChanged: c?.bytesChanged ?? null }
    }
  }

  /** The failover is up: the record says running; what the job answers. */
  private async running (r: FailoverRecord, how: string): Promise<{ info: FailoverInfo, reason: string, data: EventData }> {
    r.phase = 'running'
    const rel = this.init.relationships.get(r.relationship)
    r.reason = r.kind === 'vm'
      ? `${r.vm} runs on ${pointText(r.point)} at term ${rel?.term ?? '?'}: complete it (tandem failover complete ${r.vm} --yes) or cancel it`
      : `the disks of ${r.vm} are raw files of ${pointText(r.point)} at term ${rel?.term ?? '?'}: attach them to a VM of your own; complete or cancel the failover`
    await this.work.save(r)
    const t = r.timings
    this.init.logger.warn({ relationship: r.relationship, vm: r.vm, point: r.point.id, kind: r.kind, ...t }, `${how}: failed over`)
    const warnings = r.nics.filter(n => n.warning !== null).map(n => n.warning!)
    for (const w of warnings) await this.note(r.relationship, r.vm, w, undefined, 'failover-network')
    const steps = r.kind === 'vm'
      ? `term in ${t.termMs ?? 0} ms, served in ${t.serveMs ?? 0} ms, overlays in ${t.overlayMs ?? 0} ms, started in ${t.startMs ?? 0} ms`
      : `term in ${t.termMs ?? 0} ms, files written in ${t.copyMs ?? 0} ms`
    return {
      info: this.infoOf(r),
      reason: `${r.reason} (${steps})`,
      data: { point: r.point.id, term: rel?.term ?? null, kind: r.kind, termMs: t.termMs, serveMs: t.serveMs, overlayMs: t.overlayMs, startMs: t.startMs, copyMs: t.copyMs, warnings: warnings.length }
    }
  }

  /** Starts the `failover-complete` job of a waiting (or resumed) failover. */
  private async completeJob (rel: Relationship, r: FailoverRecord): Promise<JobInfo> {
    const speed = r.bandwidth === null ? '' : ` at most ${r.bandwidth} bytes/s`
    const what = r.kind === 'vm' ? `copying its data into its own disks while it runs${speed}` : 'keeping its raw files'
    return await this.startJob(rel, 'failover-complete', `completing the failover of ${r.vm} (point ${r.point.id}): ${what}, then dropping the other points`, async (ctx, op) => {
      r.phase = 'completing'
      r.reason = `completing: ${what}`
      await this.work.save(r)
      const t0 = this.work.clock()
      const copy = r.kind === 'vm' && this.init.relationships.get(r.relationship)?.state === 'failed-over-waiting-completion'
      try {
        if (copy) await this.work.copyDisks(r, { signal: AbortSignal.any([ctx.signal, op.stop.signal]), onProgress: ctx.progress })
      } catch (err) {
        if (this.stopping.signal.aborted) throw new AppError(AppErrorCode.APP_INVALID_STATE, 'the daemon stopped during the copy: QEMU goes on copying, and the next start follows it again', { cause: err })
        await this.copyStopped(r, err)
        throw err
      }
      const copyMs = Math.round(this.work.clock() - t0)
      const dropped = await this.work.keep(r)
      const term = this.init.relationships.get(r.relationship)?.term ?? null
      const info = { ...this.infoOf(r), phase: 'running' as const, reason: `${r.vm} is failed over for good (term ${term ?? '?'}); point ${r.point.id} is the one kept` }
      this.init.logger.warn({ relationship: r.relationship, vm: r.vm, point: r.point.id, dropped }, 'failover completed')
      return {
        info,
        reason: `failover of ${r.vm} completed: ${r.kind === 'vm' ? `its disks are its own (copied in ${copyMs} ms)` : 'its raw files are its disks'}; ${plural(dropped.length, 'other point')} dropped, point ${r.point.id} kept`,
        data: { point: r.point.id, term, copyMs, dropped: dropped.length }
      }
    })
  }

  /** A copy that stopped (cancelled, or failed): the streams cancelled when asked, the failover waiting again. */
  private async copyStopped (r: FailoverRecord, err: unknown): Promise<void> {
    r.phase = 'running'
    r.reason = `the copy into ${r.vm}'s own disks stopped (${codeOf(err)}: ${(err as Error).message}); ${r.vm} still runs on the served point, what was copied is kept: run complete again to copy the rest`
    await this.work.save(r).catch(saveErr => { this.init.logger.error({ err: saveErr, relationship: r.relationship }, 'the failover record could not be written') })
    if (codeOf(err) === 'CORE_ABORTED' && r.kind === 'vm') {
      try {
        await cancelStreams(this.init.driver.qmp(r.vm), r.definition.disks.map(d => d.node))
      } catch (cancelErr) {
        // the VM ended meanwhile (its streams with it), or QMP failed: a later complete follows or restarts them
        this.init.logger.warn({ err: cancelErr, vm: r.vm }, 'the copy\'s streams could not be cancelled')
      }
    }
  }

  /** Removes what the failover put here, gives the term back when it was raised, and forgets the record. */
  private async undo (r: FailoverRecord, reason: string): Promise<void> {
    await this.work.teardown(r)
    if (this.init.relationships.get(r.relationship)?.state === 'failed-over-waiting-completion') {
      await this.init.replica.failoverCancelled(r.relationship, { reason })
    }
    await this.work.forget(r.relationship)
    this.init.logger.warn({ relationship: r.relationship, vm: r.vm, point: r.point.id }, reason)
  }

  /** An undo that failed: the record stays (the next start, or a cancel, tries again), and it is said. */
  private async stuck (r: FailoverRecord, err: unknown): Promise<void> {
    r.reason = `the failover could not be undone (${codeOf(err)}: ${(err as Error).message}): run tandem failover cancel ${r.vm}`
    if (r.phase !== 'cancelling') r.phase = 'running'
    await this.work.save(r).catch(() => undefined)
    await this.note(r.relationship, r.vm, r.reason, codeOf(err))
  }

  /** What a stop or crash left of one failover, carried on (docs/failover.md "After a stop or a crash"); each outcome an event. */
  private async resume (r: FailoverRecord): Promise<void> {
    const rel = this.init.relationships.get(r.relationship)
    const say = async (reason: string, code?: string): Promise<void> => { await this.note(r.relationship, r.vm, reason, code) }
    try {
      if (rel?.role !== 'replica') {
        await say(`a failover record of ${r.relationship} is left, but this box no longer holds the relationship as Replica: left as it is`, AppErrorCode.APP_INVALID_STATE)
        return
      }
      const failedOver = rel.state === 'failed-over-waiting-completion'
      if (r.phase === 'cancelling' || (!failedOver && rel.state !== 'failed-over')) {
        // a cancel cut short, or a failover cut short before its term moved: nothing of it is kept
        await this.undo(r, `the failover of ${r.vm} that a stop cut short was undone: back to receiving replication, no recovery point changed`)
        await say(`the failover of ${r.vm} (point ${r.point.id}) that a stop cut short ${r.phase === 'cancelling' ? 'while it was cancelled' : 'before it started'} was undone; the relationship is ${this.init.relationships.get(r.relationship)?.state ?? '?'}`)
        return
      }
      if (r.phase === 'completing' && !failedOver) {
        const dropped = await this.work.keep(r)
        await say(`the completion of the failover of ${r.vm} that a stop cut short was finished: ${plural(dropped.length, 'point')} dropped, point ${r.point.id} kept`)
        return
      }
      if (r.phase === 'starting' && !this.work.vmActive(r)) {
        await this.undo(r, `the failover of ${r.vm} that a stop cut short before its VM ran was undone: back to receiving replication, no recovery point changed`)
        await say(`the failover of ${r.vm} (point ${r.point.id}) was cut short before its VM ran: undone, the term given back`)
        return
      }
      if (r.kind === 'files') {
        if (r.phase === 'materializing') {
          await this.startJob(rel, 'failover', `writing the rest of the raw files of ${r.vm} (${pointText(r.point)}), which a stop cut short`, async (ctx, op) => {
            await this.work.writeFiles(r, { signal: AbortSignal.any([ctx.signal, op.stop.signal]), onProgress: ctx.progress })
            return await this.running(r, 'resumed')
          })
          await say(`the raw files of ${r.vm} that a stop cut short are being written again (the ones complete are kept)`)
        } else if (r.phase === 'completing') {
          await this.completeJob(rel, r)
        } else {
          await say(`the failover of ${r.vm} to point ${r.point.id} waits for completion: its raw files are in ${this.work.relDir(r.relationship)}`)
        }
        return
      }
      if (r.phase === 'running' && !this.work.vmActive(r) && await wasStopped(this.init.vmRuns, r.vm)) {
        // stopped on purpose (the operator, or its guest powered off) before the restart: it stays so, ready for `vm start`
        await this.work.ensureServed(r)
        await say(`${r.vm} (failed over to point ${r.point.id}) was stopped on purpose before the restart and stays stopped; its point is served again, so \`tandem vm start ${r.vm}\` starts it`)
        return
      }
      const how = await this.work.ensureRunning(r)
      const was = r.phase
      if (was === 'starting') await this.running(r, 'found after a restart')
      await say(how === 'running'
        ? `${r.vm} (failed over to point ${r.point.id}) was found running after the restart; its point is served again`
        : `${r.vm} (failed over to point ${r.point.id}) was not running after the restart: it was started again on its overlays, its point served again`, undefined)
      if (was === 'completing') await this.completeJob(rel, r)
    } catch (err) {
      await say(`the failover of ${r.vm} could not be carried on after the restart (${(err as Error).message}): its record is kept; run tandem failover cancel ${r.vm}, or start the VM and complete`, codeOf(err))
    }
  }

  /** An event (`failover-resume` by default) and a log line; never throws. */
  private async note (relationship: string, vm: string | undefined, reason: string, code?: string, kind = 'failover-resume'): Promise<void> {
    this.init.logger[code === undefined ? 'info' : 'warn']({ relationship, vm, code }, reason)
    await this.init.events.append({ kind, relationship, ...(vm === undefined ? {} : { vm }), reason, ...(code === undefined ? {} : { code }) })
      .catch(err => { this.init.logger.error({ err }, 'a failover event could not be logged') })
  }

  private infoOf (r: FailoverRecord): FailoverInfo {
    return failoverInfo(r, { term: this.init.relationships.get(r.relationship)?.term ?? 0, vmState: this.work.vmState(r), job: this.ops.get(r.relationship)?.job ?? null })
  }
}
