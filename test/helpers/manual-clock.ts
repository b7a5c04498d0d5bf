/**
 * A Clock (appliance/scheduler/clock.ts) that moves only when a test moves
 * it: sleeps resolve in time order as `advance` passes their end, and a test
 * waits for the code under test to be asleep with `sleeping`, a signal
 * instead of a real pause.
 */
import type { Clock } from '../../appliance/scheduler/clock.ts'

interface Sleeper { at: number, resolve: () => void }

export class ManualClock implements Clock {
  time: number
  private readonly sleepers: Sleeper[] = []
  private readonly watchers: Array<{ count: number, resolve: () => void }> = []

  constructor (time = 0) { this.time = time }

  now = (): number => this.time

  sleep = async (ms: number, signal: AbortSignal): Promise<void> => await new Promise<void>((resolve, reject) => {
    if (signal.aborted) { reject(signal.reason); return }
    const sleeper: Sleeper = {
      at: this.time + Math.max(0, ms),
      resolve: () => { signal.removeEventListener('abort', onAbort); resolve() }
    }
    const onAbort = (): void => { this.drop(sleeper); reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
    if (sleeper.at <= this.time) { sleeper.resolve(); return }
    this.sleepers.push(sleeper)
    this.notify()
  })

  /** Sleeps pending now. */
  get pending (): number { return this.sleepers.length }

  /** Resolves once at least `count` sleeps are pending. */
  async sleeping (count = 1): Promise<void> {
    if (this.sleepers.length >= count) return
    await new Promise<void>(resolve => this.watchers.push({ count, resolve }))
  }

  /** Moves time forward by `ms`, waking each sleep whose end it passes, earliest first. */
  advance (ms: number): void {
    this.time += ms
    const due = this.sleepers.filter(s => s.at <= this.time).sort((a, b) => a.at - b.at)
    for (const s of due) { this.drop(s); s.resolve() }
  }

  private drop (s: Sleeper): void {
    const i = this.sleepers.indexOf(s)
    if (i >= 0) this.sleepers.splice(i, 1)
  }

  private notify (): void {
    for (const w of [...this.watchers]) {
      if (this.sleepers.length >= w.count) { this.watchers.splice(this.watchers.indexOf(w), 1); w.resolve() }
    }
  }
}
