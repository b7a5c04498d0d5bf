/**
 * Test failovers on the Replica (docs/failover.md "Test failover"): a
 * recovery point served over NBD (pinned: retention keeps it), a
 * throw-away VM `<vm>-test` on qcow2 overlays over it with isolated NICs,
 * and nothing left once it stops. The relationship's state never changes:
 * replication goes on committing points meanwhile.
 */
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises'
import { join } from 'node:path'
import { DISK_NAME_PATTERN } from '../../core/constants.ts'
import { startTestVm, stopTestVm, TEST_VM_STOP_WINDOW_MS, type Accel, type QemuDriver, type TestVm } from '../drivers/qemu/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { EventData, EventLog } from '../events/index.ts'
import { isDirectory } from '../fs-util.ts'
import type { VmInventory } from '../inventory/index.ts'
import type { Relationship, RelationshipTable } from '../relationships/index.ts'
import type { PointInfo, PointsResult, TestFailoverInfo, TestPlanInfo, TestStopPlanInfo, TestStopResult, TestTimings, PlanFacts } from '../service/index.ts'
import { checkPointId, choosePoint, type PointChoice } from './point-choice.ts'
import type { PointServing } from './point-server.ts'
import { readTestRecord, writeTestRecord, type TestRecord } from './test-record.ts'
import { checkBootFiles, testVmPlan, type TestVmPlan } from './test-vm-plan.ts'

/** Where the daemon logs (its pino logger). */
export interface TestFailoversLog {
  info: (fields: object, message: string) => void
  warn: (fields: object, message: string) => void
}

export interface TestFailoversInit {
  /** DATA/failover/: each test VM's run directory is `<relationship>/test/`. */
  dir: string
  relationships: Pick<RelationshipTable, 'get' | 'byVm'>
  /** The Replica's points and servings (ReplicaSide). */
  replica: {
    points: (name: string) => Promise<PointsResult>
    servePoint: (name: string, pointId: number) => Promise<PointServing>
  }
  /** A VM of the inventory may not share the test VM's name. */
  inventory: Pick<VmInventory, 'get'>
  driver: QemuDriver
  events: EventLog
  logger: TestFailoversLog
  now: () => number
  /** The test VMs' accelerator: `auto` by default (KVM when usable, else TCG). */
  accel?: 'auto' | Accel
  /** A monotonic clock for the step timings (performance.now by default). */
  clock?: () => number
}

/** A test that runs (or is starting or stopping). */
export interface RunningTest {
  relationship: string
  vm: string
  point: PointInfo
  since: number
  plan: TestVmPlan
  serving: PointServing
  /** The VM, or undefined for a test that only serves the point. */
  testVm: TestVm | undefined
  drillJob: string | null
  timings: TestTimings
}

/** Options of a start, for drills. */
export interface TestStartOptions {
  drillJob?: string
  signal?: AbortSignal
}

const iso = (ms: number): string => new Date(ms).toISOString()
const codeOf = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : AppErrorCode.APP_UNEXPECTED
}

/**
 * One test per relationship at a time. Lifecycle: start() (after the point
 * server and the drivers: cleans what a killed daemon left, each cleanup
 * an event), then tests come and go, then stop() (daemon stop, before the
 * servings close: stops every test VM and closes its serving, and refuses
 * new tests). Methods may be called concurrently.
 */
export class TestFailovers {
  private readonly init: TestFailoversInit
  private readonly clock: () => number
  /** By relationship id; an entry is reserved (undefined) while its test starts or stops. */
  private readonly tests = new Map<string, RunningTest | undefined>()
  private readonly busy = new Set<Promise<unknown>>()
  private stopping = false

  constructor (init: TestFailoversInit) {
    this.init = init
    this.clock = init.clock ?? (() => performance.now())
  }

  /**
   * What a killed daemon left (docs/failover.md "After a crash"): each
   * `<relationship>/test/` run directory. A test VM still running (found
   * by its pid file and QMP, like the qemu driver's adopt) is stopped, and
   * the directory removed. A record that cannot be read, or a QEMU that
   * does not answer, is left as it is and reported. Never throws for one
   * leftover; each is an event (`test-failover-cleanup`).
   */
  async start (signal?: AbortSignal): Promise<void> {
    await mkdir(this.init.dir, { recursive: true, mode: 0o700 })
    for (const rel of (await readdir(this.init.dir)).filter(n => DISK_NAME_PATTERN.test(n)).sort()) {
      const runDir = this.runDir(rel)
      if (await isDirectory(runDir)) await this.cleanLeftover(rel, runDir, signal)
      await this.removeIfEmpty(rel)
    }
  }

  /** Refuses new tests, waits for those starting or stopping, then stops every test. Idempotent. */
  async stop (): Promise<void> {
    this.stopping = true
    await Promise.allSettled([...this.busy])
    for (const t of [...this.tests.values()]) {
      if (t === undefined) continue
      await this.close(t, 'the daemon is stopping').catch(err => { this.init.logger.warn({ err, relationship: t.relationship }, 'a test failover could not be stopped with the daemon') })
      this.tests.delete(t.relationship)
    }
  }

  /** The relationship held here as Replica that `name` (a VM name or relationship id) names. APP_USAGE, APP_RELATIONSHIP_NOT_FOUND. */
  resolve (name: string): Relationship {
    if (!DISK_NAME_PATTERN.test(name)) throw new AppError(AppErrorCode.APP_USAGE, `${name.slice(0, 80)} is not a VM name or relationship id`)
    const { relationships } = this.init
    const rel = relationships.byVm(name) ?? relationships.get(name)
    if (rel?.role === 'replica') return rel
    if (rel?.role === 'primary') throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `this box is the primary of ${rel.vm}: test failovers run on its Replica (${rel.peer})`)
    throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `this box holds no relationship ${name} as Replica`)
  }

  /** Whether a test of the relationship runs, starts or stops. */
  running (relationship: string): boolean {
    return this.tests.has(relationship)
  }

  /** The test of the relationship as status shows it, or null. */
  info (relationship: string): TestFailoverInfo | null {
    const t = this.tests.get(relationship)
    return t === undefined ? null : this.infoOf(t)
  }

  list (): TestFailoverInfo[] {
    return [...this.tests.values()].filter((t): t is RunningTest => t !== undefined).map(t => this.infoOf(t))
  }

  /** Checks what a start would check and says what it would do; nothing is started. */
  async plan (name: string, request: { point?: number } = {}): Promise<PlanFacts<TestPlanInfo>> {
    const rel = this.resolve(name)
    this.refuseBusy(rel)
    const { point, latest, newer } = await this.choosePoint(rel, request.point)
    const plan = await this.checkedPlan(rel)
    const vm = rel.protectedVm
    return {
      relationship: rel.id,
      vm: rel.vm,
      state: rel.state,
      point,
      latest,
      newerPoints: newer,
      testVm: plan.kind === 'vm' ? plan.definition.name : null,
      note: plan.kind === 'vm' ? null : plan.why,
      vcpus: plan.kind === 'vm' ? plan.definition.vcpus : null,
      memoryMiB: plan.kind === 'vm' ? plan.definition.memoryMiB : null,
      boot: plan.kind === 'vm' ? plan.boot : null,
      nics: plan.kind === 'vm' ? plan.definition.nics.length : vm?.nics.length ?? 0,
      check: null
    }
  }

  /**
   * Starts a test of `name` on `request.point` (the latest by default):
   * serves the point, then (when this box can run the VM) makes the
   * overlays and starts `<vm>-test`. A begin / end pair of events
   * (`test-failover`) with the steps' timings. Whatever fails, nothing is
   * left (the serving closed, the run directory removed). Errors: see
   * FailoverApi.failoverTest.
   */
  async startTest (name: string, request: { point?: number } = {}, options: TestStartOptions = {}): Promise<RunningTest> {
    const rel = this.resolve(name)
    this.refuseBusy(rel)
    this.tests.set(rel.id, undefined)
    const work = this.open(rel, request.point, options)
    this.busy.add(work)
    try {
      const test = await work
      this.tests.set(rel.id, test)
      return test
    } catch (err) {
      this.tests.delete(rel.id)
      throw err
    } finally {
      this.busy.delete(work)
    }
  }

  /**
   * Stops the test of `name`: its VM (forced after a short window: its
   * writes are thrown away), its run directory (overlays, logs, sockets,
   * record), its serving (the point unpinned). A begin / end pair of
   * events (`test-failover-stop`). APP_INVALID_STATE when no test runs, or
   * when it is a drill's and `drill` is not set (the drill stops it).
   */
  async stopTest (name: string, options: { drill?: boolean } = {}): Promise<TestStopResult> {
    const { rel, t } = this.stoppable(name, options)
    this.tests.set(rel.id, undefined)
    const work = this.close(t)
    this.busy.add(work)
    try {
      await work
      this.tests.delete(rel.id)
    } catch (err) {
      // the VM may still run: the test stays listed, and stop-test may be tried again
      this.tests.set(rel.id, t)
      throw err
    } finally {
      this.busy.delete(work)
    }
    return { relationship: t.relationship, vm: t.vm, point: t.point.id, testVm: t.testVm?.name ?? null, stopped: true }
  }

  /** What stopTest would do, checked the same way; nothing is stopped. */
  stopPlan (name: string): PlanFacts<TestStopPlanInfo> {
    const { rel, t } = this.stoppable(name, {})
    return { relationship: rel.id, vm: rel.vm, state: rel.state, test: this.infoOf(t), runDir: this.runDir(rel.id), stopWindowMs: TEST_VM_STOP_WINDOW_MS }
  }

  /** The relationship of `name` and its running test, which stop-test may stop; APP_INVALID_STATE otherwise. */
  private stoppable (name: string, options: { drill?: boolean }): { rel: Relationship, t: RunningTest } {
    const rel = this.resolve(name)
    const t = this.tests.get(rel.id)
    if (t === undefined) {
      const why = this.tests.has(rel.id) ? `the test failover of ${rel.vm} is starting or stopping: try again once it has` : `no test failover of ${rel.vm} runs`
      throw new AppError(AppErrorCode.APP_INVALID_STATE, why, { details: { state: rel.state, input: 'stop-test' } })
    }
    if (t.drillJob !== null && options.drill !== true) {
      throw new AppError(AppErrorCode.APP_INVALID_STATE, `the test of ${rel.vm} is drill job ${t.drillJob}'s: it stops by itself, or cancel the job`, { details: { state: rel.state, input: 'stop-test' } })
    }
    return { rel, t }
  }

  private refuseBusy (rel: Relationship): void {
    if (this.stopping) throw new AppError(AppErrorCode.APP_INVALID_STATE, 'the daemon is stopping: no test failover starts', { details: { state: rel.state, input: 'test' } })
    if (this.tests.has(rel.id)) {
      const t = this.tests.get(rel.id)
      const what = t === undefined ? 'is starting or stopping' : t.drillJob === null ? `runs on point ${t.point.id}` : `runs for drill job ${t.drillJob}`
      throw new AppError(AppErrorCode.APP_INVALID_STATE, `a test failover of ${rel.vm} ${what}: one test per VM at a time (tandem failover stop-test ${rel.vm})`, { details: { state: rel.state, input: 'test' } })
    }
  }

  /** The plan, with what it needs of this box checked: no inventory VM of the test VM's name, its boot files here. */
  private async checkedPlan (rel: Relationship): Promise<TestVmPlan> {
    const plan = testVmPlan(rel.protectedVm, this.runDir(rel.id))
    if (plan.kind !== 'vm') return plan
    const name = plan.definition.name
    if (this.init.inventory.get(name) !== undefined) throw new AppError(AppErrorCode.APP_VM_EXISTS, `the inventory has a VM named ${name}, the name of ${rel.vm}'s test VM: rename or remove it to test ${rel.vm}`)
    await checkBootFiles(rel.vm, plan.bootFiles)
    return plan
  }

  /** The point asked for, or the newest held; APP_POINT_NOT_FOUND, APP_USAGE. */
  private async choosePoint (rel: Relationship, requested: number | undefined): Promise<PointChoice> {
    checkPointId(requested)
    const { points } = await this.init.replica.points(rel.id)
    return choosePoint(rel.vm, points, requested)
  }

  private async open (rel: Relationship, requested: number | undefined, options: TestStartOptions): Promise<RunningTest> {
    const plan = await this.checkedPlan(rel)
    let { point } = await this.choosePoint(rel, requested)
    const begin = await this.init.events.begin({
      kind: 'test-failover',
      relationship: rel.id,
      vm: rel.vm,
      reason: `test failover of ${rel.vm} on point ${point.id} (${point.time}, ${point.consistency}-consistent) requested${options.drillJob === undefined ? '' : ` by drill job ${options.drillJob}`}: ${plan.kind === 'vm' ? `${plan.definition.name} on an isolated network` : 'the point is only served'}; replication continues`,
      data: { point: point.id }
    })
    const t0 = this.clock()
    let serving: PointServing | undefined
    let testVm: TestVm | undefined
    try {
      ;({ serving, point } = await this.serve(rel, requested, point))
      const timings: TestTimings = { serveMs: Math.round(this.clock() - t0), overlayMs: null, startMs: null }
      if (plan.kind === 'vm') testVm = await this.startVm(rel, plan, serving, point, timings, options.signal)
      const test: RunningTest = { relationship: rel.id, vm: rel.vm, point, since: this.init.now(), plan, serving, testVm, drillJob: options.drillJob ?? null, timings }
      const data: EventData = { point: point.id, serveMs: timings.serveMs, overlayMs: timings.overlayMs, startMs: timings.startMs }
      const what = testVm === undefined ? `point ${point.id} served for a test (no VM runs here: ${plan.kind === 'serve-only' ? plan.why : ''})` : `${testVm.name} runs on point ${point.id} (isolated network)`
      await this.init.events.end(begin.seq, { outcome: 'ok', reason: `${what}: served in ${timings.serveMs} ms${timings.startMs === null ? '' : `, overlays in ${timings.overlayMs ?? 0} ms, started in ${timings.startMs} ms`}`, data })
      this.init.logger.info({ relationship: rel.id, point: point.id, testVm: testVm?.name, ...timings }, 'test failover started')
      return test
    } catch (err) {
      await serving?.close()
      await this.removeIfEmpty(rel.id)
      await this.init.events.end(begin.seq, { outcome: 'failed', code: codeOf(err), reason: `test failover of ${rel.vm} did not start: ${(err as Error).message}` }).catch(() => undefined)
      throw err
    }
  }

  /** Serves the point; a latest point pruned meanwhile (a cycle made a newer one) is replaced by the newest again. */
  private async serve (rel: Relationship, requested: number | undefined, point: PointInfo): Promise<{ serving: PointServing, point: PointInfo }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return { serving: await this.init.replica.servePoint(rel.id, point.id), point }
      } catch (err) {
        if (requested !== undefined || codeOf(err) !== AppErrorCode.APP_POINT_NOT_FOUND || attempt >= 2) throw err
        point = (await this.choosePoint(rel, undefined)).point
      }
    }
  }

  /** The overlays and the VM; the record is written first, so a daemon killed from then on finds the VM again. */
  private async startVm (rel: Relationship, plan: TestVmPlan & { kind: 'vm' }, serving: PointServing, point: PointInfo, timings: TestTimings, signal?: AbortSignal): Promise<TestVm> {
    const runDir = this.runDir(rel.id)
    await mkdir(runDir, { recursive: true, mode: 0o700 })
    try {
      await writeTestRecord(runDir, { relationship: rel.id, point: point.id, since: this.init.now(), definition: plan.definition })
      const backing = Object.fromEntries(serving.disks.map(d => [d.name, { socket: serving.socket, export: d.name }]))
      const t1 = this.clock()
      const vm = await startTestVm({
        driver: this.init.driver,
        vm: plan.base,
        backing,
        runDir,
        accel: this.init.accel ?? 'auto',
        clock: this.clock,
        ...(signal === undefined ? {} : { signal })
      })
      timings.overlayMs = Math.round(vm.startedAt - t1)
      timings.startMs = Math.round(this.clock() - vm.startedAt)
      return vm
    } catch (err) {
      await rm(runDir, { recursive: true, force: true })
      throw err
    }
  }

  private async close (t: RunningTest, why = 'stop requested'): Promise<void> {
    const begin = await this.init.events.begin({ kind: 'test-failover-stop', relationship: t.relationship, vm: t.vm, reason: `stopping the test failover of ${t.vm} on point ${t.point.id}: ${why}`, data: { point: t.point.id } })
    try {
      await this.teardown(t)
    } catch (err) {
      await this.init.events.end(begin.seq, { outcome: 'failed', code: codeOf(err), reason: `the test of ${t.vm} could not be stopped: ${(err as Error).message}` }).catch(() => undefined)
      throw err
    }
    await this.init.events.end(begin.seq, { outcome: 'ok', reason: `test of ${t.vm} stopped: ${t.testVm === undefined ? '' : `${t.testVm.name} and its overlays removed, `}point ${t.point.id} no longer served`, data: { point: t.point.id } })
    this.init.logger.info({ relationship: t.relationship, point: t.point.id }, 'test failover stopped')
  }

  /** The VM stopped and its run directory removed (idempotent), then the serving closed; the relationship's folder goes when empty. */
  private async teardown (t: RunningTest): Promise<void> {
    await t.testVm?.stop()
    await t.serving.close()
    await this.removeIfEmpty(t.relationship)
  }

  private async cleanLeftover (rel: string, runDir: string, signal?: AbortSignal): Promise<void> {
    const { events, logger, driver } = this.init
    const cleanup = async (reason: string, data: EventData = {}, code?: string): Promise<void> => {
      logger[code === undefined ? 'info' : 'warn']({ relationship: rel, runDir, code, ...data }, reason)
      await events.append({ kind: 'test-failover-cleanup', relationship: rel, reason, ...(code === undefined ? {} : { code }), data }).catch(() => undefined)
    }
    let record: TestRecord | undefined
    try {
      record = await readTestRecord(runDir)
    } catch (err) {
      await cleanup(`a test failover left ${runDir}, whose record cannot be read: left as it is (${(err as Error).message})`, {}, codeOf(err))
      return
    }
    if (record === undefined) {
      // the record is written before QEMU starts: without one, no VM was started
      await rm(runDir, { recursive: true, force: true })
      await cleanup(`removed the files of a test failover that a stop or crash cut short before its VM started (${runDir})`)
      return
    }
    const name = record.definition.name
    let state: string
    let pid: number | undefined
    try {
      const found = await driver.adopt(record.definition, { runDir, ...(signal === undefined ? {} : { signal }) })
      state = found.state
      pid = found.pid
      await stopTestVm(driver, name, runDir)
    } catch (err) {
      await cleanup(`a test VM (${name}) left by a crash could not be found again or stopped: its files are left in ${runDir} (${(err as Error).message})`, { testVm: name }, codeOf(err))
      return
    }
    const found = state === 'running' || state === 'paused'
    await cleanup(found
      ? `the test VM ${name} (pid ${pid ?? '?'}) that a crash left running on point ${record.point} was stopped, and its overlays and run directory removed`
      : `removed the overlays and run directory of the test VM ${name} (point ${record.point}) that a crash left; its QEMU had ended`, { testVm: name, point: record.point, found })
  }

  /** Removes DATA/failover/<relationship>/ when nothing is left in it (another failover may use it). */
  private async removeIfEmpty (relationship: string): Promise<void> {
    await rmdir(join(this.init.dir, relationship)).catch(() => undefined)
  }

  private runDir (relationship: string): string {
    return join(this.init.dir, relationship, 'test')
  }

  private infoOf (t: RunningTest): TestFailoverInfo {
    return {
      relationship: t.relationship,
      vm: t.vm,
      point: t.point,
      since: iso(t.since),
      testVm: t.testVm?.name ?? null,
      state: t.testVm === undefined ? null : this.init.driver.status(t.testVm.name).state,
      note: t.plan.kind === 'serve-only' ? t.plan.why : null,
      disks: t.serving.disks.map(d => ({ name: d.name, size: d.size, uri: d.uri })),
      drillJob: t.drillJob,
      timings: { ...t.timings }
    }
  }
}
