import type { CycleRecord } from './cycle-record.ts'
import { DEFAULT_MONITORING_WINDOW_MS } from './measure.ts'

/**
 * The cycle records each relationship's status needs (relationshipStatus,
 * docs/health.md), kept in memory so that a status does not read the whole
 * event log: those that ended within the monitoring window, plus the newest
 * successful one before it (the achieved RPO spans from it to the window's
 * first). Loaded once from the log, then told of each cycle as it ends.
 * Not safe across processes: the daemon owns its log.
 */
export class CycleHistory {
  private readonly windowMs: number
  private readonly byRelationship = new Map<string, CycleRecord[]>()

  constructor (windowMs = DEFAULT_MONITORING_WINDOW_MS) {
    this.windowMs = windowMs
  }

  /** Replaces what is held for relationship `id` (records in the order they ended). */
  load (id: string, records: readonly CycleRecord[], now: number): void {
    this.byRelationship.set(id, records.map(r => ({ ...r })))
    this.prune(id, now)
  }

  add (id: string, record: CycleRecord, now: number): void {
    const held = this.byRelationship.get(id) ?? []
    held.push({ ...record })
    this.byRelationship.set(id, held)
    this.prune(id, now)
  }

  /** A copy of what is held for `id` (empty when nothing), the window ending `now`. */
  records (id: string, now: number): CycleRecord[] {
    this.prune(id, now)
    return (this.byRelationship.get(id) ?? []).map(r => ({ ...r }))
  }

  forget (id: string): void {
    this.byRelationship.delete(id)
  }

  private prune (id: string, now: number): void {
    const held = this.byRelationship.get(id)
    if (held === undefined) return
    const start = now - this.windowMs
    const lastOkBefore = held.filter(r => r.end < start && r.outcome === 'ok').at(-1)
    const kept = held.filter(r => r.end >= start)
    this.byRelationship.set(id, lastOkBefore === undefined ? kept : [lastOkBefore, ...kept])
  }
}
