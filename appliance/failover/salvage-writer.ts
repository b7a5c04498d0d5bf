/**
 * Writes an old primary's disks into its Replica store (docs/failover.md
 * "Salvage"): a reversal's copy (or the preparation's point taken as it,
 * when the disks are unchanged since), or a preparation made when the term
 * was lost, each disk's file identity checked around the read. The
 * demotion (demotion.ts) decides when, and holds the store's lock for it.
 */
import { CoreError, CoreErrorCode } from '../../core/errors.ts'
import { replicateOnce } from '../../core/replicate.ts'
import { ScanPool } from '../../core/scan/index.ts'
import { pruneExcept, type RecoveryPointStore } from '../../core/store/index.ts'
import type { RecoveryPoint } from '../../core/types.ts'
import { ManualDiskSource } from '../drivers/manual/index.ts'
import type { EventLog } from '../events/index.ts'
import type { RelationshipTable } from '../relationships/index.ts'
import { retentionOf } from '../replication/replica-retention.ts'
import { codeOf, type FailoversLog } from './failover-work.ts'
import { fileIdentity, sameIdentity, type FileIdentity } from './file-identity.ts'
import { preparationOf, type SalvageBook, type SalvageRecord } from './salvage-book.ts'

export interface SalvageWriterInit {
  relationships: Pick<RelationshipTable, 'get'>
  book: SalvageBook
  /** Points of a store that retention keeps whatever it says (servings, salvage copies). */
  pinned: (peer: string, relationship: string) => Iterable<number>
  peerName: (peer: string) => string
  events: EventLog
  logger: FailoversLog
}

const iso = (ms: number): string => new Date(ms).toISOString()

/** Its methods never throw (an outcome is an event); stop() ends its scan threads. */
export class SalvageWriter {
  private readonly init: SalvageWriterInit
  private pool: ScanPool | undefined

  constructor (init: SalvageWriterInit) {
    this.init = init
  }

  async stop (): Promise<void> {
    await this.pool?.stop()
    this.pool = undefined
  }

  /**
   * The disks, as they are, committed as a point of the store (read through
   * the manual driver's guard, so a disk written meanwhile fails the copy
   * instead of keeping a mix), or the preparation's point when the disks
   * are unchanged since it was made (the preparation then goes: this
   * record holds its point; else it is abandoned, its point left to
   * retention). A copy whose point is the shared point (nothing written
   * after it: a planned failover) is no salvage: its record goes, the
   * point stays as the base. Never throws.
   */
  async write (r: SalvageRecord, store: RecoveryPointStore, stopping: AbortSignal): Promise<void> {
    const { events, book } = this.init
    const where = { relationship: r.relationship, vm: r.vm }
    const since = r.base === null ? 'no point was shared' : `the last shared point is of ${iso(r.base.time)}`
    const begin = await events.begin({ ...where, kind: 'salvage', reason: `keeping the disks of ${r.vm} as they are (${since}) before the new primary's first cycle` }).catch(() => undefined)
    const t0 = performance.now()
    try {
      const prep = preparationOf(book.list(), r.peer, r.relationship)
      const reused = prep === undefined ? undefined : await this.reusable(prep, r, store)
      if (prep !== undefined && reused === undefined) {
        await book.remove(prep.id)
        await this.note(r, `the copy ${prep.id} of the disks of ${r.vm} made ${iso(prep.time)} is not used (${prep.state === 'prepared' ? 'a disk changed since' : 'it was not finished'}): they are copied again`)
      }
      // a copy committed before a crash cut its record short is that point: its time is the copy's
      const latest = reused === undefined ? await store.latestPoint() : undefined
      const point = reused ?? (latest?.time === r.time ? latest : await this.copy(r, store, stopping, [...this.init.pinned(r.peer, r.relationship)]))
      const sizes = new Map(point.disks.map(d => [d.name, d.size]))
      for (const d of r.disks) d.size = sizes.get(d.name) ?? null
      const ms = Math.round(performance.now() - t0)
      const data = { point: point.id, ms, ...(prep === undefined ? {} : { prepared: prep.id, reused: reused !== undefined }) }
      const how = reused === undefined ? '' : ` (unchanged since they were kept at ${iso(prep!.time)}: no second copy)`
      if (r.base !== null && point.root === r.base.root) {
        await book.remove(r.id)
        if (prep !== undefined && reused !== undefined) await book.remove(prep.id)
        if (begin !== undefined) await events.end(begin.seq, { outcome: 'ok', reason: `nothing was written on this box after the shared point: the disks are point ${point.id}${how}, the base of the first cycle; no salvage copy is needed`, data: { ...data, salvage: false } }).catch(() => undefined)
        return
      }
      r.state = 'kept'
      r.point = point.id
      r.root = point.root
      r.reason = `the disks of ${r.vm} as they were when this box became the Replica (${since}): point ${point.id}${how}, kept outside retention until deleted`
      await book.put(r)
      if (prep !== undefined && reused !== undefined) await book.remove(prep.id)
      if (begin !== undefined) await events.end(begin.seq, { outcome: 'ok', reason: `salvage copy ${r.id} kept: what this box wrote after the shared point is in point ${point.id}${how} (tandem salvage list)`, data: { ...data, salvage: true, id: r.id } }).catch(() => undefined)
      this.init.logger.warn({ relationship: r.relationship, salvage: r.id, point: point.id }, 'salvage copy kept')
    } catch (err) {
      const code = codeOf(err)
      if (!stopping.aborted) {
        r.state = 'failed'
        r.reason = `${code}: ${(err as Error).message}`.slice(0, 400)
        await book.put(r).catch(e => { this.init.logger.error({ err: e, salvage: r.id }, 'a salvage record could not be written') })
      }
      this.init.logger.error({ err, salvage: r.id }, stopping.aborted ? 'salvage copy interrupted: written again at the next start' : 'salvage copy failed')
      if (begin !== undefined) await events.end(begin.seq, { outcome: 'failed', code, reason: stopping.aborted ? `salvage copy ${r.id} interrupted: written again at the next start` : `salvage copy ${r.id} could not be written (${code}); the disks are untouched, and nothing is replicated here until it is` }).catch(() => undefined)
    }
  }

  /** The preparation's point, when it is finished, of the same disk files, each unchanged since it was read; else undefined. */
  private async reusable (prep: SalvageRecord, r: SalvageRecord, store: RecoveryPointStore): Promise<RecoveryPoint | undefined> {
    if (prep.state !== 'prepared' || prep.point === null || prep.disks.length !== r.disks.length) return undefined
    for (const d of r.disks) {
      const kept = prep.disks.find(x => x.name === d.name)
      if (kept?.identity == null || kept.path !== d.path || kept.format !== d.format) return undefined
      const now = await fileIdentity(d.path).catch(() => undefined)
      if (now === undefined || !sameIdentity(now, kept.identity)) return undefined
    }
    const point = await store.getPoint(prep.point).catch(() => undefined)
    return point?.root === prep.root ? point : undefined
  }

  /**
   * A preparation (docs/failover.md "Salvage"): the disks committed as a
   * point, each disk's file identity taken right before the read and
   * checked unchanged after it (a point of a disk written meanwhile is
   * pruned: CORE_SOURCE_CHANGED), then the record `prepared`. A failure
   * removes the record (a reversal copies then; the next daemon start
   * prepares again); an abort (stop, unprepare) leaves it to its caller.
   * Never throws.
   */
  async writePreparation (r: SalvageRecord, store: RecoveryPointStore, signal: AbortSignal): Promise<void> {
    const { events, book } = this.init
    const where = { relationship: r.relationship, vm: r.vm }
    const begin = await events.begin({ ...where, kind: 'salvage', reason: r.reason }).catch(() => undefined)
    const t0 = performance.now()
    try {
      const existing = (await store.listPoints()).map(p => p.id)
      const before = await Promise.all(r.disks.map(async d => await fileIdentity(d.path)))
      // the points already there (an earlier reversal's) are kept: this copy may never be used
      const point = await this.copy(r, store, signal, [...this.init.pinned(r.peer, r.relationship), ...existing])
      const after = await Promise.all(r.disks.map(async d => await fileIdentity(d.path)))
      if (!before.every((b, i) => sameIdentity(b, after[i]!))) {
        await pruneExcept(store, (await store.listPoints()).filter(p => p.id !== point.id).map(p => p.id))
        throw new CoreError(CoreErrorCode.CORE_SOURCE_CHANGED, `a disk of ${r.vm} was written while it was being kept`)
      }
      const sizes = new Map(point.disks.map(d => [d.name, d.size]))
      r.disks.forEach((d, i) => { d.size = sizes.get(d.name) ?? null; d.identity = before[i] as FileIdentity })
      r.state = 'prepared'
      r.point = point.id
      r.root = point.root
      r.reason = `the disks of ${r.vm} as they were at ${iso(r.time)}, when ${this.init.peerName(r.peer)} had failed it over: point ${point.id}, the copy a later \`replication reverse\` keeps when they are unchanged`
      await book.put(r)
      if (begin !== undefined) await events.end(begin.seq, { outcome: 'ok', reason: `the disks of ${r.vm} are kept as point ${point.id} (${r.id}): a \`replication reverse\` takes it as its copy if they do not change`, data: { point: point.id, id: r.id, prepared: true, ms: Math.round(performance.now() - t0) } }).catch(() => undefined)
    } catch (err) {
      const code = codeOf(err)
      if (!signal.aborted) await book.remove(r.id).catch(e => { this.init.logger.error({ err: e, salvage: r.id }, 'a salvage record could not be removed') })
      this.init.logger.error({ err, salvage: r.id }, 'the disks could not be kept now')
      const reason = signal.aborted
        ? `keeping the disks of ${r.vm} (${r.id}) was interrupted`
        : `the disks of ${r.vm} could not be kept now (${code}): the next daemon start tries again, or a \`replication reverse\` copies them`
      if (begin !== undefined) await events.end(begin.seq, { outcome: 'failed', code, reason }).catch(() => undefined)
    }
  }

  /** The disks read and committed as a point at the record's time, retention applied around `pinned`. */
  private async copy (r: SalvageRecord, store: RecoveryPointStore, signal: AbortSignal, pinned: number[]): Promise<RecoveryPoint> {
    this.pool ??= new ScanPool({ threads: 2, idleTimeoutMs: 10_000 })
    return (await replicateOnce(store, {
      pool: this.pool,
      disks: r.disks.map(d => ({ name: d.name, source: new ManualDiskSource(d.path, d.format) })),
      time: r.time,
      consistency: 'crash',
      consistencyNote: r.prepared ? 'an old primary\'s disks, kept when it lost its term' : 'an old primary\'s disks, kept when it became the Replica',
      allowDiskChange: true,
      retention: retentionOf(this.init.relationships.get(r.relationship)?.settings.recoveryPoints ?? 0),
      pinned,
      signal
    })).point
  }

  /** An event (`salvage`) and a log line; never throws. */
  private async note (where: { relationship: string, vm: string }, reason: string): Promise<void> {
    this.init.logger.info(where, reason)
    await this.init.events.append({ kind: 'salvage', relationship: where.relationship, vm: where.vm, reason })
      .catch(err => { this.init.logger.error({ err }, 'a salvage event could not be logged') })
  }
}
