/**
 * The drill schedule (docs/failover.md "Drill schedule"): one loop per box
 * that sleeps until the next relationship's drill is due, runs it, and
 * sleeps again. Drills run one at a time per box. A drill that finds its
 * VM busy (a test or another drill of it runs) is tried again
 * DRILL_BUSY_RETRY_MS later; a drill that fails is not retried before its
 * next turn (its failure is an event).
 */
import type { Clock } from '../scheduler/clock.ts'
import { DRILL_BUSY_RETRY_MS } from './constants.ts'

export interface DrillTimerInit {
  clock: Clock
  /** Each relationship with a schedule and when its next drill is due (ms); read again after every drill and every poke(). */
  due: () => Array<{ relationship: string, at: number }>
  /**
   * Runs the relationship's drill to its end: `busy` when it could not
   * start because its VM is in use (it is then tried again later).
   * A rejection is a bug of the caller's (it is given to onError).
   */
  run: (relationship: string, signal: AbortSignal) => Promise<'ran' | 'busy'>
  onError: (err: unknown, relationship: string) => void
  /** DRILL_BUSY_RETRY_MS by default. */
  busyRetryMs?: number
}

/**
 * Lifecycle: start() starts the loop; poke() makes it read the schedule
 * again (after a change of settings); stop() aborts a sleep or the drill
 * in progress and resolves once the loop has ended. Idempotent.
 */
export class DrillTimer {
  private readonly init: DrillTimerInit
  /** Relationships whose drill found the VM busy: not before this time. */
  private readonly postponed = new Map<string, number>()
  private readonly stopping = new AbortController()
  private wake = new AbortController()
  private loop: Promise<void> | undefined

  constructor (init: DrillTimerInit) {
    this.init = init
  }

  start (): void {
    this.loop ??= this.run()
  }

  /** The schedule changed: read it again now. */
  poke (): void {
    this.wake.abort()
  }

  async stop (): Promise<void> {
    this.stopping.abort()
    await this.loop
  }

  /** The due entries as the loop sees them: busy ones postponed. Pure over its inputs. */
  private schedule (): Array<{ relationship: string, at: number }> {
    const entries = this.init.due()
    const known = new Set(entries.map(e => e.relationship))
    for (const r of this.postponed.keys()) if (!known.has(r)) this.postponed.delete(r)
    return entries.map(e => ({ relationship: e.relationship, at: Math.max(e.at, this.postponed.get(e.relationship) ?? 0) })).sort((a, b) => a.at - b.at)
  }

  private async run (): Promise<void> {
    const { clock } = this.init
    const signal = this.stopping.signal
    while (!signal.aborted) {
      const next = this.schedule()[0]
      const wake = this.wake = new AbortController()
      if (next === undefined || next.at > clock.now()) {
        // no schedule: sleep until poked (a day at a time, so a clock that jumps is looked at again)
        const ms = next === undefined ? 24 * 60 * 60_000 : next.at - clock.now()
        await clock.sleep(ms, AbortSignal.any([signal, wake.signal])).catch(() => undefined)
        continue
      }
      let outcome: 'ran' | 'busy'
      try {
        outcome = await this.init.run(next.relationship, signal)
      } catch (err) {
        if (signal.aborted) return
        this.init.onError(err, next.relationship)
        outcome = 'busy'
      }
      if (outcome === 'busy') this.postponed.set(next.relationship, clock.now() + (this.init.busyRetryMs ?? DRILL_BUSY_RETRY_MS))
      else this.postponed.delete(next.relationship)
    }
  }
}
