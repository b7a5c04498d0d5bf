/**
 * Cycle records kept in the event log, so that measure and health see the
 * cycles of the monitoring window across restarts: a cycle is work of kind
 * `cycle` (begin, then end), and its end event's `data` holds the record
 * (docs/events.md#state-changes-and-cycles). Pure.
 */
import type { CycleRecord } from './cycle-record.ts'
import type { EndInput, EventData, LogEvent } from './log-event.ts'

export const CYCLE_KIND = 'cycle'

/** The end of a cycle's work in the log, carrying its record; `reason` is the one line for the operator. */
export function cycleEndInput (record: CycleRecord, reason: string): EndInput {
  const data: EventData = {
    start: record.start,
    end: record.end,
    bytesSent: record.bytesSent,
    bytesChanged: record.bytesChanged,
    consistency: record.consistency,
    missedIntervals: record.missedIntervals,
    appConsistentRequested: record.appConsistentRequested,
    appConsistentSucceeded: record.appConsistentSucceeded
  }
  if (record.failure !== undefined) data.failure = record.failure
  const end: EndInput = { outcome: record.outcome, reason, data }
  if (record.code !== undefined) end.code = record.code
  return end
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** The record an event holds, or undefined when it is not the end of a cycle that succeeded or failed (interrupted cycles made no record). */
export function cycleRecordOf (e: LogEvent): CycleRecord | undefined {
  if (e.kind !== CYCLE_KIND || e.phase !== 'end' || (e.outcome !== 'ok' && e.outcome !== 'failed') || e.data === undefined) return undefined
  const d = e.data
  if (!isCount(d.start) || !isCount(d.end) || !isCount(d.bytesSent) || !isCount(d.bytesChanged) || !isCount(d.missedIntervals)) return undefined
  if ((d.consistency !== 'crash' && d.consistency !== 'app') || typeof d.appConsistentRequested !== 'boolean' || typeof d.appConsistentSucceeded !== 'boolean') return undefined
  if (d.failure !== undefined && d.failure !== 'network' && d.failure !== 'replication') return undefined
  const r: CycleRecord = {
    start: d.start,
    end: d.end,
    outcome: e.outcome,
    bytesSent: d.bytesSent,
    bytesChanged: d.bytesChanged,
    consistency: d.consistency,
    missedIntervals: d.missedIntervals,
    appConsistentRequested: d.appConsistentRequested,
    appConsistentSucceeded: d.appConsistentSucceeded
  }
  if (e.code !== undefined) r.code = e.code
  if (d.failure !== undefined) r.failure = d.failure
  return r
}

/** The cycle records in `events` (e.g. one relationship's, read from the log), in log order. */
export function cycleRecordsFrom (events: readonly LogEvent[]): CycleRecord[] {
  return events.flatMap(e => cycleRecordOf(e) ?? [])
}
