/**
 * An old primary becomes the Replica (docs/failover.md "Reverse
 * replication", "Salvage"): the `reverse` request of the box that failed
 * over reaches it here (the RelationshipPrimary's `reverse`). Before
 * anything can overwrite what it wrote after the last point both boxes
 * share, its VM stops and its disks, as they are, are kept as a point of
 * its new Replica store: a salvage copy (outside retention) when they
 * differ from the shared point, and in any case the base the new
 * primary's first cycle diffs against, so only the blocks that differ are
 * sent. Local I/O only: the disks are read, hashed and stored here.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { replicateOnce } from '../../core/replicate.ts'
import { ScanPool } from '../../core/scan/index.ts'
import type { RecoveryPoint } from '../../core/types.ts'
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
import type { Reversal } from '../../p2p/relationship/index.ts'
import type { VmDriver } from '../drivers/index.ts'
import { diskInUse, ManualDiskSource } from '../drivers/manual/index.ts'
import { stateEventInput, type EventLog } from '../events/index.ts'
import type { DriverKind, InventoryVm, VmInventory } from '../inventory/index.ts'
import { copyProtectedVm } from '../relationships/protected-vm.ts'
import { invalidRelationship, transition, type Relationship, type RelationshipTable, type StateEvent } from '../relationships/index.ts'
import { settingsFromWire } from '../replication/replica-record.ts'
import { retentionOf } from '../replication/replica-retention.ts'
import type { RecoveryPointStore } from '../../core/store/index.ts'
import { SerialQueue } from '../serial-queue.ts'
import { REVERSE_VM_STOP_WINDOW_MS } from './constants.ts'
import { codeOf, type FailoversLog } from './failover-work.ts'
import type { SalvageBook, SalvageRecord } from './salvage-book.ts'

export interface DemotionInit {
  relationships: RelationshipTable
  inventory: Pick<VmInventory, 'get' | 'remove'>
  drivers: Readonly<Record<DriverKind, VmDriver>>
  /** The daemon's VM control: a forced reversal stops the VM through it (its `vm-stop` event). */
  vms: { stop: (name: string, request: { force?: boolean, timeoutMs?: number }) => Promise<unknown> }
  /** The Replica's stores (StoreReplicaSink.holdExclusive). */
  sink: { holdExclusive: (peer: string, relationship: string, blockSize: number, signal?: AbortSignal) => Promise<{ store: RecoveryPointStore, release: () => Promise<void> }> }
  book: SalvageBook
  /** Points of a store that retention keeps whatever it says (servings, salvage copies). */
  pinned: (peer: string, relationship: string) => Iterable<number>
  /** DATA/primary/: the primary's state of each relationship, which this box no longer needs. */
  primaryDir: string
  /** This box stops replicating the relationship as its primary: its schedule removed (a cycle in flight aborted), its changes done. */
  leavePrimary: (id: string) => Promise<void>
  /** A paired box's name, for the words (its peer id when unknown). */
  peerName: (peer: string) => string
  events: EventLog
  logger: FailoversLog
  now: () => number
  /** Block size of a store made here: the new primary's cycles' (DEFAULT_BLOCK_SIZE). */
  blockSize: number
}

const ACTIVE = new Set(['starting', 'running', 'paused', 'stopping'])
const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * Lifecycle: start() after the Replica's stores and before the replication
 * receiver (a copy a stop or crash cut short is written again first, under
 * its store's lock, so no session of the new primary gets in before it);
 * stop() before the stores close: a copy being written is abandoned (the
 * store keeps what it had) and written again at the next start.
 * Reversals run one at a time.
 */
export class Demotion {
  private readonly init: DemotionInit
  private readonly queue = new SerialQueue()
  private readonly saving = new Set<Promise<void>>()
  private readonly stopping = new AbortController()
  private pool: ScanPool | undefined

  constructor (init: DemotionInit) {
    this.init = init
  }

  /** Writes again every copy that was being saved or failed (each an event); never throws for one copy. */
  async start (): Promise<void> {
    for (const r of this.init.book.list()) {
      if (r.state === 'kept') continue
      const rel = this.init.relationships.get(r.relationship)
      if (rel?.role !== 'replica' || rel.peer !== r.peer) {
        await this.note(r, `salvage copy ${r.id} was not finished, but this box no longer holds ${r.relationship} as the Replica of that box: left as it is (its disks are untouched)`, 'APP_INVALID_STATE')
        continue
      }
      try {
        const held = await this.init.sink.holdExclusive(r.peer, r.relationship, this.init.blockSize, this.stopping.signal)
        this.save(r, held)
      } catch (err) {
        await this.note(r, `salvage copy ${r.id} could not be written again: ${(err as Error).message}`, codeOf(err))
      }
    }
  }

  /** Abandons the copies being written (the next start writes them again) and waits for them. Idempotent. */
  async stop (): Promise<void> {
    this.stopping.abort()
    await Promise.allSettled([...this.saving])
    await this.pool?.stop()
    this.pool = undefined
  }

  /**
   * Why the new primary's sessions of `relationship` must wait (a copy that
   * failed: its disks are not kept yet, so no cycle may write over what
   * they hold), or undefined. A copy being saved holds the store's lock
   * instead, which sessions wait for.
   */
  busy (peer: string, relationship: string): string | undefined {
    const failed = this.init.book.list().find(r => r.peer === peer && r.relationship === relationship && r.state === 'failed')
    return failed === undefined ? undefined : `salvage copy ${failed.id} could not be written (${failed.reason}); nothing is replicated here until it is (restart the daemon, or delete it with tandem salvage delete ${failed.id} --yes)`
  }

  /**
   * RelationshipPrimary.reverse: `peer` failed the relationship over and
   * asks this box, its old primary, to become the Replica. Durable before
   * it resolves: the VM stopped (or refused), the salvage record written,
   * the record a Replica's at the reversal's term, the VM out of the
   * inventory (its files untouched); the disks' copy then runs in the
   * background under the store's lock, which the new primary's sessions
   * wait for. Idempotent.
   */
  async reverse (peer: string, reversal: Reversal, signal: AbortSignal): Promise<void> {
    await this.queue.run(async () => {
      signal.throwIfAborted()
      const { relationships, inventory } = this.init
      const rel = relationships.get(reversal.relationship)
      if (rel?.role === 'replica' && rel.peer === peer && rel.term === reversal.term) return
      if (rel?.role !== 'primary' || rel.peer !== peer) throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, `this box is not the primary of ${reversal.relationship} with that Replica`)
      if (reversal.term <= rel.term) throw new P2pError(P2pErrorCode.P2P_STALE_TERM, `this box holds term ${rel.term} of ${rel.vm}; the reversal is of term ${reversal.term}`)
      const next = this.replicaRecord(rel, reversal)
      const vm = inventory.get(rel.vm)
      if (vm !== undefined) await this.stopVm(vm, reversal.force)
      signal.throwIfAborted()
      await this.init.leavePrimary(rel.id)
      const record = vm === undefined ? undefined : this.salvageRecord(rel, peer, vm, reversal)
      if (record !== undefined) await this.init.book.put(record)
      await relationships.put(next.rel)
      if (next.event !== null) await this.init.events.append(stateEventInput(next.rel, next.event)).catch(() => undefined)
      if (vm !== undefined) await inventory.remove(rel.vm)
      await rm(join(this.init.primaryDir, rel.id), { recursive: true, force: true })
      const who = this.init.peerName(peer)
      await this.note({ relationship: rel.id, vm: rel.vm }, record === undefined
        ? `${rel.vm} now runs on ${who} (term ${reversal.term}): this box is its Replica; it had no copy of the VM in its inventory, so nothing was kept`
        : `${rel.vm} now runs on ${who} (term ${reversal.term}): this box is its Replica; its VM is out of the inventory (its disk files are untouched) and their content is being kept (salvage ${record.id}) before the first cycle`, undefined, 'reversed')
      this.init.logger.warn({ relationship: rel.id, vm: rel.vm, term: reversal.term, peer }, 'replication reversed: this box is now the Replica')
      if (record !== undefined) this.save(record, await this.init.sink.holdExclusive(peer, rel.id, this.init.blockSize, signal))
    })
  }

  /** The Replica's record after the reversal, checked: P2P_RELATIONSHIP_REFUSED when this box does not take what the new primary describes. */
  private replicaRecord (rel: Relationship, reversal: Reversal): { rel: Relationship, event: StateEvent | null } {
    const refuse = (why: string): P2pError => new P2pError(P2pErrorCode.P2P_RELATIONSHIP_REFUSED, `this box does not take the reversal: ${why}`)
    if (reversal.vm.name !== rel.vm) throw refuse(`the VM is ${rel.vm} here, not ${reversal.vm.name}`)
    const settings = settingsFromWire(reversal.settings)
    if ('refused' in settings) throw refuse(settings.refused)
    const r = transition(rel, { kind: 'reverse', term: reversal.term, reason: `replication reversed: ${rel.vm} runs on ${this.init.peerName(rel.peer)} at term ${reversal.term}, and this box is its Replica; the first cycle sends only the blocks that differ from this box's disk` }, this.init.now())
    if (!r.ok) throw refuse(r.reason)
    const next = r.next
    next.settings = { ...settings, initial: 'existing' }
    next.protectedVm = copyProtectedVm(reversal.vm)
    const why = invalidRelationship(next)
    if (why !== undefined) throw refuse(why)
    return { rel: next, event: r.event }
  }

  /** Stops the VM when it runs here and the reversal says so; P2P_VM_RUNNING otherwise (a manual VM: when a process holds its disks). */
  private async stopVm (vm: InventoryVm, force: boolean): Promise<void> {
    const name = vm.definition.name
    if (vm.driver === 'manual') {
      for (const d of vm.definition.disks) {
        const use = await diskInUse(d.path, d.format)
        if (use.inUse) throw new P2pError(P2pErrorCode.P2P_VM_RUNNING, `a process holds the disk ${d.name} of ${name} (${use.reason}): stop the VM in its hypervisor first`)
      }
      return
    }
    const status = await this.init.drivers[vm.driver].status(vm.definition)
    if (!ACTIVE.has(status.state)) return
    if (!force) throw new P2pError(P2pErrorCode.P2P_VM_RUNNING, `${name} is ${status.state} on this box: shut it down, or reverse with --force`)
    await this.init.vms.stop(name, { force: true, timeoutMs: REVERSE_VM_STOP_WINDOW_MS })
  }

  private salvageRecord (rel: Relationship, peer: string, vm: InventoryVm, reversal: Reversal): SalvageRecord {
    const time = this.init.now()
    return {
      id: this.init.book.newId(rel.id, time),
      relationship: rel.id,
      vm: rel.vm,
      peer,
      state: 'saving',
      time,
      base: reversal.base === null ? null : { root: reversal.base.root, time: reversal.base.time },
      disks: vm.definition.disks.map(d => ({ name: d.name, path: d.path, format: d.format, size: null })),
      point: null,
      root: null,
      reason: `keeping the disks of ${rel.vm} as they were when this box became the Replica`
    }
  }

  /** Writes the copy in the background (tracked), then lets the store go. */
  private save (r: SalvageRecord, held: { store: RecoveryPointStore, release: () => Promise<void> }): void {
    const run = this.write(r, held.store).finally(async () => { await held.release() })
    this.saving.add(run)
    void run.finally(() => { this.saving.delete(run) })
  }

  /**
   * The disks, as they are, committed as a point of the store (read through
   * the manual driver's guard, so a disk written meanwhile fails the copy
   * instead of keeping a mix). A copy whose point is the shared point
   * (nothing written after it: a planned failover) is no salvage: its
   * record goes, the point stays as the base. Never throws.
   */
  private async write (r: SalvageRecord, store: RecoveryPointStore): Promise<void> {
    const { events, book } = this.init
    const where = { relationship: r.relationship, vm: r.vm }
    const since = r.base === null ? 'no point was shared' : `the last shared point is of ${iso(r.base.time)}`
    const begin = await events.begin({ ...where, kind: 'salvage', reason: `keeping the disks of ${r.vm} as they are (${since}) before the new primary's first cycle` }).catch(() => undefined)
    const t0 = performance.now()
    try {
      this.pool ??= new ScanPool({ threads: 2, idleTimeoutMs: 10_000 })
      const latest = await store.latestPoint()
      // a copy committed before a crash cut its record short is that point: its time is the copy's
      const point: RecoveryPoint = latest?.time === r.time ? latest : (await replicateOnce(store, {
        pool: this.pool,
        disks: r.disks.map(d => ({ name: d.name, source: new ManualDiskSource(d.path, d.format) })),
        time: r.time,
        consistency: 'crash',
        consistencyNote: 'an old primary\'s disks, kept when it became the Replica',
        allowDiskChange: true,
        retention: retentionOf(this.init.relationships.get(r.relationship)?.settings.recoveryPoints ?? 0),
        pinned: [...this.init.pinned(r.peer, r.relationship)],
        signal: this.stopping.signal
      })).point
      const sizes = new Map(point.disks.map(d => [d.name, d.size]))
      for (const d of r.disks) d.size = sizes.get(d.name) ?? null
      const ms = Math.round(performance.now() - t0)
      if (r.base !== null && point.root === r.base.root) {
        await book.remove(r.id)
        if (begin !== undefined) await events.end(begin.seq, { outcome: 'ok', reason: `nothing was written on this box after the shared point: the disks are point ${point.id}, the base of the first cycle; no salvage copy is needed`, data: { point: point.id, salvage: false, ms } }).catch(() => undefined)
        return
      }
      r.state = 'kept'
      r.point = point.id
      r.root = point.root
      r.reason = `the disks of ${r.vm} as they were when this box became the Replica (${since}): point ${point.id}, kept outside retention until deleted`
      await book.put(r)
      if (begin !== undefined) await events.end(begin.seq, { outcome: 'ok', reason: `salvage copy ${r.id} kept: what this box wrote after the shared point is in point ${point.id} (tandem salvage list)`, data: { point: point.id, salvage: true, id: r.id, ms } }).catch(() => undefined)
      this.init.logger.warn({ relationship: r.relationship, salvage: r.id, point: point.id }, 'salvage copy kept')
    } catch (err) {
      const code = codeOf(err)
      if (!this.stopping.signal.aborted) {
        r.state = 'failed'
        r.reason = `${code}: ${(err as Error).message}`.slice(0, 400)
        await book.put(r).catch(e => { this.init.logger.error({ err: e, salvage: r.id }, 'a salvage record could not be written') })
      }
      this.init.logger.error({ err, salvage: r.id }, this.stopping.signal.aborted ? 'salvage copy interrupted: written again at the next start' : 'salvage copy failed')
      if (begin !== undefined) await events.end(begin.seq, { outcome: 'failed', code, reason: this.stopping.signal.aborted ? `salvage copy ${r.id} interrupted: written again at the next start` : `salvage copy ${r.id} could not be written (${code}); the disks are untouched, and nothing is replicated here until it is` }).catch(() => undefined)
    }
  }

  /** An event (`salvage` by default) and a log line; never throws. */
  private async note (where: { relationship: string, vm: string }, reason: string, code?: string, kind = 'salvage'): Promise<void> {
    this.init.logger[code === undefined ? 'info' : 'warn']({ ...where, code }, reason)
    await this.init.events.append({ kind, relationship: where.relationship, vm: where.vm, reason, ...(code === undefined ? {} : { code }) })
      .catch(err => { this.init.logger.error({ err }, 'a salvage event could not be logged') })
  }
}
