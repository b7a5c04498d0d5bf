/**
 * Drills on the Replica (docs/failover.md "Drills"): a test failover that
 * proves something. A drill job starts the point's test VM, waits for the
 * sign of life, takes a screenshot into DATA/drills/<relationship>/, times
 * it, stops the test, and records a proof of the point; a drill that saw
 * no sign fails with APP_DRILL_FAILED and marks nothing. A per-relationship
 * schedule (drill-timer.ts) runs drills of the latest point.
 */
import { drillTestVm, type DrillDriver, type DrillResult } from '../drivers/qemu/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { durationText, type EventLog } from '../events/index.ts'
import type { JobRegistry } from '../jobs/index.ts'
import type { JobContext, JobResult } from '../jobs/job-registry.ts'
import type { Relationship } from '../relationships/index.ts'
import { systemClock, type Clock } from '../scheduler/clock.ts'
import type {
  DrillInfo, DrillRequest, DrillScreenshot, DrillScheduleRequest, DrillSettingsInfo, DrillSignInfo, JobInfo, PlanFacts, PointInfo, ProofInfo, TestPlanInfo, TestPlanRequest
} from '../service/index.ts'
import type { DrillBook, Proof } from './drill-book.ts'
import { checkDrillSign, checkDrillTimeout, defaultDrillSettings, nextDrillAt, parseDrillEvery, parseDrillTimeout, type DrillSettings } from './drill-settings.ts'
import { DrillTimer } from './drill-timer.ts'
import type { TestFailovers } from './test-failovers.ts'

export interface DrillsLog {
  info: (fields: object, message: string) => void
  warn: (fields: object, message: string) => void
  error: (fields: object, message: string) => void
}

export interface DrillsInit {
  tests: TestFailovers
  book: DrillBook
  jobs: JobRegistry
  driver: DrillDriver
  events: EventLog
  logger: DrillsLog
  /** The schedule's clock (systemClock by default; tests drive one by hand). */
  clock?: Clock
}

const iso = (ms: number): string => new Date(ms).toISOString()
const codeOf = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : AppErrorCode.APP_UNEXPECTED
}

/** A sign in words: `the guest agent` or `a serial line matching /.../`. */
export function signText (sign: DrillSignInfo): string {
  return sign.kind === 'agent' ? 'the guest agent answering' : `a serial console line matching /${sign.pattern}/`
}

/** A proof as the API shows it. */
export function proofInfo (p: Proof): ProofInfo {
  return { point: p.point, root: p.root, time: iso(p.time), sign: p.sign, signOfLifeMs: p.signOfLifeMs, screenshot: p.screenshot }
}

/**
 * Lifecycle: start() (after the test failovers and the jobs: loads the
 * drill files, starts the schedule), stop() (before the jobs stop: the
 * schedule starts no drill once stopped; the job registry cancels one in
 * progress). Methods may be called concurrently.
 */
export class Drills {
  private readonly init: DrillsInit
  private readonly clock: Clock
  private readonly timer: DrillTimer

  constructor (init: DrillsInit) {
    this.init = init
    this.clock = init.clock ?? systemClock
    this.timer = new DrillTimer({
      clock: this.clock,
      due: () => this.due(),
      run: async (relationship, signal) => await this.scheduled(relationship, signal),
      onError: (err, relationship) => { init.logger.error({ err, relationship }, 'a scheduled drill failed unexpectedly') }
    })
  }

  async start (): Promise<void> {
    for (const { relationship, err } of await this.init.book.open()) {
      this.init.logger.warn({ err, relationship }, 'drill settings cannot be read: no drill is scheduled for this relationship')
      await this.init.events.append({ kind: 'drill-schedule', relationship, code: codeOf(err), reason: `drill settings cannot be read, so none is scheduled: ${(err as Error).message}` }).catch(() => undefined)
    }
    this.timer.start()
  }

  async stop (): Promise<void> {
    await this.timer.stop()
  }

  /** failoverTestPlan: the test's plan, and for a drill the sign and time limit it would use. */
  async plan (name: string, request: TestPlanRequest = {}): Promise<PlanFacts<TestPlanInfo>> {
    const plan = await this.init.tests.plan(name, request.point === undefined ? {} : { point: request.point })
    if (request.check !== true) return plan
    if (plan.testVm === null) throw this.notManaged(plan.vm, plan.note)
    const s = this.settingsOf(plan.relationship, request)
    return { ...plan, check: { sign: s.sign, timeoutMs: s.timeoutMs, screenshotDir: this.init.book.relationshipDir(plan.relationship) } }
  }

  /** failoverDrill: checks as a test start would, then runs the drill as a job. */
  async drill (name: string, request: DrillRequest = {}): Promise<JobInfo> {
    const plan = await this.plan(name, { ...request, check: true })
    const rel = this.init.tests.resolve(plan.relationship)
    const running = this.init.jobs.running('drill', rel.vm)
    if (running !== undefined) throw new AppError(AppErrorCode.APP_INVALID_STATE, `drill job ${running.id} of ${rel.vm} runs: one test per VM at a time`, { details: { state: rel.state, input: 'drill' } })
    const s = this.settingsOf(rel.id, request)
    return await this.init.jobs.start({
      kind: 'drill',
      vm: rel.vm,
      relationship: rel.id,
      reason: `drill of ${rel.vm} on ${request.point === undefined ? 'its latest point' : `point ${request.point}`}: waiting up to ${durationText(s.timeoutMs)} for ${signText(s.sign)}`,
      work: async ctx => await this.run(rel, request.point, s, ctx)
    })
  }

  /** failoverDrillSchedule: validates, writes, and makes the schedule read it again. */
  async schedule (name: string, request: DrillScheduleRequest): Promise<DrillSettingsInfo> {
    const rel = this.init.tests.resolve(name)
    const everyMs = parseDrillEvery(request.every)
    const now = this.clock.now()
    const held = this.init.book.getSettings(rel.id) ?? defaultDrillSettings(now)
    const next: DrillSettings = {
      everyMs,
      sign: request.sign === undefined ? held.sign : checkDrillSign(request.sign),
      timeoutMs: request.timeout === undefined ? held.timeoutMs : parseDrillTimeout(request.timeout),
      lastRunAt: held.lastRunAt,
      setAt: everyMs === held.everyMs ? held.setAt : now
    }
    await this.init.book.setSettings(rel.id, next)
    this.timer.poke()
    const when = everyMs === null ? 'no schedule (drills run when asked for)' : `a drill of the latest point every ${durationText(everyMs)}`
    await this.init.events.append({ kind: 'drill-schedule', relationship: rel.id, vm: rel.vm, reason: `drill settings of ${rel.vm}: ${when}, waiting up to ${durationText(next.timeoutMs)} for ${signText(next.sign)}`, data: { everyMs, timeoutMs: next.timeoutMs, sign: next.sign.kind } })
    return this.settingsInfo(rel, next)
  }

  /** What status shows of the relationship: its drill settings and its newest proof. A damaged proofs file shows none (it is reported when a drill writes). */
  async statusOf (rel: Relationship): Promise<{ lastProvenPoint: ProofInfo | null, drill: DrillSettingsInfo | null }> {
    const s = this.init.book.getSettings(rel.id)
    const proofs = await this.init.book.listProofs(rel.id).catch(() => [])
    const last = proofs.at(-1)
    return { lastProvenPoint: last === undefined ? null : proofInfo(last), drill: s === undefined ? null : this.settingsInfo(rel, s) }
  }

  /** drillScreenshot: a screenshot one of the relationship's proofs names (DrillBook.screenshot). */
  async screenshot (name: string, file: string): Promise<DrillScreenshot> {
    return await this.init.book.screenshot(this.init.tests.resolve(name).id, file)
  }

  /** The points with their proofs: the newest proof of each point whose id and root match. */
  async withProofs (relationship: string, points: PointInfo[]): Promise<PointInfo[]> {
    const proofs = await this.init.book.listProofs(relationship).catch(() => [])
    return points.map(p => {
      const proof = proofs.findLast(x => x.point === p.id && x.root === p.root)
      return proof === undefined ? p : { ...p, proven: proofInfo(proof) }
    })
  }

  private settingsOf (relationship: string, request: { sign?: DrillSignInfo, timeoutMs?: number }): DrillSettings {
    const s = this.init.book.getSettings(relationship) ?? defaultDrillSettings(this.clock.now())
    return {
      ...s,
      sign: request.sign === undefined ? s.sign : checkDrillSign(request.sign),
      timeoutMs: request.timeoutMs === undefined ? s.timeoutMs : checkDrillTimeout(request.timeoutMs)
    }
  }

  private settingsInfo (rel: Relationship, s: DrillSettings): DrillSettingsInfo {
    const next = nextDrillAt(s)
    return { relationship: rel.id, vm: rel.vm, everyMs: s.everyMs, sign: s.sign, timeoutMs: s.timeoutMs, lastRunAt: s.lastRunAt === null ? null : iso(s.lastRunAt), nextAt: next === null ? null : iso(next) }
  }

  private notManaged (vm: string, why: string | null): AppError {
    return new AppError(AppErrorCode.APP_VM_NOT_MANAGED, `a drill boots ${vm}, which this box cannot run: ${why ?? 'its boot is not known here'}`)
  }

  /** The drill's work: the attempt counts for the schedule from its start, whatever its outcome. */
  private async run (rel: Relationship, point: number | undefined, s: DrillSettings, ctx: JobContext): Promise<{ result: JobResult, reason: string, data: Record<string, number | string> }> {
    const { book, tests } = this.init
    const held = book.getSettings(rel.id)
    if (held !== undefined) await book.setSettings(rel.id, { ...held, lastRunAt: this.clock.now() })
    const test = await tests.startTest(rel.id, point === undefined ? {} : { point }, { drillJob: ctx.id, signal: ctx.signal })
    let result: DrillResult
    try {
      if (test.testVm === undefined) throw this.notManaged(rel.vm, null)
      await book.prepare(rel.id)
      const screenshot = book.screenshotPath(rel.id, test.point.root, this.clock.now())
      result = await drillTestVm(this.init.driver, test.testVm, { sign: s.sign, screenshot, timeoutMs: s.timeoutMs, signal: ctx.signal })
    } finally {
      await tests.stopTest(rel.id, { drill: true })
    }
    const where = `point ${test.point.id} of ${rel.vm}`
    if (!result.ok || result.signOfLifeMs === null || result.screenshot === null) {
      throw new AppError(AppErrorCode.APP_DRILL_FAILED, `${where} is not proven: ${result.reason}${result.screenshot === null ? '' : ` (screenshot kept at ${result.screenshot})`}`)
    }
    const proof: Proof = { point: test.point.id, root: test.point.root, time: this.clock.now(), sign: result.sign, signOfLifeMs: result.signOfLifeMs, screenshot: result.screenshot }
    await book.addProof(rel.id, proof)
    const info: DrillInfo = { relationship: rel.id, vm: rel.vm, point: test.point.id, root: test.point.root, reason: result.reason, proof: proofInfo(proof), timings: { ...test.timings } }
    return {
      result: { kind: 'drill', result: info },
      reason: `${where} proven: ${result.reason}`,
      data: { point: proof.point, signOfLifeMs: proof.signOfLifeMs, screenshot: proof.screenshot, serveMs: test.timings.serveMs, overlayMs: test.timings.overlayMs ?? 0, startMs: test.timings.startMs ?? 0 }
    }
  }

  /** Every relationship with a schedule that is still held here, and when its next drill is due. */
  private due (): Array<{ relationship: string, at: number }> {
    const out: Array<{ relationship: string, at: number }> = []
    for (const { relationship, settings } of this.init.book.allSettings()) {
      const at = nextDrillAt(settings)
      if (at === null) continue
      try {
        this.init.tests.resolve(relationship)
      } catch {
        continue
      }
      out.push({ relationship, at })
    }
    return out
  }

  /**
   * A scheduled drill of the latest point, followed to its end (or until
   * `signal`, the schedule's stop): `busy` while the VM has a test or any
   * drill runs on this box (one at a time per box). A drill that
   * cannot start (no point yet, a kernel missing...) is an event, and its
   * attempt counts: it is tried again at its next turn, not in a loop.
   */
  private async scheduled (relationship: string, signal: AbortSignal): Promise<'ran' | 'busy'> {
    const { jobs, tests, book, events, logger } = this.init
    if (tests.running(relationship) || jobs.list().some(j => j.kind === 'drill' && j.state === 'running')) return 'busy'
    let job: JobInfo
    try {
      job = await this.drill(relationship)
    } catch (err) {
      if (codeOf(err) === AppErrorCode.APP_INVALID_STATE) return 'busy'
      const held = book.getSettings(relationship)
      if (held !== undefined) await book.setSettings(relationship, { ...held, lastRunAt: this.clock.now() })
      logger.warn({ err, relationship }, 'a scheduled drill could not start')
      await events.append({ kind: 'drill', relationship, code: codeOf(err), reason: `the scheduled drill did not start: ${(err as Error).message}` }).catch(() => undefined)
      return 'ran'
    }
    // The schedule's stop (the daemon's) does not wait for the drill: the jobs' stop, next, cancels it.
    let onAbort = (): void => {}
    const stopped = new Promise<void>(resolve => { onAbort = resolve; signal.addEventListener('abort', onAbort, { once: true }) })
    try {
      await Promise.race([jobs.wait(job.id), stopped])
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
    return 'ran'
  }
}
