/**
 * A relationship's settings (docs/relationships.md#settings) and the pure
 * parsers that turn the operator's text into them. Every parser throws
 * APP_SETTING_INVALID naming the setting and its limits; the values they
 * return are what the relationships file stores.
 */
import { isAbsolute } from 'node:path'
import { DEFAULT_ADDITIONAL_POINTS } from '../../core/constants.ts'
import { AppError, AppErrorCode } from '../errors.ts'

/** Milliseconds between cycle starts, or back-to-back cycles. */
export type Frequency = number | 'continuous'

/**
 * How the first full copy is made: over the network now, over the network
 * at a time (ms since the epoch), from a seed file carried on a disk
 * (an absolute path on the Replica), or from a copy already on the Replica
 * (only differing blocks are sent).
 */
export type InitialReplication = 'now' | 'existing' | { at: number } | { seed: string }

export interface RelationshipSettings {
  frequency: Frequency
  /** Additional hourly recovery points kept besides the latest. */
  recoveryPoints: number
  /** Milliseconds between app-consistent points (the guest is frozen), or null for crash-consistent points only. */
  appConsistentEvery: number | null
  /** Bytes per second this relationship may send, or null for no limit. */
  bandwidth: number | null
  initial: InitialReplication
}

/** Shortest frequency: below a second cycles only add overhead; `continuous` is the way to say "as often as possible". */
export const MIN_FREQUENCY_MS = 1000
/** Longest frequency: a relationship whose newest point may be hours old is not protecting anything; the health rules assume at most this. */
export const MAX_FREQUENCY_MS = 60 * 60 * 1000
/** Hyper-V's default, and ours. */
export const DEFAULT_FREQUENCY_MS = 5 * 60 * 1000
/** Most additional recovery points: core's retention limit (checkRetention). Hyper-V allows 24. */
export const MAX_RECOVERY_POINTS = 10_000
/** Shortest app-consistent interval: freezing a guest more often than once a minute stalls its writes too much to be worth it. */
export const MIN_APP_CONSISTENT_MS = 60 * 1000
/** Longest app-consistent interval: a day; Hyper-V allows at most 12 hours. */
export const MAX_APP_CONSISTENT_MS = 24 * 60 * 60 * 1000
/** Smallest bandwidth limit: 100 kB/s; below it one 1 MiB block takes over 10 s and no frequency can be kept. */
export const MIN_BANDWIDTH = 100_000
/** Largest bandwidth limit: 100 GB/s, far above any link; a larger number is a typing mistake. */
export const MAX_BANDWIDTH = 100_000_000_000
/** Longest setting text parsed: every valid value is far shorter (a seed path is at most PATH_MAX). */
export const MAX_SETTING_CHARS = 4096

export const DEFAULT_SETTINGS: Readonly<RelationshipSettings> = Object.freeze({
  frequency: DEFAULT_FREQUENCY_MS,
  recoveryPoints: DEFAULT_ADDITIONAL_POINTS,
  appConsistentEvery: null,
  bandwidth: null,
  initial: 'now'
})

function invalid (setting: string, message: string): AppError {
  return new AppError(AppErrorCode.APP_SETTING_INVALID, `${setting}: ${message}`, { details: { setting } })
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * The one duration grammar of relationship settings: whole numbers with
 * units run together (`500ms`, `2s`, `30s`, `5m`, `1h30m`, `1d`). A bare
 * number is refused (seconds or minutes?). Returns milliseconds; the
 * setting's range is checked by the caller.
 */
export function parseDuration (setting: string, text: string): number {
  if (text.length > MAX_SETTING_CHARS || !/^(?:\d+(?:ms|s|m|h|d))+$/.test(text)) {
    throw invalid(setting, 'expected a duration such as 30s, 5m, 15m or 1h30m')
  }
  let total = 0
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) total += Number(amount) * DURATION_UNITS_MS[unit!]!
  if (!Number.isSafeInteger(total)) throw invalid(setting, 'duration is too long')
  return total
}

function inRange (setting: string, value: number, min: number, max: number, unit: string): number {
  if (value < min || value > max) throw invalid(setting, `must be from ${min / (unit === 's' ? 1000 : 1)}${unit} to ${max / (unit === 's' ? 1000 : 1)}${unit}`)
  return value
}

/** `continuous`, or a duration from MIN_FREQUENCY_MS to MAX_FREQUENCY_MS (`30s`, `5m`, `15m`, `2s`...). */
export function parseFrequency (text: string): Frequency {
  if (text === 'continuous') return 'continuous'
  return inRange('frequency', parseDuration('frequency', text), MIN_FREQUENCY_MS, MAX_FREQUENCY_MS, 's')
}

/** A whole number from 0 to MAX_RECOVERY_POINTS. */
export function parseRecoveryPoints (text: string): number {
  const n = /^\d{1,6}$/.test(text) ? Number(text) : Number.NaN
  if (Number.isNaN(n) || n > MAX_RECOVERY_POINTS) throw invalid('recovery-points', `expected a whole number from 0 to ${MAX_RECOVERY_POINTS}`)
  return n
}

/** `none`, or a duration from MIN_APP_CONSISTENT_MS to MAX_APP_CONSISTENT_MS. */
export function parseAppConsistentEvery (text: string): number | null {
  if (text === 'none') return null
  return inRange('app-consistent-every', parseDuration('app-consistent-every', text), MIN_APP_CONSISTENT_MS, MAX_APP_CONSISTENT_MS, 's')
}

const RATE_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 }

/**
 * `none`, or bytes per second: `500k`, `10M`, `1.5G` (decimal: k = 1000),
 * `64Ki`, `10Mi` (binary), or a plain byte count; an optional `B/s` or `/s`
 * may follow. Units are case-insensitive. From MIN_BANDWIDTH to MAX_BANDWIDTH.
 */
export function parseBandwidth (text: string): number | null {
  if (text === 'none') return null
  const m = text.length > MAX_SETTING_CHARS ? null : /^(\d+(?:\.\d+)?)\s*(k|m|g|ki|mi|gi)?(?:b\/s|\/s|b)?$/i.exec(text)
  if (m === null) throw invalid('bandwidth', 'expected bytes per second such as 500k, 10M or 1G, or none')
  const rate = Math.floor(Number(m[1]) * RATE_UNITS[(m[2] ?? '').toLowerCase()]!)
  if (rate < MIN_BANDWIDTH || rate > MAX_BANDWIDTH) throw invalid('bandwidth', `must be from ${MIN_BANDWIDTH} to ${MAX_BANDWIDTH} bytes per second (100k to 100G)`)
  return rate
}

/** ISO 8601 date and time with an explicit zone (`Z` or `+02:00`): a bare local time would mean different instants on the two boxes. */
const ZONED_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2})$/

/** `now`, `existing`, `at:TIME` (ISO 8601 with a zone) or `seed:PATH` (absolute). A time in the past starts at once. */
export function parseInitial (text: string): InitialReplication {
  if (text === 'now' || text === 'existing') return text
  if (text.length <= MAX_SETTING_CHARS && text.startsWith('at:')) {
    const time = text.slice(3)
    const at = ZONED_TIME.test(time) ? Date.parse(time) : Number.NaN
    if (Number.isNaN(at)) throw invalid('initial', 'at: expected an ISO 8601 time with a zone, such as at:2026-12-08T02:00:00Z')
    return { at }
  }
  if (text.length <= MAX_SETTING_CHARS && text.startsWith('seed:')) {
    const seed = text.slice(5)
    if (!isAbsolute(seed) || seed.includes('\0')) throw invalid('initial', 'seed: expected an absolute path to the seed file')
    return { seed }
  }
  throw invalid('initial', 'expected now, existing, at:TIME or seed:PATH')
}

/** The settings as the operator types them (CLI options, API fields); any left out takes its default. */
export interface SettingsText {
  frequency?: string
  recoveryPoints?: string
  appConsistentEvery?: string
  bandwidth?: string
  initial?: string
}

/** Parses every given setting; the others are DEFAULT_SETTINGS'. Throws APP_SETTING_INVALID for the first bad one. */
export function parseSettings (text: SettingsText): RelationshipSettings {
  return {
    frequency: text.frequency === undefined ? DEFAULT_SETTINGS.frequency : parseFrequency(text.frequency),
    recoveryPoints: text.recoveryPoints === undefined ? DEFAULT_SETTINGS.recoveryPoints : parseRecoveryPoints(text.recoveryPoints),
    appConsistentEvery: text.appConsistentEvery === undefined ? DEFAULT_SETTINGS.appConsistentEvery : parseAppConsistentEvery(text.appConsistentEvery),
    bandwidth: text.bandwidth === undefined ? DEFAULT_SETTINGS.bandwidth : parseBandwidth(text.bandwidth),
    initial: text.initial === undefined ? DEFAULT_SETTINGS.initial : parseInitial(text.initial)
  }
}

/** The settings an operator may change after enabling (`replication set`): `initial` only means something before the first cycle. */
export const CHANGEABLE_SETTINGS = ['frequency', 'recoveryPoints', 'appConsistentEvery', 'bandwidth'] as const
export type ChangeableSetting = typeof CHANGEABLE_SETTINGS[number]
/** The changeable settings as the operator types them; any left out stays as it is. */
export type SettingsChangeText = Partial<Record<ChangeableSetting, string>>

/**
 * Parses a change of settings with the same parsers as parseSettings:
 * only the given ones. APP_USAGE when none is given, APP_SETTING_INVALID
 * for the first bad one.
 */
export function parseSettingsChange (text: SettingsChangeText): Partial<Pick<RelationshipSettings, ChangeableSetting>> {
  if (CHANGEABLE_SETTINGS.every(k => text[k] === undefined)) throw new AppError(AppErrorCode.APP_USAGE, 'no setting to change: give a frequency, recovery points, app-consistent interval or bandwidth')
  return {
    ...(text.frequency === undefined ? {} : { frequency: parseFrequency(text.frequency) }),
    ...(text.recoveryPoints === undefined ? {} : { recoveryPoints: parseRecoveryPoints(text.recoveryPoints) }),
    ...(text.appConsistentEvery === undefined ? {} : { appConsistentEvery: parseAppConsistentEvery(text.appConsistentEvery) }),
    ...(text.bandwidth === undefined ? {} : { bandwidth: parseBandwidth(text.bandwidth) })
  }
}

/** Pure: `s` with `change` applied, and the settings whose value differs (none: nothing to write). */
export function applySettingsChange (s: RelationshipSettings, change: Partial<Pick<RelationshipSettings, ChangeableSetting>>): { next: RelationshipSettings, changed: ChangeableSetting[] } {
  const next = { ...copySettings(s), ...change }
  return { next, changed: CHANGEABLE_SETTINGS.filter(k => next[k] !== s[k]) }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max

/** Why `s` is not valid stored settings (as the relationships file holds them), or undefined when it is. */
export function invalidSettings (s: unknown): string | undefined {
  if (!isObject(s)) return 'settings is not an object'
  if (Object.keys(s).some(k => !Object.hasOwn(DEFAULT_SETTINGS, k))) return 'settings has an unknown field'
  if (s.frequency !== 'continuous' && !isInt(s.frequency, MIN_FREQUENCY_MS, MAX_FREQUENCY_MS)) return 'frequency is out of range'
  if (!isInt(s.recoveryPoints, 0, MAX_RECOVERY_POINTS)) return 'recoveryPoints is out of range'
  if (s.appConsistentEvery !== null && !isInt(s.appConsistentEvery, MIN_APP_CONSISTENT_MS, MAX_APP_CONSISTENT_MS)) return 'appConsistentEvery is out of range'
  if (s.bandwidth !== null && !isInt(s.bandwidth, MIN_BANDWIDTH, MAX_BANDWIDTH)) return 'bandwidth is out of range'
  const i = s.initial
  const initialOk = i === 'now' || i === 'existing' ||
    (isObject(i) && Object.keys(i).length === 1 && (isInt(i.at, 0, Number.MAX_SAFE_INTEGER) || (typeof i.seed === 'string' && isAbsolute(i.seed) && i.seed.length <= MAX_SETTING_CHARS)))
  if (!initialOk) return 'initial is not now, existing, { at } or { seed }'
  return undefined
}

/** A deep copy (settings hold one small object). */
export function copySettings (s: RelationshipSettings): RelationshipSettings {
  return { ...s, initial: typeof s.initial === 'string' ? s.initial : { ...s.initial } }
}
