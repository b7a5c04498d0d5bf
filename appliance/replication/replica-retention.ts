/**
 * The Replica's retention per relationship: how many recovery points the
 * relationship's `recoveryPoints` setting keeps, and which points are
 * pinned (in use, so never pruned whatever the setting says).
 */
import { DEFAULT_POINT_INTERVAL_MS } from '../../core/constants.ts'
import type { RetentionPolicy } from '../../core/store/index.ts'

/**
 * Pure: the retention of a relationship's store: the latest point plus
 * `recoveryPoints` additional ones, one per hour (the first of each hour),
 * as Hyper-V keeps its additional recovery points (docs/relationships.md).
 */
export function retentionOf (recoveryPoints: number): RetentionPolicy {
  return { additional: recoveryPoints, intervalMs: DEFAULT_POINT_INTERVAL_MS }
}

/**
 * Points in use, per (peer, relationship): a test failover (issue 13) pins
 * the point it runs from, and pruning keeps every pinned point. Pins live in
 * memory: after a restart nothing runs from a point until it is pinned
 * again. A point may be pinned several times; it stays pinned until every
 * pin is released.
 */
export class PointPins {
  private readonly pins = new Map<string, Map<number, number>>()

  /** Pins point `id`; the returned function releases this pin (idempotent). */
  pin (peer: string, relationship: string, id: number): () => void {
    const key = `${peer}/${relationship}`
    const counts = this.pins.get(key) ?? new Map<number, number>()
    this.pins.set(key, counts)
    counts.set(id, (counts.get(id) ?? 0) + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const n = (counts.get(id) ?? 1) - 1
      if (n > 0) counts.set(id, n)
      else counts.delete(id)
      if (counts.size === 0 && this.pins.get(key) === counts) this.pins.delete(key)
    }
  }

  /** The pinned point ids of a relationship's store. */
  pinned (peer: string, relationship: string): Set<number> {
    return new Set(this.pins.get(`${peer}/${relationship}`)?.keys() ?? [])
  }
}
