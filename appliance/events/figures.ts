/**
 * The live figures beyond Hyper-V's (docs/health.md#live-figures), each a
 * pure function of what the scheduler knows. Times in ms, sizes in bytes,
 * rates in bytes per second.
 */
import type { Frequency, RelationshipSettings } from '../relationships/settings.ts'
import type { CycleRecord } from './cycle-record.ts'
import { bytesText, durationText, rateText } from './figure-text.ts'

/** The RPO target of continuous replication: a minute, twice a typical cycle on a busy link. */
export const CONTINUOUS_TARGET_RPO_MS = 60 * 1000

/**
 * The RPO target: two intervals. With a cycle every F that takes at most F,
 * the newest point is never older than 2F; older means an interval was
 * missed, the same event the health rules count.
 */
export function targetRpoMs (frequency: Frequency): number {
  return frequency === 'continuous' ? CONTINUOUS_TARGET_RPO_MS : 2 * frequency
}

export interface AchievedRpo {
  /** Age of the newest point now: now - its snapshot time; null before the first point. */
  currentMs: number | null
  /** The oldest the newest point got in the window (just before each new point landed, and now). */
  worstMs: number | null
  targetMs: number
  /** Both current and worst are within the target. */
  met: boolean
}

/**
 * Achieved RPO. current = now - lastPointAt. worst = the largest of
 * b.end - a.start over consecutive successful cycles a, b with b ending in
 * the window (the age of a's point just before b's landed), and of current.
 */
export interface AchievedRpoInput {
  /** Snapshot time of the newest point (the relationship's lastPointAt). */
  lastPointAt: number | undefined
  cycles: readonly CycleRecord[]
  frequency: Frequency
  now: number
  /** Start of the monitoring window the worst age is taken over. */
  windowStart: number
}

export function achievedRpo ({ lastPointAt, cycles, frequency, now, windowStart }: AchievedRpoInput): AchievedRpo {
  const ok = cycles.filter(c => c.outcome === 'ok' && c.end <= now).sort((a, b) => a.end - b.end)
  const current = lastPointAt === undefined ? null : now - lastPointAt
  let worst = current
  for (let i = 1; i < ok.length; i++) {
    if (ok[i]!.end <= windowStart) continue
    const age = ok[i]!.end - ok[i - 1]!.start
    worst = worst === null ? age : Math.max(worst, age)
  }
  const targetMs = targetRpoMs(frequency)
  return { currentMs: current, worstMs: worst, targetMs, met: current !== null && current <= targetMs && (worst ?? 0) <= targetMs }
}

export interface DataAtRisk {
  /** Bytes written and not yet in a point on the Replica (the VM driver's change tracking, an upper bound); null when the driver cannot tell. */
  bytes: number | null
  /** Seconds of writes that a failover now would lose: now - the newest point's snapshot time; null before the first point. */
  seconds: number | null
}

/** What a failover now would lose: the pending bytes (VmDriver.pendingBytes, null when unknown) and the age of the newest point. */
export function dataAtRisk (lastPointAt: number | undefined, pendingBytes: number | null, now: number): DataAtRisk {
  return { bytes: pendingBytes, seconds: lastPointAt === undefined ? null : Math.max(0, now - lastPointAt) / 1000 }
}

/** Progress samples of the last minute give the rate: long enough to smooth bursts, short enough to follow a link that changed. */
export const ETA_RATE_WINDOW_MS = 60 * 1000

export interface Eta {
  bytesLeft: number
  /** Observed over the last ETA_RATE_WINDOW_MS of samples; null with fewer than two samples or no progress. */
  bytesPerSecond: number | null
  seconds: number | null
}

/**
 * ETA of initial replication or resynchronization: bytesLeft / rate, where
 * rate = (done_last - done_first) / (t_last - t_first) over the samples of
 * the last ETA_RATE_WINDOW_MS before the newest one. `samples` are
 * `{ time, done }`, oldest first.
 */
export function eta (total: number, samples: ReadonlyArray<{ time: number, done: number }>): Eta {
  const last = samples.at(-1)
  const bytesLeft = Math.max(0, total - (last?.done ?? 0))
  const first = last === undefined ? undefined : samples.find(s => s.time >= last.time - ETA_RATE_WINDOW_MS)
  const rate = first === undefined || last === undefined || last.time <= first.time ? null : (last.done - first.done) / ((last.time - first.time) / 1000)
  const bytesPerSecond = rate === null || rate <= 0 ? null : rate
  return { bytesLeft, bytesPerSecond, seconds: bytesPerSecond === null ? null : bytesLeft / bytesPerSecond }
}

/** Cycles of the last hour feed the forecast: recent enough to follow the workload, enough of them at any frequency up to 30 min. */
export const FORECAST_WINDOW_MS = 60 * 60 * 1000
/** The bandwidth limit is the cause when the link already runs at 90% of it or more. */
export const LIMIT_BINDS_FRACTION = 0.9

export type ForecastCause = 'replication-failing' | 'bandwidth-limit' | 'link-too-slow'

export interface Forecast {
  /** Time until the newest point is older than the RPO target; 0 when it already is; null when no breach is expected (or no data). */
  breachInMs: number | null
  cause: ForecastCause | null
  /** Bytes changed per second by the VM. */
  changeRate: number | null
  /** Bytes per second on the wire while a cycle runs (limited by the bandwidth setting). */
  linkRate: number | null
  /** changeRate x compression / linkRate: the share of the time cycles must run to keep up; 1 or more cannot. */
  utilization: number | null
  /** "at this change rate and link speed, RPO breach in ~N min", with the cause, or why there is no forecast. */
  message: string
}

export interface ForecastInput {
  settings: RelationshipSettings
  cycles: readonly CycleRecord[]
  lastPointAt: number | undefined
  now: number
}

/**
 * Forecast of an RPO breach (a fluid model, docs/health.md#forecast). From
 * the successful cycles of the last FORECAST_WINDOW_MS: change rate
 * c = sum(bytesChanged after the first) / (last.start - first.start),
 * compression r = sum(bytesSent) / sum(bytesChanged), link rate
 * l = min(sum(bytesSent) / sum(end - start), bandwidth), utilization
 * u = c r / l. The lag (age of the newest point, A now) grows by
 * (1 - 1/u) s per s when u >= 1, so the target T is passed in
 * (T - A) / (1 - 1/u); when u < 1 it is not. When the newest cycle failed,
 * nothing replicates (u infinite): the target is passed in T - A.
 */
export function forecast (input: ForecastInput): Forecast {
  const { settings, now } = input
  const T = targetRpoMs(settings.frequency)
  const age = input.lastPointAt === undefined ? null : now - input.lastPointAt
  const recent = input.cycles.filter(c => c.end > now - FORECAST_WINDOW_MS && c.end <= now).sort((a, b) => a.end - b.end)
  const none = (message: string): Forecast => ({ breachInMs: null, cause: null, changeRate: null, linkRate: null, utilization: null, message })
  const breachText = (ms: number): string => ms === 0 ? `the RPO target of ${durationText(T)} is already breached` : `RPO breach (target ${durationText(T)}) in ~${durationText(ms)}`

  const newest = recent.at(-1)
  if (newest?.outcome === 'failed' && age !== null) {
    const breachInMs = Math.max(0, T - age)
    return { breachInMs, cause: 'replication-failing', changeRate: null, linkRate: null, utilization: null, message: `replication is failing (${newest.code ?? 'unknown error'}): ${breachText(breachInMs)}` }
  }
  const ok = recent.filter(c => c.outcome === 'ok')
  if (ok.length < 2 || age === null) return none('not enough cycles yet for a forecast')
  const span = (ok.at(-1)!.start - ok[0]!.start) / 1000
  const changed = ok.slice(1).reduce((n, c) => n + c.bytesChanged, 0)
  const sent = ok.reduce((n, c) => n + c.bytesSent, 0)
  const allChanged = ok.reduce((n, c) => n + c.bytesChanged, 0)
  const busy = ok.reduce((n, c) => n + Math.max(0, c.end - c.start), 0) / 1000
  if (span <= 0 || busy <= 0) return none('not enough cycles yet for a forecast')
  const changeRate = changed / span
  if (changeRate === 0) return { ...none('no breach expected: the VM wrote nothing in the last hour'), changeRate: 0 }
  if (sent === 0) return { ...none('not enough data sent yet for a forecast'), changeRate }
  const observed = sent / busy
  const linkRate = settings.bandwidth === null ? observed : Math.min(observed, settings.bandwidth)
  const ratio = allChanged === 0 ? 1 : sent / allChanged
  const utilization = changeRate * ratio / linkRate
  const figures = `changes of ${rateText(changeRate)} (${rateText(changeRate * ratio)} compressed), link ${rateText(linkRate)}`
  if (utilization < 1) {
    return { breachInMs: null, cause: null, changeRate, linkRate, utilization, message: `no breach expected at this change rate and link speed: ${figures}, ${Math.round(utilization * 100)}% busy` }
  }
  const breachInMs = Math.max(0, (T - age) / (1 - 1 / utilization))
  const limited = settings.bandwidth !== null && observed >= LIMIT_BINDS_FRACTION * settings.bandwidth
  const cause: ForecastCause = limited ? 'bandwidth-limit' : 'link-too-slow'
  const why = limited ? `the bandwidth limit of ${rateText(settings.bandwidth!)} is too low for the changes` : 'the link cannot carry the changes'
  return { breachInMs, cause, changeRate, linkRate, utilization, message: `at this change rate and link speed, ${breachText(Math.round(breachInMs))}: ${why} (${figures}; ${bytesText(Math.round(changeRate * ratio * (T / 1000)))} to send per ${durationText(T)})` }
}
