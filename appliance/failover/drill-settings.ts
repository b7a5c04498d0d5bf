/**
 * A relationship's drill settings, kept on the Replica alone (the Replica's
 * operator runs drills; the primary never needs them): the sign of life a
 * drill waits for, its time limit, and an optional schedule. Pure parsers
 * of what the operator types, and the check of what the file holds.
 */
import { compileSerialPattern, DEFAULT_SIGN_OF_LIFE_TIMEOUT_MS, type DrillSign } from '../drivers/qemu/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { isObject } from '../json-file.ts'
import { parseDuration } from '../relationships/settings.ts'
import { MAX_DRILL_EVERY_MS, MAX_DRILL_TIMEOUT_MS, MIN_DRILL_EVERY_MS, MIN_DRILL_TIMEOUT_MS } from './constants.ts'

export interface DrillSettings {
  /** ms between scheduled drills, or null: drills run only when asked for. */
  everyMs: number | null
  sign: DrillSign
  timeoutMs: number
  /** When a drill of the relationship last started (ms since the epoch), or null; the schedule counts from it. */
  lastRunAt: number | null
  /** When the schedule was set (ms): a schedule that never ran counts from it. */
  setAt: number
}

/** What a relationship without settings drills with: the guest agent, DEFAULT_SIGN_OF_LIFE_TIMEOUT_MS, no schedule. */
export function defaultDrillSettings (now: number): DrillSettings {
  return { everyMs: null, sign: { kind: 'agent' }, timeoutMs: DEFAULT_SIGN_OF_LIFE_TIMEOUT_MS, lastRunAt: null, setAt: now }
}

function invalid (setting: string, message: string): AppError {
  return new AppError(AppErrorCode.APP_SETTING_INVALID, `${setting}: ${message}`, { details: { setting } })
}

/** `off`, or a duration from MIN_DRILL_EVERY_MS (1h) to MAX_DRILL_EVERY_MS (90d). APP_SETTING_INVALID. */
export function parseDrillEvery (text: string): number | null {
  if (text === 'off') return null
  const ms = parseDuration('every', text)
  if (ms < MIN_DRILL_EVERY_MS || ms > MAX_DRILL_EVERY_MS) throw invalid('every', 'must be from 1h to 90d, or off')
  return ms
}

/** A duration from MIN_DRILL_TIMEOUT_MS (1s) to MAX_DRILL_TIMEOUT_MS (1h). APP_SETTING_INVALID. */
export function parseDrillTimeout (text: string): number {
  return checkDrillTimeout(parseDuration('timeout', text))
}

/** A time limit in ms within the bounds; APP_SETTING_INVALID otherwise. */
export function checkDrillTimeout (ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < MIN_DRILL_TIMEOUT_MS || ms > MAX_DRILL_TIMEOUT_MS) throw invalid('timeout', 'must be from 1s to 1h')
  return ms
}

/** A sign of life from the API: `agent`, or `serial` with a pattern compileSerialPattern takes (APP_VM_INVALID otherwise). */
export function checkDrillSign (v: unknown): DrillSign {
  if (isObject(v) && v.kind === 'agent' && Object.keys(v).length === 1) return { kind: 'agent' }
  if (isObject(v) && v.kind === 'serial' && typeof v.pattern === 'string' && Object.keys(v).length === 2) {
    compileSerialPattern(v.pattern)
    return { kind: 'serial', pattern: v.pattern }
  }
  throw invalid('sign', "must be { kind: 'agent' } or { kind: 'serial', pattern }")
}

/** Why `v` is not stored drill settings, or undefined when it is (for the file's reader). */
export function invalidDrillSettings (v: unknown): string | undefined {
  if (!isObject(v)) return 'not an object'
  const time = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
  if (v.everyMs !== null && !(time(v.everyMs) && (v.everyMs as number) >= MIN_DRILL_EVERY_MS && (v.everyMs as number) <= MAX_DRILL_EVERY_MS)) return 'everyMs is out of range'
  if (!time(v.timeoutMs) || (v.timeoutMs as number) < MIN_DRILL_TIMEOUT_MS || (v.timeoutMs as number) > MAX_DRILL_TIMEOUT_MS) return 'timeoutMs is out of range'
  if (v.lastRunAt !== null && !time(v.lastRunAt)) return 'lastRunAt is not a time'
  if (!time(v.setAt)) return 'setAt is not a time'
  try {
    checkDrillSign(v.sign)
  } catch (err) {
    return `sign: ${(err as Error).message}`
  }
  return undefined
}

/** Pure: when the schedule runs the next drill (ms), or null without a schedule. Counted from the last drill, or from when the schedule was set. */
export function nextDrillAt (s: DrillSettings): number | null {
  return s.everyMs === null ? null : (s.lastRunAt ?? s.setAt) + s.everyMs
}
