/**
 * Pure: figures in plain words for the pages, the way the CLI's reason
 * lines say them (docs/health.md): `45 s`, `12 min`, `1 h 5 min`, `2 d 3 h`;
 * decimal sizes (`1.5 MB`); times as a clock time and how long ago.
 */
import type { ReplicationInfo } from '../../appliance/service/replication-types.ts'

type Health = ReplicationInfo['health']
type RelationshipState = ReplicationInfo['state']

const MINUTE = 60
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

/** A duration in words (rounded for reading). */
export function duration (ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000))
  if (total < MINUTE) return `${total} s`
  if (total < HOUR) return `${Math.round(total / MINUTE)} min`
  const [big, bigUnit, small, smallUnit] = total < 2 * DAY
    ? [Math.floor(total / HOUR), 'h', Math.round((total % HOUR) / MINUTE), 'min']
    : [Math.floor(total / DAY), 'd', Math.floor((total % DAY) / HOUR), 'h']
  return small === 0 ? `${big} ${bigUnit}` : `${big} ${bigUnit} ${small} ${smallUnit}`
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB']

/** A size in decimal units. */
export function size (bytes: number): string {
  const exp = bytes < 1000 ? 0 : Math.min(UNITS.length - 1, Math.floor(Math.log10(bytes) / 3))
  const v = bytes / 1000 ** exp
  return `${exp === 0 || v >= 100 ? Math.round(v) : Math.round(v * 10) / 10} ${UNITS[exp]!}`
}

/** `14:05 (3 min ago)`, with the date when it is not today; `never` for null. */
export function when (iso: string | null, now: number): string {
  if (iso === null) return 'never'
  const t = new Date(iso)
  const sameDay = t.toDateString() === new Date(now).toDateString()
  const clock = t.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })
  const shown = sameDay ? clock : `${t.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric' })} ${clock}`
  const ago = now - t.getTime()
  return ago >= 0 ? `${shown} (${duration(ago)} ago)` : `${shown} (in ${duration(-ago)})`
}

/** A frequency setting: `every 5 min`, or `continuous`. */
export function frequency (value: number | 'continuous'): string {
  return value === 'continuous' ? 'continuous' : `every ${duration(value)}`
}

const STATE_WORDS: Record<RelationshipState, string> = {
  'not-enabled': 'Not enabled',
  'waiting-initial-replication': 'Waiting for initial replication',
  replicating: 'Replicating',
  suspended: 'Suspended',
  'resynchronization-required': 'Resynchronization required',
  resynchronizing: 'Resynchronizing',
  'prepared-for-planned-failover': 'Prepared for planned failover',
  'failed-over-waiting-completion': 'Failed over, waiting for completion',
  'failed-over': 'Failed over',
  error: 'Error'
}

/** A relationship's state in words (an unknown one as it came, dashes as spaces). */
export function stateText (state: string): string {
  return Object.hasOwn(STATE_WORDS, state) ? STATE_WORDS[state as RelationshipState] : state.replaceAll('-', ' ')
}

export type { Health }

export const HEALTH_WORDS: Record<Health, string> = { normal: 'Normal', warning: 'Warning', critical: 'Critical' }

/** Sort order: Critical first, then Warning, then Normal. */
export const HEALTH_RANK: Record<Health, number> = { critical: 0, warning: 1, normal: 2 }

/** A daemon's reason (lower case, no full stop, made to follow a colon) as a sentence of its own. */
export function sentence (reason: string): string {
  const s = reason.trim()
  if (s === '') return ''
  return `${s.charAt(0).toUpperCase()}${s.slice(1)}${/[.!?]$/.test(s) ? '' : '.'}`
}
