import type { Clock } from './clock.ts'
import { MAX_CONCURRENT_CYCLES } from './constants.ts'
import { CycleSlots } from './cycle-slots.ts'
import { RelationshipSchedule, type RelationshipScheduleInit } from './relationship-schedule.ts'

export interface SchedulerInit {
  clock?: Clock
  /** Cycles running at once across all relationships (default MAX_CONCURRENT_CYCLES). */
  maxConcurrentCycles?: number
}

/**
 * Every relationship's schedule, sharing one limit on cycles that run at
 * once. A schedule added after start() starts at once; stop() stops them
 * all (cycles in flight are aborted and stay resumable) and resolves when
 * every loop has ended. One schedule per id: adding an id again replaces
 * (stops) the old one first.
 */
export class Scheduler {
  private readonly clock: Clock | undefined
  private readonly slots: CycleSlots
  private readonly schedules = new Map<string, RelationshipSchedule>()
  private started = false

  constructor (init: SchedulerInit = {}) {
    this.clock = init.clock
    this.slots = new CycleSlots(init.maxConcurrentCycles ?? MAX_CONCURRENT_CYCLES)
  }

  start (): void {
    this.started = true
    for (const s of this.schedules.values()) s.start()
  }

  async stop (): Promise<void> {
    this.started = false
    await Promise.all([...this.schedules.values()].map(async s => { await s.stop() }))
  }

  async add (init: Omit<RelationshipScheduleInit, 'clock' | 'slots'>): Promise<RelationshipSchedule> {
    await this.remove(init.id)
    const schedule = new RelationshipSchedule({ ...init, slots: this.slots, ...(this.clock === undefined ? {} : { clock: this.clock }) })
    this.schedules.set(init.id, schedule)
    if (this.started) schedule.start()
    return schedule
  }

  /** Stops and forgets the schedule of `id`; false when there was none. */
  async remove (id: string): Promise<boolean> {
    const s = this.schedules.get(id)
    if (s === undefined) return false
    this.schedules.delete(id)
    await s.stop()
    return true
  }

  get (id: string): RelationshipSchedule | undefined {
    return this.schedules.get(id)
  }

  /** Cycles running now, across all relationships. */
  get runningCycles (): number { return this.slots.busy }
}
