/**
 * The scheduler's arithmetic, pure (tested with tables in
 * test/appliance/scheduler/plan.test.ts).
 */
import { missedIntervals } from '../events/missed-intervals.ts'
import { RETRY_FACTOR, RETRY_INITIAL_MS, RETRY_MAX_MS } from './constants.ts'

/** A relationship's frequency in ms; 0 is `continuous`. */
export type FrequencyMs = number

export interface NextCycle {
  /** When the next cycle is due (ms since the epoch). */
  due: number
  /** Intervals that passed while the cycle ran: their cycles never started. */
  missed: number
}

/**
 * Cycles are due on a grid: `due`, `due + f`, `due + 2f`... A cycle due at
 * `due` that ended at `end` missed every grid point strictly before `end`
 * after its own; the next is due on the first grid point at or after `end`.
 * Continuous (f = 0): nothing is missed, the next is due at `end`.
 */
export function nextCycle (due: number, end: number, frequencyMs: FrequencyMs): NextCycle {
  if (frequencyMs <= 0) return { due: end, missed: 0 }
  const missed = missedIntervals(frequencyMs, due, end)
  return { due: due + (missed + 1) * frequencyMs, missed }
}

/** The pause before retry number `attempt` (1 is the first retry): RETRY_INITIAL_MS doubling up to RETRY_MAX_MS. */
export function retryDelay (attempt: number): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new TypeError(`retry attempt must be an integer >= 1, got ${attempt}`)
  return Math.min(RETRY_MAX_MS, RETRY_INITIAL_MS * RETRY_FACTOR ** (attempt - 1))
}

/**
 * Failures of the link rather than of the cycle: the Replica is unreachable,
 * the stream dropped, a peer answered late, or the Replica was busy with the
 * same relationship. The cycle stays staged on the primary and a retry
 * resumes it where the Replica stands. Every other code fails the cycle
 * until the next interval (or until the operator acts).
 */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'P2P_TIMEOUT',
  'P2P_STREAM_CLOSED',
  'P2P_PAIRING_UNREACHABLE',
  'P2P_RELATIONSHIP_BUSY',
  // libp2p's own dial and transport failures (their `name` or `code`)
  'ERR_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'DialError',
  'NoValidAddressesError',
  'TimeoutError',
  'StreamResetError',
  'ConnectionClosedError',
  'StreamStateError',
  'UnexpectedEOFError'
])

/** True when `err` is a failure of the link (see NETWORK_CODES); its `code` is checked, then its `name`. */
export function isNetworkFailure (err: unknown): boolean {
  const e = err as { code?: unknown, name?: unknown } | null
  if (typeof e?.code === 'string' && NETWORK_CODES.has(e.code)) return true
  return typeof e?.name === 'string' && NETWORK_CODES.has(e.name)
}
