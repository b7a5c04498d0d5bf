/**
 * The record of a failover of a relationship on the Replica,
 * `DATA/failover/<relationship>/failover.json`: written before anything of
 * the failover happens and rewritten at each phase, so that a daemon that
 * was killed finds at its start what it was doing and carries on
 * (docs/failover.md "After a stop or a crash"). Removed once the failover is
 * completed or cancelled.
 */
import { join } from 'node:path'
import { checkVmDefinition, type CheckedVmDefinition } from '../drivers/qemu/index.ts'
import { AppErrorCode } from '../errors.ts'
import { isObject, damaged, readJsonFile, writeJsonFile, type JsonFileKind } from '../json-file.ts'
import type { FailoverKind, FailoverNicInfo, FailoverPhase, FailoverTimings, PointInfo } from '../service/index.ts'
import { MAX_FAILOVER_FILE_BYTES } from './constants.ts'

export const FAILOVER_RECORD_FILE = 'failover.json'

const KIND: JsonFileKind = { what: 'failover record', version: 1, maxBytes: MAX_FAILOVER_FILE_BYTES, code: AppErrorCode.APP_FAILOVER_FILE_CORRUPT }

const PHASES: readonly string[] = ['starting', 'materializing', 'running', 'completing', 'cancelling']

export interface FailoverRecord {
  relationship: string
  vm: string
  kind: FailoverKind
  phase: FailoverPhase
  /** The point, as `points` showed it when the failover started (a point never changes). */
  point: PointInfo
  /** ms since the epoch. */
  since: number
  /** The VM as this box runs it (`vm`: its overlays as disks) or lists it (`files`: the raw files, driver manual). */
  definition: CheckedVmDefinition
  nics: FailoverNicInfo[]
  /** The serving's socket name under DATA/exports/ (`vm`), the same across restarts: the overlays' backing names it. */
  socketName: string | null
  /** The copy's speed limit of a `completing` failover, bytes per second, or null. */
  bandwidth: number | null
  timings: FailoverTimings
  /**
   * A planned failover's part on this box (docs/failover.md "Planned
   * failover"): completing keeps every point (nothing is lost, so no `yes`)
   * and goes on to reverse replication. Optional in the file (false when
   * absent: records of unplanned failovers).
   */
  planned: boolean
  /** What happened last, in words. */
  reason: string
}

export function failoverRecordFile (dir: string): string {
  return join(dir, FAILOVER_RECORD_FILE)
}

/** Writes the record into `dir` (DATA/failover/<relationship>/) atomically (0600). */
export async function writeFailoverRecord (dir: string, r: FailoverRecord): Promise<void> {
  await writeJsonFile(failoverRecordFile(dir), KIND, { ...r })
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v)
const isMs = (v: unknown): boolean => v === null || (isInt(v) && v >= 0)

/** The record in `dir`, undefined when there is none; APP_FAILOVER_FILE_CORRUPT when it is not one. */
export async function readFailoverRecord (dir: string): Promise<FailoverRecord | undefined> {
  const file = failoverRecordFile(dir)
  const doc = await readJsonFile(file, KIND)
  if (doc === undefined) return undefined
  const bad = (why: string): never => { throw damaged(KIND, file, why) }
  const { relationship, vm, kind, phase, point, since, definition, nics, socketName, bandwidth, timings, planned, reason } = doc
  if (typeof relationship !== 'string' || typeof vm !== 'string' || typeof reason !== 'string') bad('expected relationship, vm and reason')
  if (kind !== 'vm' && kind !== 'files') bad('kind is not vm or files')
  if (typeof phase !== 'string' || !PHASES.includes(phase)) bad('phase is not a failover phase')
  if (!isObject(point) || !isInt(point.id) || typeof point.root !== 'string' || !Array.isArray(point.disks)) bad('point is not a recovery point')
  if (planned !== undefined && typeof planned !== 'boolean') bad('planned is not true or false')
  if (!isInt(since) || !Array.isArray(nics) || !(socketName === null || typeof socketName === 'string') || !(bandwidth === null || isInt(bandwidth))) bad('expected since, nics, socketName and bandwidth')
  const t = isObject(timings) ? timings : {}
  if (!['termMs', 'serveMs', 'overlayMs', 'startMs', 'copyMs'].every(k => isMs(t[k]))) bad('timings are not milliseconds')
  let def: CheckedVmDefinition
  try {
    def = checkVmDefinition(definition)
  } catch (err) {
    throw damaged(KIND, file, `definition: ${(err as Error).message}`, err)
  }
  return {
    relationship: relationship as string,
    vm: vm as string,
    kind: kind as FailoverKind,
    phase: phase as FailoverPhase,
    point: point as unknown as PointInfo,
    since: since as number,
    definition: def,
    nics: nics as FailoverNicInfo[],
    socketName: socketName as string | null,
    bandwidth: bandwidth as number | null,
    timings: t as unknown as FailoverTimings,
    planned: planned === true,
    reason: reason as string
  }
}
