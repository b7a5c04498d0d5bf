import { missedIntervals } from '../events/missed-intervals.ts'
import { systemClock, type Clock } from './clock.ts'
import { CONTINUOUS_PAUSE_MS } from './constants.ts'
import { CycleSlots } from './cycle-slots.ts'
import { isNetworkFailure, nextCycle, retryDelay, type FrequencyMs } from './plan.ts'

/** What one cycle of a schedule did, told to `onCycle` after it ended. */
export interface CycleReport {
  /** When it was due and when it started and ended (ms since the epoch). */
  due: number
  start: number
  end: number
  ok: boolean
  /** The error it failed with. */
  error?: unknown
  /** It failed on the link (plan.ts isNetworkFailure): the next start is a retry that resumes the staged cycle. */
  network: boolean
  /** Retry number of the next start (1, 2, ...), when it is a retry. */
  retry?: number
  /** Intervals that pass, after this cycle's own, before the next start (nextCycle in plan.ts). */
  missed: number
  /** When the next cycle is due. */
  nextDue: number
}

export interface RelationshipScheduleInit {
  /** What the schedule is for (logs, errors). */
  id: string
  /** ms between cycles; 0 is continuous. */
  frequencyMs: FrequencyMs
  /** One cycle: resolves when committed on the Replica; must honour `signal` (stop aborts it, and it must stay resumable). */
  runCycle: (signal: AbortSignal) => Promise<void>
  /** When the first cycle is due (default: at once). */
  firstDue?: number
  /**
   * The grid point of the last cycle before this schedule (after a restart,
   * the newest point's time), from which setFrequency() counts while no
   * cycle has run yet; without it a new frequency waits for the first cycle.
   */
  lastDue?: number
  clock?: Clock
  /** Shared with the other schedules (default: a slot of its own). */
  slots?: CycleSlots
  /** Told after every cycle; an exception it throws is ignored (it must not stop replication). */
  onCycle?: (report: CycleReport) => void
  /** Starts suspended: no cycle runs until resume(). */
  suspended?: boolean
}

/**
 * The cycles of one relationship: one at a time, never overlapping, due on
 * a grid of the frequency. A cycle that runs past its interval counts the
 * intervals it missed, and the next starts on the first grid point after
 * it. A cycle that fails on the link is retried with a growing pause
 * (retryDelay) and resumes where it stopped; any other failure waits for
 * the next interval. start() begins the loop; stop() aborts a cycle in
 * flight (it stays resumable) and resolves once the loop has ended.
 * suspend() lets a cycle in flight finish and starts no more until resume().
 * setFrequency() changes the grid without disturbing a cycle in flight.
 * Methods may be called at any time, in any order; none throws.
 */
export class RelationshipSchedule {
  readonly id: string
  private readonly init: RelationshipScheduleInit
  private readonly clock: Clock
  private readonly slots: CycleSlots
  private readonly stopping = new AbortController()
  private wake = new AbortController()
  private loop: Promise<void> | undefined
  private due: number
  private suspendedNow: boolean
  private cycling = false
  private attempt = 0
  private frequency: FrequencyMs
  /** The due time of the last cycle run (or the init's lastDue): the grid point a new frequency counts from. */
  private lastDue: number | undefined

  constructor (init: RelationshipScheduleInit) {
    checkFrequency(init.frequencyMs)
    this.init = init
    this.id = init.id
    this.frequency = init.frequencyMs
    this.lastDue = init.lastDue
    this.clock = init.clock ?? systemClock
    this.slots = init.slots ?? new CycleSlots(1)
    this.due = init.firstDue ?? this.clock.now()
    this.suspendedNow = init.suspended === true
  }

  /** ms between cycles; 0 is continuous. */
  get frequencyMs (): FrequencyMs { return this.frequency }
  /** When the next cycle is due (ms since the epoch); while a cycle runs, when it was due. */
  get nextDue (): number { return this.due }
  get suspended (): boolean { return this.suspendedNow }
  /** A cycle is in flight. */
  get running (): boolean { return this.cycling }

  start (): void {
    if (this.loop !== undefined || this.stopping.signal.aborted) return
    this.loop = this.run()
  }

  async stop (): Promise<void> {
    this.stopping.abort(new Error(`schedule ${this.id} stopped`))
    this.wake.abort()
    await this.loop
  }

  suspend (): void {
    this.suspendedNow = true
  }

  resume (): void {
    if (!this.suspendedNow) return
    this.suspendedNow = false
    this.wake.abort()
  }

  /** Starts a cycle now instead of at its due time (after the one in flight, if any); the grid restarts from it. */
  runNow (): void {
    this.due = this.clock.now()
    this.attempt = 0
    this.wake.abort()
  }

  /**
   * Cycles are `frequencyMs` apart from now on. A cycle in flight runs on,
   * and the one after it is planned on the new frequency; a pending retry
   * keeps its pause. Otherwise the next cycle is due one new interval after
   * the last cycle's due time (at once when that has passed, or for
   * continuous); before any cycle (no lastDue) the due time stays.
   * A TypeError for a negative or non-finite frequency.
   */
  setFrequency (frequencyMs: FrequencyMs): void {
    checkFrequency(frequencyMs)
    this.frequency = frequencyMs
    if (this.cycling || this.attempt > 0 || this.lastDue === undefined) return
    this.due = frequencyMs > 0 ? this.lastDue + frequencyMs : this.clock.now()
    this.wake.abort()
  }

  private async run (): Promise<void> {
    const stop = this.stopping.signal
    while (!stop.aborted) {
      if (this.suspendedNow || this.clock.now() < this.due) {
        await this.sleep(this.suspendedNow ? Infinity : this.due - this.clock.now())
        continue
      }
      let release: () => void
      try { release = await this.slots.acquire(stop) } catch { break }
      if (this.suspendedNow) { release(); continue }
      this.cycling = true
      const due = this.due
      this.lastDue = due
      const start = this.clock.now()
      let error: unknown
      let ok = true
      try {
        await this.init.runCycle(stop)
      } catch (err) {
        ok = false
        error = err
      } finally {
        this.cycling = false
        release()
      }
      if (stop.aborted) break
      this.report(this.plan(due, start, this.clock.now(), ok, error))
    }
  }

  /** The next due time after a cycle, and its report. Keeps the grid unless runNow() moved it meanwhile. */
  private plan (due: number, start: number, end: number, ok: boolean, error: unknown): CycleReport {
    const network = !ok && isNetworkFailure(error)
    const base: Omit<CycleReport, 'missed' | 'nextDue'> = { due, start, end, ok, network, ...(ok ? {} : { error }) }
    if (this.due !== due) return { ...base, missed: 0, nextDue: this.due } // runNow() during the cycle
    if (network) {
      this.attempt++
      const at = end + retryDelay(this.attempt)
      const missed = this.frequencyMs > 0 ? missedIntervals(this.frequencyMs, due, at) : 0
      this.due = at
      return { ...base, retry: this.attempt, missed, nextDue: at }
    }
    this.attempt = 0
    const next = nextCycle(due, end, this.frequencyMs)
    this.due = this.frequencyMs > 0 ? next.due : end + CONTINUOUS_PAUSE_MS
    return { ...base, missed: next.missed, nextDue: this.due }
  }

  private report (report: CycleReport): void {
    try { this.init.onCycle?.(report) } catch {}
  }

  /** Waits `ms` (Infinity: until woken); stop(), resume() and runNow() wake it early. */
  private async sleep (ms: number): Promise<void> {
    if (this.wake.signal.aborted) this.wake = new AbortController()
    const signal = AbortSignal.any([this.wake.signal, this.stopping.signal])
    try {
      await (ms === Infinity ? new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true })) : this.clock.sleep(ms, signal))
    } catch {}
  }
}

function checkFrequency (frequencyMs: FrequencyMs): void {
  if (!Number.isFinite(frequencyMs) || frequencyMs < 0) throw new TypeError(`frequency must be a number of ms >= 0, got ${frequencyMs}`)
}
