/**
 * One event of the event log (docs/events.md): what happened to the box or
 * to a relationship, with one line an operator understands. Long work is a
 * pair: a `begin` event, then an `end` event naming it with its outcome.
 */
import { CODE_PATTERN, oneLine } from '../relationships/relationship.ts'
import { DISK_NAME_PATTERN } from '../../core/constants.ts'

export type EventOutcome = 'ok' | 'failed' | 'interrupted'

/** Small structured facts for tools (bytes sent, from/to states); never needed to understand the reason. */
export type EventData = Record<string, string | number | boolean | null>

export interface LogEvent {
  /** 1, 2, 3... in the order events were appended; never reused, also across rotation and restarts. */
  seq: number
  /** Milliseconds since the epoch. */
  time: number
  relationship?: string
  vm?: string
  /** What sort of event: `state`, `cycle`, `initial-replication`, `resync`, `log-repaired`... (lower case, dashes). */
  kind: string
  reason: string
  code?: string
  /** Set on the two events of long work. */
  phase?: 'begin' | 'end'
  /** On an end event: the seq of its begin event. */
  begin?: number
  /** On an end event: how the work ended. */
  outcome?: EventOutcome
  data?: EventData
}

/** What a caller gives for a new event; the log adds seq and time. */
export interface EventInput {
  relationship?: string
  vm?: string
  kind: string
  reason: string
  code?: string
  data?: EventData
}

/** How long work ended, as the caller tells it (`interrupted` is written by the log itself on open). */
export interface EndInput {
  outcome: 'ok' | 'failed'
  reason: string
  code?: string
  data?: EventData
}

export const KIND_PATTERN = /^[a-z][a-z0-9-]{0,39}$/
/** Most fields in `data`: a few facts, not a dump. */
export const MAX_DATA_FIELDS = 16
const DATA_KEY = /^[A-Za-z][A-Za-z0-9_]{0,39}$/
const FIELDS = ['seq', 'time', 'relationship', 'vm', 'kind', 'reason', 'code', 'phase', 'begin', 'outcome', 'data']

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isCount = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min

function invalidData (d: unknown): string | undefined {
  if (!isObject(d)) return 'data is not an object'
  const entries = Object.entries(d)
  if (entries.length > MAX_DATA_FIELDS) return `data has more than ${MAX_DATA_FIELDS} fields`
  for (const [k, v] of entries) {
    if (!DATA_KEY.test(k)) return `data key ${k.slice(0, 40)} is not a plain name`
    if (v !== null && typeof v !== 'boolean' && typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) return `data.${k} is not a string, number, boolean or null`
    if (typeof v === 'string' && v.length > 500) return `data.${k} is longer than 500 characters`
  }
  return undefined
}

/** Why the fields an event input shares with a stored event are invalid, or undefined. */
export function invalidInput (e: Record<string, unknown>): string | undefined {
  if (e.relationship !== undefined && (typeof e.relationship !== 'string' || !DISK_NAME_PATTERN.test(e.relationship))) return 'relationship is not a relationship id'
  if (e.vm !== undefined && (typeof e.vm !== 'string' || !DISK_NAME_PATTERN.test(e.vm))) return 'vm is not a VM name'
  if (typeof e.kind !== 'string' || !KIND_PATTERN.test(e.kind)) return 'kind is not a lower-case word'
  if (typeof e.reason !== 'string' || e.reason.length === 0) return 'reason is empty'
  if (e.code !== undefined && (typeof e.code !== 'string' || !CODE_PATTERN.test(e.code))) return 'code is not an error code'
  if (e.data !== undefined) return invalidData(e.data)
  return undefined
}

/** Why `e` (a parsed line) is not a valid stored event, or undefined when it is. */
export function invalidEvent (e: unknown): string | undefined {
  if (!isObject(e)) return 'not an object'
  if (Object.keys(e).some(k => !FIELDS.includes(k))) return 'unknown field'
  if (!isCount(e.seq, 1)) return 'seq is not a positive integer'
  if (!isCount(e.time, 0)) return 'time is not a time in ms'
  const why = invalidInput(e)
  if (why !== undefined) return why
  if (e.reason !== oneLine(e.reason as string)) return 'reason is not one line'
  if (e.phase === undefined) return e.begin === undefined && e.outcome === undefined ? undefined : 'begin or outcome without phase end'
  if (e.phase === 'begin') return e.begin === undefined && e.outcome === undefined ? undefined : 'a begin event with begin or outcome'
  if (e.phase !== 'end') return 'phase is not begin or end'
  if (!isCount(e.begin, 1) || e.begin >= e.seq) return 'begin is not an earlier seq'
  if (e.outcome !== 'ok' && e.outcome !== 'failed' && e.outcome !== 'interrupted') return 'outcome is not ok, failed or interrupted'
  return undefined
}
