/**
 * The last successful cycle of each relationship, for `/metrics` (docs/web.md
 * "Metrics"), kept between scrapes: each scrape feeds it only the events
 * appended since the last one (listEvents({ cursor })), so a scrape reads
 * what the log gained, not the log. When the log no longer holds the cursor
 * (rotated twice since, truncated: `reset`), the figures are rebuilt from
 * the whole log once.
 */
import { MAX_EVENTS_SHOWN, type ApplianceService, type EventInfo } from '../appliance/service/index.ts'

export interface LastCycle { bytes: number, seconds: number }

/**
 * Pages of events (MAX_EVENTS_SHOWN each, at most 1 MiB of the log read
 * each) one scrape reads at most: the log is two files of 8 MiB, so the
 * first scrape (the whole log) and a reset are read through at once; what
 * is left waits for the next scrape.
 */
export const MAX_EVENT_PAGES_PER_SCRAPE = 32

/**
 * Pure: `cycles` with `events` (oldest first) applied: a relationship's
 * entry is its newest successful cycle's end event record (docs/events.md
 * "State changes and cycles"). Changes `cycles` and returns it.
 */
export function addCycles (cycles: Map<string, LastCycle>, events: readonly EventInfo[]): Map<string, LastCycle> {
  for (const e of events) {
    const d = e.data
    if (e.kind !== 'cycle' || e.phase !== 'end' || e.outcome !== 'ok' || e.relationship === undefined || d === undefined) continue
    if (typeof d.start !== 'number' || typeof d.end !== 'number' || typeof d.bytesSent !== 'number') continue
    cycles.set(e.relationship, { bytes: d.bytesSent, seconds: (d.end - d.start) / 1000 })
  }
  return cycles
}

/** Pure: the newest successful cycle of each relationship among `events` (oldest first). */
export function lastCycles (events: readonly EventInfo[]): Map<string, LastCycle> {
  return addCycles(new Map(), events)
}

/** The running figures of one server's `/metrics`; created with the route. */
export class CycleFigures {
  private cycles = new Map<string, LastCycle>()
  /** Where the log was read to; '' (its beginning) until the first scrape. */
  private cursor = ''
  private tail: Promise<unknown> = Promise.resolve()

  /**
   * Reads what the log gained since the last call and answers the figures
   * (a copy). Calls run one at a time, so two scrapes never feed the same
   * events twice. A read the service fails keeps the figures as the last
   * read left them (they are the last cycles known; the next scrape
   * goes on from the same cursor).
   */
  async update (service: ApplianceService): Promise<Map<string, LastCycle>> {
    const result = this.tail.then(async () => await this.read(service))
    this.tail = result.catch(() => {})
    return await result
  }

  private async read (service: ApplianceService): Promise<Map<string, LastCycle>> {
    try {
      for (let page = 0; page < MAX_EVENT_PAGES_PER_SCRAPE; page++) {
        const r = await service.listEvents({ cursor: this.cursor, last: MAX_EVENTS_SHOWN })
        // a reset answer is the whole log again, from its oldest event: start over from it
        if (r.reset) this.cycles = new Map()
        addCycles(this.cycles, r.events)
        this.cursor = r.cursor
        if (!r.more) break
      }
    } catch {
      // the figures stay as they were
    }
    return new Map(this.cycles)
  }
}
