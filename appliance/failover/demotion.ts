/**
 * An old primary becomes the Replica (docs/failover.md "Reverse
 * replication", "Salvage"): the `reverse` request of the box that failed
 * over reaches it here (the RelationshipPrimary's `reverse`). Before
 * anything can overwrite what it wrote after the last point both boxes
 * share, its VM stops and its disks, as they are, are kept as a point of
 * its new Replica store: a salvage copy (outside retention) when they
 * differ from the shared point, and in any case the base the new
 * primary's first cycle diffs against, so only the blocks that differ are
 * sent. Local I/O only: the disks are read, hashed and stored here (by
 * the SalvageWriter, salvage-writer.ts).
 *
 * That copy is made as soon as this box learns it lost its term, when its
 * VM does not run (a preparation: docs/failover.md "Salvage"): its
 * divergent writes are kept at once, and the reversal, which may come
 * hours later, takes the prepared point as its copy when the disks are
 * unchanged since, so only the new primary's scan and the differing blocks
 * remain.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pruneExcept, type RecoveryPointStore } from '../../core/store/index.ts'
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
import type { Reversal } from '../../p2p/relationship/index.ts'
import type { VmDriver } from '../drivers/index.ts'
import { diskInUse } from '../drivers/manual/index.ts'
import { stateEventInput, type EventLog } from '../events/index.ts'
import type { DriverKind, InventoryVm, VmInventory } from '../inventory/index.ts'
import { copyProtectedVm } from '../relationships/protected-vm.ts'
import { invalidRelationship, transition, type Relationship, type RelationshipTable, type StateEvent } from '../relationships/index.ts'
import { hasLostTerm } from '../relationships/term-rules.ts'
import { settingsFromWire } from '../replication/replica-record.ts'
import { SerialQueue } from '../serial-queue.ts'
import { REVERSE_VM_STOP_WINDOW_MS } from './constants.ts'
import { codeOf, type FailoversLog } from './failover-work.ts'
import { preparationOf, type SalvageBook, type SalvageRecord } from './salvage-book.ts'
import { SalvageWriter } from './salvage-writer.ts'

export interface DemotionInit {
  relationships: RelationshipTable
  inventory: Pick<VmInventory, 'get' | 'remove'>
  drivers: Readonly<Record<DriverKind, VmDriver>>
  /** The daemon's VM control: a forced reversal stops the VM through it (its `vm-stop` event). */
  vms: { stop: (name: string, request: { force?: boolean, timeoutMs?: number }) => Promise<unknown> }
  /** The Replica's stores (StoreReplicaSink.holdExclusive, removeStore). */
  sink: {
    holdExclusive: (peer: string, relationship: string, blockSize: number, signal?: AbortSignal) => Promise<Held>
    removeStore: (peer: string, relationship: string, signal?: AbortSignal) => Promise<void>
  }
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

type Held = { store: RecoveryPointStore, release: () => Promise<void> }

/** A copy running under its store's lock. */
interface Copy {
  readonly abort: AbortController
  /** Set once it ended, before its lock is let go or handed on. */
  finished: boolean
  /** A reversal that came meanwhile: it takes the store's lock over when the copy ends, so no session gets in between. */
  next: ((held: Held) => void) | undefined
  run: Promise<void> | undefined
}
const newCopy = (): Copy => ({ abort: new AbortController(), finished: false, next: undefined, run: undefined })
const storeKey = (peer: string, relationship: string): string => `${peer}/${relationship}`

/**
 * Lifecycle: start() after the Replica's stores and before the replication
 * receiver (a copy a stop or crash cut short is written again first, under
 * its store's lock, so no session of the new primary gets in before it);
 * stop() before the stores close: a copy being written is abandoned (the
 * store keeps what it had) and written again at the next start (a
 * preparation: made again). Reversals, the start of preparations and
 * their removal run one at a time.
 */
export class Demotion {
  private readonly init: DemotionInit
  private readonly queue = new SerialQueue()
  private readonly saving = new Set<Promise<void>>()
  /** Preparations being written, by store (storeKey). */
  private readonly preparations = new Map<string, Copy>()
  private readonly stopping = new AbortController()
  private readonly writer: SalvageWriter

  constructor (init: DemotionInit) {
    this.init = init
    this.writer = new SalvageWriter(init)
  }

  /**
   * Writes again every copy that was being saved or failed (each an
   * event), drops the preparations no longer needed or cut short, and
   * prepares every relationship that lost its term and has none (in the
   * background). Never throws for one copy.
   */
  async start (): Promise<void> {
    await this.dropStalePreparations()
    for (const r of this.init.book.list()) {
      if (r.state === 'kept' || r.prepared) continue
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
    for (const rel of this.init.relationships.list()) if (rel.role === 'primary' && hasLostTerm(rel)) this.prepare(rel.id)
  }

  /**
   * A preparation stays when its relationship still lost its term here
   * and it is finished, or when a reversal's copy not yet written will
   * take it (or abandon it); any other goes (its record; its point is left
   * to retention): one cut short is made again by start().
   */
  private async dropStalePreparations (): Promise<void> {
    const { book, relationships } = this.init
    for (const r of book.list().filter(x => x.prepared)) {
      const rel = relationships.get(r.relationship)
      const lost = rel?.role === 'primary' && rel.peer === r.peer && hasLostTerm(rel)
      if (lost && r.state === 'prepared') continue
      const reversing = book.list().some(x => !x.prepared && x.peer === r.peer && x.relationship === r.relationship && x.state !== 'kept')
      if (!lost && reversing && r.state === 'prepared') continue
      await book.remove(r.id)
      await this.note(r, lost ? `the copy ${r.id} of the disks of ${r.vm} was cut short: it is made again` : `the copy ${r.id} of the disks of ${r.vm} is no longer needed: removed, its point left to retention`)
    }
  }

  /** Abandons the copies being written (the next start writes them again) and waits for them. Idempotent. */
  async stop (): Promise<void> {
    this.stopping.abort()
    await this.settled()
    await this.writer.stop()
  }

  /** Resolves once no reversal, preparation or copy is starting or running (tests, stop()). */
  async settled (): Promise<void> {
    await this.queue.run(async () => {})
    while (this.saving.size > 0) await Promise.allSettled([...this.saving])
  }

  /**
   * PrimaryReplication's `term-lost` (and start()): relationship `id` is no
   * longer this box's to replicate, so its disks, as they are now, are
   * kept in the store a reversal would keep them in, in the background
   * (one preparation per relationship), when its VM is in the inventory
   * and does not run; a running VM is left to the reversal (an event says
   * so). Never throws; idempotent.
   */
  prepare (id: string): void {
    void this.queue.run(async () => { await this.startPreparation(id) })
      .catch(err => { this.init.logger.error({ err, relationship: id }, 'the disks could not be kept') })
  }

  /**
   * `replication resume` (the failover was cancelled) or `remove` of
   * relationship `id` on this box: its preparation is not needed (the
   * disks are the VM's own, untouched); one running is abandoned, its
   * record goes, and its point (the store too, when it held nothing else).
   * Never throws: a failure is logged and an event (the record then stays,
   * and the next start drops it).
   */
  async unprepare (id: string): Promise<void> {
    await this.queue.run(async () => {
      for (const r of this.init.book.list().filter(x => x.prepared && x.relationship === id)) {
        const running = this.preparations.get(storeKey(r.peer, id))
        running?.abort.abort()
        await running?.run
        try {
          await this.discard(r)
        } catch (err) {
          await this.note(r, `the copy ${r.id} of the disks of ${r.vm} could not be removed: ${(err as Error).message}`, codeOf(err))
        }
      }
    })
  }

  /**
   * Why the new primary's sessions of `relationship` must wait (a copy that
   * failed: its disks are not kept yet, so no cycle may write over what
   * they hold), or undefined. A copy being saved holds the store's lock
   * instead, which sessions wait for.
   */
  busy (peer: string, relationship: string): string | undefined {
    const failed = this.init.book.list().find(r => !r.prepared && r.peer === peer && r.relationship === relationship && r.state === 'failed')
    return failed === undefined ? undefined : `salvage copy ${failed.id} could not be written (${failed.reason}); nothing is replicated here until it is (restart the daemon, or delete it with tandem salvage delete ${failed.id} --yes)`
  }

  /**
   * RelationshipPrimary.reverse: `peer` failed the relationship over and
   * asks this box, its old primary, to become the Replica. Durable before
   * it resolves: the VM stopped (or refused), the salvage record written,
   * the record a Replica's at the reversal's term, the VM out of the
   * inventory (its files untouched); the disks' copy then runs in the
   * background under the store's lock, which the new primary's sessions
   * wait for: a preparation running hands the lock over to it when it
   * ends, and a finished one is taken as the copy when the disks are
   * unchanged since (write()). Idempotent.
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
      const record = vm === undefined ? undefined : this.salvageRecord(rel, vm, reversal.base, false)
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
      if (record === undefined) return
      const running = this.preparations.get(storeKey(peer, rel.id))
      if (running !== undefined && !running.finished) running.next = held => { this.save(record, held) }
      else this.save(record, await this.init.sink.holdExclusive(peer, rel.id, this.init.blockSize, signal))
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
    const running = await this.running(vm)
    if (running === undefined) return
    if (vm.driver === 'manual') throw new P2pError(P2pErrorCode.P2P_VM_RUNNING, `${running}: stop the VM in its hypervisor first`)
    if (!force) throw new P2pError(P2pErrorCode.P2P_VM_RUNNING, `${running}: shut it down, or reverse with --force`)
    await this.init.vms.stop(vm.definition.name, { force: true, timeoutMs: REVERSE_VM_STOP_WINDOW_MS })
  }

  /** Why `vm` counts as running here (a qemu VM active; a manual VM's disk held by a process), or undefined. */
  private async running (vm: InventoryVm): Promise<string | undefined> {
    const name = vm.definition.name
    if (vm.driver === 'manual') {
      for (const d of vm.definition.disks) {
        const use = await diskInUse(d.path, d.format)
        if (use.inUse) return `a process holds the disk ${d.name} of ${name} (${use.reason})`
      }
      return undefined
    }
    const status = await this.init.drivers[vm.driver].status(vm.definition)
    return ACTIVE.has(status.state) ? `${name} is ${status.state} on this box` : undefined
  }

  /** Inside the queue: prepare(). */
  private async startPreparation (id: string): Promise<void> {
    const { relationships, inventory, book } = this.init
    const rel = relationships.get(id)
    if (this.stopping.signal.aborted || rel?.role !== 'primary' || !hasLostTerm(rel)) return
    if (preparationOf(book.list(), rel.peer, id) !== undefined) return
    const vm = inventory.get(rel.vm)
    if (vm === undefined) return
    const who = this.init.peerName(rel.peer)
    const running = await this.running(vm).catch((err: unknown) => `its state is unknown (${(err as Error).message})`)
    if (running !== undefined) {
      await this.note({ relationship: rel.id, vm: rel.vm }, `the disks of ${rel.vm} are not kept now, since ${running}: \`tandem replication reverse ${rel.vm}\` on ${who} stops it and keeps them then`)
      return
    }
    const r = this.salvageRecord(rel, vm, null, true)
    await book.put(r)
    const copy = newCopy()
    let held: Held
    try {
      held = await this.init.sink.holdExclusive(rel.peer, id, this.init.blockSize, AbortSignal.any([this.stopping.signal, copy.abort.signal]))
    } catch (err) {
      await book.remove(r.id)
      await this.note({ relationship: rel.id, vm: rel.vm }, `the disks of ${rel.vm} could not be kept now (${(err as Error).message}): the next daemon start tries again, or a reversal keeps them`, codeOf(err))
      return
    }
    const key = storeKey(rel.peer, id)
    this.preparations.set(key, copy)
    this.save(r, held, copy)
    void copy.run?.finally(() => { if (this.preparations.get(key) === copy) this.preparations.delete(key) })
  }

  /** A preparation `r` not needed: its point pruned (its store removed when it held nothing else), then its record. */
  private async discard (r: SalvageRecord): Promise<void> {
    const { sink, book, blockSize } = this.init
    const held = await sink.holdExclusive(r.peer, r.relationship, blockSize, this.stopping.signal)
    let others: number[]
    try {
      others = (await held.store.listPoints()).filter(p => p.id !== r.point && p.time !== r.time).map(p => p.id)
      if (others.length > 0) await pruneExcept(held.store, others)
    } finally {
      await held.release()
    }
    await book.remove(r.id)
    if (others.length === 0) await sink.removeStore(r.peer, r.relationship, this.stopping.signal)
    await this.note(r, `the copy ${r.id} of the disks of ${r.vm} is no longer needed (replication of ${r.relationship} resumed or removed here): removed`)
  }

  /** A new record (`saving`) of `vm`'s disks: a reversal's copy, or a preparation (`prepared`, no shared point known yet). */
  private salvageRecord (rel: Relationship, vm: InventoryVm, base: Reversal['base'], prepared: boolean): SalvageRecord {
    const time = this.init.now()
    return {
      id: this.init.book.newId(rel.id, time),
      relationship: rel.id,
      vm: rel.vm,
      peer: rel.peer,
      state: 'saving',
      prepared,
      time,
      base: base === null ? null : { root: base.root, time: base.time },
      disks: vm.definition.disks.map(d => ({ name: d.name, path: d.path, format: d.format, size: null, identity: null })),
      point: null,
      root: null,
      reason: prepared
        ? `keeping the disks of ${rel.vm} as they are now, since ${this.init.peerName(rel.peer)} failed it over: the base of a later \`replication reverse\``
        : `keeping the disks of ${rel.vm} as they were when this box became the Replica`
    }
  }

  /** Writes the copy in the background (tracked), then lets the store go, or hands it to a reversal that came meanwhile. */
  private save (r: SalvageRecord, held: Held, copy: Copy = newCopy()): void {
    const signal = AbortSignal.any([this.stopping.signal, copy.abort.signal])
    const run = (r.prepared ? this.writer.writePreparation(r, held.store, signal) : this.writer.write(r, held.store, this.stopping.signal)).finally(async () => {
      copy.finished = true
      if (copy.next !== undefined) copy.next(held)
      else await held.release()
    })
    copy.run = run
    this.saving.add(run)
    void run.finally(() => { this.saving.delete(run) })
  }

  /** An event (`salvage` by default) and a log line; never throws. */
  private async note (where: { relationship: string, vm: string }, reason: string, code?: string, kind = 'salvage'): Promise<void> {
    this.init.logger[code === undefined ? 'info' : 'warn']({ ...where, code }, reason)
    await this.init.events.append({ kind, relationship: where.relationship, vm: where.vm, reason, ...(code === undefined ? {} : { code }) })
      .catch(err => { this.init.logger.error({ err }, 'a salvage event could not be logged') })
  }
}
