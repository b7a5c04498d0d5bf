/**
 * The salvage copies of an old primary that became the Replica
 * (docs/failover.md "Salvage"), one record each:
 *
 *   DATA/salvage/<id>.json   version 1, 0600, written atomically
 *
 * A record may also be a preparation (`prepared: true`): an old primary
 * that lost its term keeps its disks at once, before any reversal, each
 * with its file identity; the reversal then takes that point as its copy
 * when the disks are unchanged. `prepared` and a disk's `identity` were
 * added to version 1: a record without them reads as before (false, null).
 * where `<id>` is `<relationship>-<yyyymmddThhmmssZ>`. A copy's data is a
 * point of the relationship's Replica store (DATA/store/<peer>/<relationship>/);
 * the record names it and pins it, so retention never prunes it. Records
 * are read once at start and kept in memory; every change is written
 * before it is visible. A damaged record is APP_FAILOVER_FILE_CORRUPT, left
 * as it is (never rewritten: the copy it names would lose its pin), and
 * reported.
 */
import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { DISK_NAME_PATTERN } from '../../core/constants.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { damaged, isObject, readJsonFile, writeJsonFile, type JsonFileKind } from '../json-file.ts'
import type { SalvageInfo } from '../service/index.ts'
import { MAX_FAILOVER_FILE_BYTES } from './constants.ts'
import { compactTime } from './drill-book.ts'
import { isFileIdentity, type FileIdentity } from './file-identity.ts'

const KIND: JsonFileKind = { what: 'salvage record', version: 1, maxBytes: MAX_FAILOVER_FILE_BYTES, code: AppErrorCode.APP_FAILOVER_FILE_CORRUPT }

/** A salvage id: a relationship id, a dash and a compact time, maybe a counter. */
export const SALVAGE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}-\d{8}T\d{6}Z(-\d{1,3})?$/

export interface SalvageDisk {
  name: string
  /** The file it was read from (the VM's disk on this box when it stopped being the primary). */
  path: string
  format: 'raw' | 'qcow2'
  /** Bytes, once saved. */
  size: number | null
  /** A preparation's: the file as it was read (unchanged before and after), once saved; else null. */
  identity: FileIdentity | null
}

export interface SalvageRecord {
  id: string
  relationship: string
  vm: string
  /** The new primary's peer id: the store is `store/<peer>/<relationship>/`. */
  peer: string
  /** `saving`, `kept` or `failed`; a preparation is `saving`, then `prepared` (a failed one is removed). */
  state: SalvageInfo['state']
  /** A preparation (made when the term was lost, before any reversal), not yet a reversal's copy. */
  prepared: boolean
  /** When this box became the Replica: the copy is the disks as they were then (ms; the point's time). */
  time: number
  /** The last point both boxes shared, or null. */
  base: { root: string, time: number } | null
  disks: SalvageDisk[]
  point: number | null
  root: string | null
  reason: string
}

const isMs = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isRoot = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)

function checkRecord (v: Record<string, unknown>): SalvageRecord | string {
  const { id, relationship, vm, peer, state, time, base, disks, point, root, reason } = v
  const prepared = v.prepared ?? false
  if (typeof id !== 'string' || !SALVAGE_ID_PATTERN.test(id)) return 'id is not a salvage id'
  if (typeof relationship !== 'string' || !DISK_NAME_PATTERN.test(relationship) || typeof vm !== 'string' || !DISK_NAME_PATTERN.test(vm)) return 'expected relationship and vm'
  if (typeof peer !== 'string' || !/^[A-Za-z0-9]{1,128}$/.test(peer)) return 'peer is not a peer id'
  if (state !== 'saving' && state !== 'kept' && state !== 'failed' && state !== 'prepared') return 'state is not saving, kept, failed or prepared'
  if (typeof prepared !== 'boolean' || (state === 'prepared') !== (prepared && state !== 'saving')) return 'prepared does not agree with state'
  if (!isMs(time) || typeof reason !== 'string') return 'expected time and reason'
  if (base !== null && !(isObject(base) && isRoot(base.root) && isMs(base.time))) return 'base is not a point'
  if (!(point === null || (isMs(point) && point > 0)) || !(root === null || isRoot(root))) return 'expected point and root'
  if (!Array.isArray(disks)) return 'disks is not a list'
  const out: SalvageDisk[] = []
  for (const d of disks as unknown[]) {
    if (!isObject(d) || typeof d.name !== 'string' || !DISK_NAME_PATTERN.test(d.name) || typeof d.path !== 'string' || !d.path.startsWith('/')) return 'a disk is not { name, path, format, size }'
    if ((d.format !== 'raw' && d.format !== 'qcow2') || !(d.size === null || isMs(d.size))) return 'a disk is not { name, path, format, size }'
    const identity = d.identity ?? null
    if (!(identity === null || isFileIdentity(identity))) return 'a disk\'s identity is not { size, mtimeMs, ctimeMs, ino, dev }'
    out.push({ name: d.name, path: d.path, format: d.format, size: d.size as number | null, identity })
  }
  return { id, relationship, vm, peer, state, prepared, time, base: base === null ? null : { root: (base as { root: string }).root, time: (base as { time: number }).time }, disks: out, point: point as number | null, root: root as string | null, reason }
}

export class SalvageBook {
  /** DATA/salvage/. */
  readonly dir: string
  private readonly records = new Map<string, SalvageRecord>()

  constructor (dir: string) {
    this.dir = dir
  }

  /** Reads every record; damaged ones are returned, not thrown (the daemon starts and reports them). */
  async open (): Promise<Array<{ file: string, err: unknown }>> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const problems: Array<{ file: string, err: unknown }> = []
    for (const name of (await readdir(this.dir)).filter(n => n.endsWith('.json')).sort()) {
      const file = join(this.dir, name)
      try {
        const doc = await readJsonFile(file, KIND)
        if (doc === undefined) continue
        const r = checkRecord(doc)
        if (typeof r === 'string' || `${r.id}.json` !== name) throw damaged(KIND, file, typeof r === 'string' ? r : 'its id is not its file name')
        this.records.set(r.id, r)
      } catch (err) {
        problems.push({ file, err })
      }
    }
    return problems
  }

  /** A new id for a copy of `relationship` made at `time`, unused so far. */
  newId (relationship: string, time: number): string {
    const stem = `${relationship}-${compactTime(time)}`
    for (let n = 1; ; n++) {
      const id = n === 1 ? stem : `${stem}-${n}`
      if (!this.records.has(id)) return id
    }
  }

  /** Writes `r` (durably) and keeps it. */
  async put (r: SalvageRecord): Promise<void> {
    await writeJsonFile(join(this.dir, `${r.id}.json`), KIND, { ...r })
    this.records.set(r.id, copyRecord(r))
  }

  /** Forgets `id` (its file removed first: a crash leaves it kept, never half-deleted). */
  async remove (id: string): Promise<void> {
    await rm(join(this.dir, `${id}.json`), { force: true })
    this.records.delete(id)
  }

  /** The record `id`; APP_SALVAGE_NOT_FOUND otherwise. */
  get (id: string): SalvageRecord {
    const r = this.records.get(id)
    if (r === undefined) throw new AppError(AppErrorCode.APP_SALVAGE_NOT_FOUND, `no salvage copy ${id.slice(0, 100)} on this box (tandem salvage list)`)
    return copyRecord(r)
  }

  /** Every record, oldest first. */
  list (): SalvageRecord[] {
    return [...this.records.values()].sort((a, b) => a.time - b.time || a.id.localeCompare(b.id)).map(copyRecord)
  }

  /** The points of `peer`'s store of `relationship` that copies hold: retention keeps them. */
  pinned (peer: string, relationship: string): number[] {
    return [...this.records.values()].filter(r => r.peer === peer && r.relationship === relationship && r.point !== null).map(r => r.point!)
  }
}

/** The preparation of `peer`'s store of `relationship`, if any (docs/failover.md "Salvage"). */
export function preparationOf (records: SalvageRecord[], peer: string, relationship: string): SalvageRecord | undefined {
  return records.find(r => r.prepared && r.peer === peer && r.relationship === relationship)
}

const copyRecord = (r: SalvageRecord): SalvageRecord => ({ ...r, disks: r.disks.map(d => ({ ...d, identity: d.identity === null ? null : { ...d.identity } })) })

/** A record as the API shows it. Pure. */
export function salvageInfo (r: SalvageRecord): SalvageInfo {
  const iso = (ms: number): string => new Date(ms).toISOString()
  return {
    id: r.id,
    relationship: r.relationship,
    vm: r.vm,
    peer: r.peer,
    state: r.state,
    prepared: r.prepared,
    time: iso(r.time),
    since: r.base === null ? null : iso(r.base.time),
    point: r.point,
    root: r.root,
    disks: r.disks.map(d => ({ name: d.name, size: d.size, source: d.path })),
    reason: r.reason
  }
}
