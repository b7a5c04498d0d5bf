/**
 * The Replica side of a box: what paired primaries protect here. It owns
 * the registrar of the relationship protocol (records with role `replica`),
 * the replication sink (the stores under DATA/store/<peer>/<relationship>/,
 * pruned by each relationship's `recoveryPoints`, pinned points kept), the
 * relationship receiver, the reads the ReplicaApi serves
 * (docs/relationships.md "On the Replica"), and the recovery points served
 * over NBD for failover (docs/failover.md).
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { DISK_NAME_PATTERN } from '../../core/constants.ts'
import { CoreErrorCode } from '../../core/errors.ts'
import { materializePoint } from '../../core/restore.ts'
import { pruneExcept } from '../../core/store/index.ts'
import { PointServer, type PointServing } from '../failover/index.ts'
import type { Manifest, RecoveryPoint } from '../../core/types.ts'
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
import type { AdmissionPolicy } from '../../p2p/gater/admission.ts'
import type { TandemNode } from '../../p2p/node/index.ts'
import { RelationshipReceiver, sendFailedOver, type PlannedFailoverTarget, type RelationshipPrimary } from '../../p2p/relationship/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { health, isEventCursor, type EventLog, type LogEvent } from '../events/index.ts'
import { isDirectory } from '../fs-util.ts'
import type { VmInventory } from '../inventory/index.ts'
import type { JobContext } from '../jobs/index.ts'
import { FAILED_OVER_STATES, replicaVerdict, type Relationship, type RelationshipTable } from '../relationships/index.ts'
import { ReplicaRegistrar } from '../replication/replica-registrar.ts'
import { PointPins, retentionOf } from '../replication/replica-retention.ts'
import { StoreReplicaSink } from '../replication/store-replica.ts'
import {
  DEFAULT_EVENTS_SHOWN, MAX_EVENTS_SHOWN,
  type EventInfo, type EventsRequest, type EventsResult, type PointInfo, type PointsResult, type ReplicaStatusInfo, type SeedImportResult
} from '../service/index.ts'
import type { Logger } from './logger.ts'

/** How long `points` waits for a session of the same relationship that is opening or closing its store. */
export const TIMEOUT_POINTS_MS = 30_000

/** How long `servePoint` waits for a session of the same relationship that is opening or closing its store. */
export const TIMEOUT_SERVE_POINT_MS = 30_000

/**
 * How long the Replica tries to tell its primary of a failover (dial and
 * answer): a primary that is up records it in well under a second; one that
 * is down (the usual case of an unplanned failover) is caught by the term
 * check when it comes back, so nothing waits on this longer.
 */
export const TIMEOUT_FAILOVER_NOTICE_MS = 30_000

/** How telling the primary of a failover ended: `accepted` (it stopped), or the code it failed with. */
export type FailoverNoticeOutcome = 'accepted' | string

/** A failover recorded on the Replica (ReplicaSide.failedOver). */
export interface FailoverRecorded {
  /** The record after the `failover` input: failed-over-waiting-completion, its term raised. */
  relationship: Relationship
  /** Settles (never rejects) once the primary was told, or could not be: the failover never waits for it. */
  primaryTold: Promise<FailoverNoticeOutcome>
}
export interface ReplicaSideInit {
  /** DATA/store/. */
  storeDir: string
  /** DATA/exports/: the sockets of the served points. */
  exportsDir: string
  relationships: RelationshipTable
  events: EventLog
  inventory: Pick<VmInventory, 'get'>
  logger: Logger
  now: () => number
  /** Points retention keeps besides the pins (salvage copies: docs/failover.md "Salvage"). */
  kept?: (peer: string, relationship: string) => Iterable<number>
  /** Why a primary's sessions of a relationship must wait (a salvage copy not written yet), or undefined. */
  holdBack?: (peer: string, relationship: string) => string | undefined
  /** Called when the sink has no session left (StoreReplicaSink's onIdle): the daemon collects garbage then. */
  idle?: () => void
  /** A paired box's name, for the words of events (its peer id when unknown or not given). */
  peerName?: (peerId: string) => string | undefined
}

const isoTime = (ms: number): string => new Date(ms).toISOString()

export class ReplicaSide {
  readonly registrar: ReplicaRegistrar
  readonly sink: StoreReplicaSink
  /** Points in use (a test failover's, issue 13): pruning keeps them. */
  readonly pins = new PointPins()
  /**
   * The points served over NBD (docs/failover.md): started after the sink
   * (it empties DATA/exports/), stopped before the sink closes (it releases
   * the stores it holds).
   */
  readonly pointServer: PointServer
  private readonly init: ReplicaSideInit
  private receiver: RelationshipReceiver | undefined
  /** The node the receiver serves on: failover notices are sent from it. */
  private node: Pick<TandemNode, 'dialProtocol'> | undefined
  /** Failover notices being sent: stopReceiver aborts and waits for them. */
  private readonly notices = new Set<Promise<unknown>>()
  private noticesStop = new AbortController()

  constructor (init: ReplicaSideInit) {
    this.init = init
    const { logger, relationships } = init
    this.registrar = new ReplicaRegistrar({
      relationships,
      events: init.events,
      now: init.now,
      hasLocalVm: name => init.inventory.get(name) !== undefined,
      onEventError: err => { logger.error({ err }, 'a Replica relationship change is recorded but its event could not be logged') }
    })
    this.sink = new StoreReplicaSink({
      dir: init.storeDir,
      // the term rules on this box's record (relationships/term-rules.ts): a stale or failed-over primary writes nothing here
      admit: (peer, id, term) => {
        const verdict = replicaVerdict(relationships.get(id), peer, term === undefined ? 'session' : 'cycle', term)
        if (!verdict.admit) throw new P2pError(verdict.code, verdict.reason)
        const wait = init.holdBack?.(peer, id)
        if (wait !== undefined) throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_BUSY, wait)
      },
      onBackgroundError: (err, where) => { logger.error({ err, ...where }, 'replica image update or pruning failed; the point is committed') },
      ...(init.idle === undefined ? {} : { onIdle: init.idle }),
      retentionFor: (peer, id) => {
        const rel = relationships.get(id)
        return rel?.role === 'replica' && rel.peer === peer ? retentionOf(rel.settings.recoveryPoints) : undefined
      },
      pinned: (peer, id) => new Set([...this.pins.pinned(peer, id), ...(init.kept?.(peer, id) ?? [])]),
      onCommitted: async (where, point) => {
        await this.registrar.pointCommitted(where.peer, where.relationship, point)
          .catch(err => { logger.error({ err, ...where, point: point.id }, 'a point is committed but its relationship record could not be updated') })
      }
    })
    this.pointServer = new PointServer({ dir: init.exportsDir, stores: this.sink, pins: this.pins, logger })
  }

  /**
   * Starts answering the relationship protocol (after the replication
   * receiver: docs/daemon.md): primaries' requests go to the registrar,
   * Replicas' failover notices and new primaries' reversals to `primary`
   * (this box as primary), primaries' planned failovers to `planned`, and
   * failover notices of this box go out from `node`.
   */
  async startReceiver (node: Pick<TandemNode, 'handle' | 'unhandle' | 'dialProtocol' | 'getMultiaddrs'>, policy: AdmissionPolicy, primary?: RelationshipPrimary, planned?: PlannedFailoverTarget): Promise<void> {
    const { logger } = this.init
    this.node = node
    this.noticesStop = new AbortController()
    this.receiver = new RelationshipReceiver({
      node,
      policy,
      registrar: this.registrar,
      ...(primary === undefined ? {} : { primary }),
      ...(planned === undefined ? {} : { planned }),
      onRequest: e => { logger.info({ peer: e.peer, request: e.request, relationship: e.relationship, outcome: e.outcome, err: e.cause }, 'relationship request ended') }
    })
    await this.receiver.start()
  }

  /**
   * Stops answering; requests in flight are aborted (the primary hears
   * P2P_RELATIONSHIP_FAILED and sends again), and so are failover notices
   * being sent (the term check tells the primary instead).
   */
  async stopReceiver (): Promise<void> {
    await this.receiver?.stop()
    this.receiver = undefined
    this.noticesStop.abort(new P2pError(P2pErrorCode.P2P_ABORTED, 'the daemon is stopping'))
    await Promise.all([...this.notices])
    this.node = undefined
  }

  /**
   * This box fails over the relationship `name` names (a VM name or
   * relationship id held here as Replica): the state machine's `failover`
   * input (failed-over-waiting-completion, term + 1), durable and logged.
   * For the failover workflows, which call it before they start anything.
   * From then on the term rules refuse everything the old primary sends
   * (P2P_FAILED_OVER); when this resolves, no cycle of the old primary can
   * still commit (a commit in flight has landed: StoreReplicaSink.commitsSettled),
   * so the points listed afterwards are all there will be from it.
   * Then it tries, in the background, to tell the primary (`failed-over`,
   * docs/relationship-protocol.md "Failover notice"), which stops at once;
   * a primary that is down is caught by the term check when it comes back.
   * Throws APP_RELATIONSHIP_NOT_FOUND, APP_INVALID_STATE (nothing changed).
   */
  async failedOver (name: string, options: { reason?: string } = {}): Promise<FailoverRecorded> {
    const held = this.replicaRecord(name)
    const rel = await this.registrar.apply(held.id, { kind: 'failover', ...(options.reason === undefined ? {} : { reason: options.reason }) })
    await this.sink.commitsSettled(rel.peer, rel.id)
    this.init.logger.warn({ relationship: rel.id, vm: rel.vm, term: rel.term, peer: rel.peer }, 'failed over: the primary\'s replication is refused from now on')
    const told = this.tellPrimary(rel)
    this.notices.add(told)
    void told.then(() => { this.notices.delete(told) })
    return { relationship: rel, primaryTold: told }
  }

  /**
   * Undoes a failover that was not completed: the state machine's `cancel`
   * input (back to replicating, term - 1), durable and logged. The primary's
   * cycles are taken again from then on (a primary that was told of the
   * failover waits for its operator's `replication resume`).
   * Throws APP_RELATIONSHIP_NOT_FOUND, APP_INVALID_STATE (nothing changed).
   */
  async failoverCancelled (name: string, options: { reason?: string } = {}): Promise<Relationship> {
    return await this.registrar.apply(this.replicaRecord(name).id, { kind: 'cancel', ...(options.reason === undefined ? {} : { reason: options.reason }) })
  }

  /**
   * Keeps a failover (the state machine's `complete` input: failed-over,
   * the term as the failover raised it), durable and logged. The old
   * primary stays refused. Throws APP_RELATIONSHIP_NOT_FOUND,
   * APP_INVALID_STATE (nothing changed).
   */
  async failoverCompleted (name: string, options: { reason?: string } = {}): Promise<Relationship> {
    return await this.registrar.apply(this.replicaRecord(name).id, { kind: 'complete', ...(options.reason === undefined ? {} : { reason: options.reason }) })
  }

  /** Tells the primary of `rel` that this box failed it over; the outcome is an event. Never rejects. */
  private async tellPrimary (rel: Relationship): Promise<FailoverNoticeOutcome> {
    const { events, logger } = this.init
    let outcome: FailoverNoticeOutcome
    try {
      if (this.node === undefined) throw new P2pError(P2pErrorCode.P2P_ABORTED, 'the relationship protocol is not running')
      const signal = AbortSignal.any([this.noticesStop.signal, AbortSignal.timeout(TIMEOUT_FAILOVER_NOTICE_MS)])
      await sendFailedOver(this.node, peerIdFromString(rel.peer), { relationship: rel.id, term: rel.term, at: rel.changedAt }, { signal, timeoutMs: TIMEOUT_FAILOVER_NOTICE_MS })
      outcome = 'accepted'
    } catch (err) {
      const code = (err as { code?: unknown }).code
      outcome = typeof code === 'string' ? code : AppErrorCode.APP_UNEXPECTED
    }
    const told = outcome === 'accepted'
    const primary = this.init.peerName?.(rel.peer) ?? rel.peer
    logger.info({ relationship: rel.id, peer: rel.peer, outcome }, told ? 'the primary was told of the failover' : 'the primary could not be told of the failover')
    await events.append({
      relationship: rel.id,
      vm: rel.vm,
      kind: 'failover-notice',
      ...(told ? {} : { code: outcome }),
      reason: told
        ? `the primary (${primary}) was told of the failover at term ${rel.term}: it stopped replicating ${rel.vm}`
        : `the primary (${primary}) could not be told of the failover (${outcome}): when it comes back, the term check refuses its replication`,
      data: { peer: rel.peer, term: rel.term, outcome }
    }).catch(err => { logger.error({ err }, 'the failover notice\'s event could not be logged') })
    return outcome
  }

  /** The record `name` names (VM name, then id) that this box holds as Replica; APP_RELATIONSHIP_NOT_FOUND otherwise. */
  private replicaRecord (name: string): Relationship {
    const rel = this.init.relationships.byVm(name) ?? this.init.relationships.get(name)
    if (rel?.role !== 'replica') throw notFound(rel === undefined ? `this box holds no relationship ${name.slice(0, 80)} as Replica` : `this box is the primary of ${rel.vm}: failover runs on its Replica (${rel.peer})`)
    return rel
  }

  async points (name: string): Promise<PointsResult> {
    const { peer, relationship, rel } = await this.resolve(name)
    const points = await this.sink.readStore(peer, relationship, async store => await store.listPoints(), AbortSignal.timeout(TIMEOUT_POINTS_MS)) ?? []
    return { relationship, vm: rel?.vm ?? null, peer, removed: rel === undefined, store: this.sink.replicaDir(peer, relationship), points: points.map(pointInfo) }
  }

  /**
   * Each disk's manifest in the newest point this box holds of
   * relationship `relationship` from `peer` (its store kept from when it was
   * the Replica: after a completed failover, the failover point), or
   * undefined when it holds none. Read under the store's rules
   * (StoreReplicaSink.readStore); for the primary's first cycle after a
   * reversal (docs/failover.md "Delta failback").
   */
  async sharedManifests (peer: string, relationship: string, signal?: AbortSignal): Promise<Map<string, Manifest> | undefined> {
    return await this.sink.readStore(peer, relationship, async store => {
      const latest = (await store.listPoints()).at(-1)
      if (latest === undefined) return undefined
      const out = new Map<string, Manifest>()
      for (const d of latest.disks) out.set(d.name, await store.manifest(latest.id, d.name))
      return out
    }, signal ?? AbortSignal.timeout(TIMEOUT_POINTS_MS))
  }

  /**
   * Serves recovery point `pointId` of the relationship `name` names (as
   * `points` resolves it) over NBD, pinned until the serving is closed
   * (PointServer.serve; docs/failover.md). For the failover workflows: the
   * caller closes what it opened; the daemon's stop closes what is left.
   * `options.socketName`: serve on that fixed socket of DATA/exports/
   * (PointServer.serve). Throws APP_RELATIONSHIP_NOT_FOUND, APP_USAGE,
   * APP_POINT_NOT_FOUND.
   */
  async servePoint (name: string, pointId: number, options: { socketName?: string } = {}): Promise<PointServing> {
    const { peer, relationship } = await this.resolve(name)
    return await this.pointServer.serve(peer, relationship, pointId, AbortSignal.timeout(TIMEOUT_SERVE_POINT_MS), options)
  }

  /**
   * Writes disks of point `pointId` of the relationship `name` names into
   * raw image files (core's materializePoint: every block verified, each
   * file written beside and renamed into place, so it is absent or
   * complete), for a failover that runs no VM here (docs/failover.md
   * "Unplanned failover"). The point is pinned and the store held meanwhile.
   * `onProgress` counts bytes over all the disks. A file already in place
   * is replaced. Throws what servePoint throws, CORE_ABORTED, and the
   * copy's errors (CORE_BLOCK_CORRUPT, CORE_WRITE_FAILED...).
   */
  async materializePoint (name: string, pointId: number, disks: ReadonlyArray<{ disk: string, out: string }>, options: { signal?: AbortSignal, onProgress?: (done: number, total: number) => void } = {}): Promise<void> {
    const { peer, relationship } = await this.resolve(name)
    const unpin = this.pins.pin(peer, relationship, pointId)
    try {
      const held = await this.sink.hold(peer, relationship, AbortSignal.timeout(TIMEOUT_SERVE_POINT_MS))
      try {
        const point = await held.store.getPoint(pointId).catch(err => { throw pointMissing(err, relationship, pointId) })
        const sizes = new Map(point.disks.map(d => [d.name, d.size]))
        const total = disks.reduce((n, d) => n + (sizes.get(d.disk) ?? 0), 0)
        let before = 0
        for (const d of disks) {
          await materializePoint(held.store, pointId, d.disk, d.out, {
            force: true,
            ...(options.signal === undefined ? {} : { signal: options.signal }),
            onProgress: p => { options.onProgress?.(before + p.done, total) }
          })
          before += sizes.get(d.disk) ?? 0
          options.onProgress?.(before, total)
        }
      } finally {
        await held.release()
      }
    } finally {
      unpin()
    }
  }

  /**
   * Drops every recovery point of the relationship `name` names but
   * `pointId` (and points still pinned), for a completed failover: its
   * point stays as the last point both boxes share, the base of a later
   * failback (docs/failover.md "Complete and cancel"). Only while the
   * record is failed over: no session of the old primary can commit or
   * prune meanwhile (the term rules refuse it). Resolves with the ids
   * dropped. Throws APP_RELATIONSHIP_NOT_FOUND, APP_INVALID_STATE (not
   * failed over), and the store's errors.
   */
  async keepOnlyPoint (name: string, pointId: number): Promise<number[]> {
    const held = this.replicaRecord(name)
    if (!FAILED_OVER_STATES.has(held.state)) throw new AppError(AppErrorCode.APP_INVALID_STATE, `${held.vm} is ${held.state}: only a failed-over relationship drops its other points`)
    const store = await this.sink.hold(held.peer, held.id, AbortSignal.timeout(TIMEOUT_SERVE_POINT_MS))
    try {
      const report = await pruneExcept(store.store, [pointId], { pinned: this.pins.pinned(held.peer, held.id) })
      return report.removedPoints
    } finally {
      await store.release()
    }
  }

  /**
   * The relationship a seed is for (docs/seeds.md): the one its origin
   * names, held here as Replica from the box that wrote it. Throws
   * APP_SEED_NO_ORIGIN (a bare store's seed) or APP_SEED_MISMATCH.
   */
  seedTarget (origin: { relationship: string, peer: string } | null): Relationship {
    if (origin === null) throw new AppError(AppErrorCode.APP_SEED_NO_ORIGIN, 'this seed was exported from a bare store and names no relationship: import it offline with tandem seed import FILE --store DIR')
    const rel = this.init.relationships.get(origin.relationship)
    if (rel === undefined || rel.role !== 'replica' || rel.peer !== origin.peer) {
      throw new AppError(AppErrorCode.APP_SEED_MISMATCH, `this seed is for relationship ${origin.relationship} of box ${origin.peer}, which this box does not hold as Replica: import it on that relationship's Replica`)
    }
    return rel
  }

  /** Imports a seed as the first point of `rel` (a job's work): every block verified, committed whole or not at all. */
  async importSeed (rel: Relationship, path: string, blockSize: number, ctx: JobContext): Promise<SeedImportResult> {
    const point = await this.sink.importSeed(rel.peer, rel.id, path, blockSize, { signal: ctx.signal, onProgress: p => { ctx.progress(p.done, p.total) } })
    return { relationship: rel.id, vm: rel.vm, peer: rel.peer, point: pointInfo(point) }
  }

  async events (request: EventsRequest = {}): Promise<EventsResult> {
    const last = request.last ?? DEFAULT_EVENTS_SHOWN
    if (!Number.isSafeInteger(last) || last < 1 || last > MAX_EVENTS_SHOWN) throw new AppError(AppErrorCode.APP_USAGE, `last must be a whole number from 1 to ${MAX_EVENTS_SHOWN}`)
    const name = request.name
    if (name !== undefined && !DISK_NAME_PATTERN.test(name)) throw new AppError(AppErrorCode.APP_USAGE, `${name.slice(0, 80)} is not a VM name or relationship id`)
    const after = request.after
    if (after !== undefined && (!Number.isSafeInteger(after) || after < 0)) throw new AppError(AppErrorCode.APP_USAGE, 'after must be a whole number, 0 or more')
    const named = (events: LogEvent[]): LogEvent[] => name === undefined ? events : events.filter(e => e.relationship === name || e.vm === name)
    const cursor = request.cursor
    if (cursor !== undefined) {
      if (after !== undefined) throw new AppError(AppErrorCode.APP_USAGE, 'give after or cursor, not both')
      if (typeof cursor !== 'string' || !isEventCursor(cursor)) throw new AppError(AppErrorCode.APP_USAGE, 'cursor is not one an answer of the event log gave')
      // a live reader asks every second: only what was appended after the cursor is read
      const read = await this.init.events.readAfter(cursor, last)
      return { events: named(read.events).map(eventInfo), problems: read.problems.length, cursor: read.cursor, more: read.more, reset: read.reset }
    }
    const read = await this.init.events.read(after === undefined ? {} : { after })
    const matching = named(read.events)
    return { events: (after === undefined ? matching.slice(-last) : matching.slice(0, last)).map(eventInfo), problems: read.problems.length, cursor: read.cursor, more: false, reset: false }
  }

  /** The relationships held here as Replica; `failoverOf` adds what the failover workflows know of each. */
  async status (failoverOf?: (r: Relationship) => Promise<ReplicaFailoverStatus>): Promise<ReplicaStatusInfo[]> {
    const now = this.init.now()
    const held = this.init.relationships.list().filter(r => r.role === 'replica')
    return await Promise.all(held.map(async r => replicaStatusOf(r, now, failoverOf === undefined ? NO_FAILOVER : await failoverOf(r))))
  }

  /**
   * The store `name` names: a relationship held here as Replica (by VM name,
   * then id), else the kept store of a removed one (`RELATIONSHIP`, or
   * `PEER/RELATIONSHIP` when several peers' are kept).
   */
  private async resolve (name: string): Promise<{ peer: string, relationship: string, rel: Relationship | undefined }> {
    const [first, second, ...more] = name.split('/')
    const valid = (s: string | undefined): s is string => s !== undefined && DISK_NAME_PATTERN.test(s)
    if (!valid(first) || more.length > 0 || (second !== undefined && !valid(second))) {
      throw new AppError(AppErrorCode.APP_USAGE, `${name.slice(0, 80)} is not a VM name, a relationship id, or PEER/RELATIONSHIP`)
    }
    const { relationships } = this.init
    if (second === undefined) {
      const rel = relationships.byVm(first) ?? relationships.get(first)
      if (rel?.role === 'primary') throw notFound(`this box is the primary of ${rel.vm}; its recovery points are on the Replica (${rel.peer}): run \`tandem points ${rel.vm}\` there`)
      if (rel !== undefined) return { peer: rel.peer, relationship: rel.id, rel }
    } else {
      const rel = relationships.get(second)
      if (rel?.role === 'replica' && rel.peer === first) return { peer: first, relationship: second, rel }
    }
    const peers = (await this.keptPeers(second ?? first)).filter(p => second === undefined || p === first)
    if (peers.length === 1) return { peer: peers[0]!, relationship: second ?? first, rel: undefined }
    if (peers.length > 1) throw new AppError(AppErrorCode.APP_USAGE, `points of ${first} are kept for several primaries: name one as PEER/${first} (${peers.join(', ')})`)
    throw notFound(`this box holds no relationship ${name} as Replica, and keeps no points under that name`)
  }

  /** The peers under DATA/store/ that have a store directory for relationship `id`. */
  private async keptPeers (id: string): Promise<string[]> {
    const peers = await readdir(this.init.storeDir).catch(() => [] as string[])
    const out: string[] = []
    for (const p of peers.sort()) if (await isDirectory(join(this.init.storeDir, p, id, 'index'))) out.push(p)
    return out
  }
}

function pointMissing (err: unknown, relationship: string, pointId: number): unknown {
  if ((err as { code?: unknown }).code !== CoreErrorCode.CORE_POINT_NOT_FOUND) return err
  return new AppError(AppErrorCode.APP_POINT_NOT_FOUND, `${relationship} has no recovery point ${pointId} on this box (never received, or pruned)`, { cause: err })
}

function notFound (message: string): AppError {
  return new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, message)
}

/** What the failover workflows add to a Replica relationship's status (appliance/failover/): none by default. */
export type ReplicaFailoverStatus = Pick<ReplicaStatusInfo, 'test' | 'lastProvenPoint' | 'drill' | 'failover'>

const NO_FAILOVER: ReplicaFailoverStatus = { test: null, lastProvenPoint: null, drill: null, failover: null }

/**
 * Pure: a Replica relationship as replicaStatus shows it (`replication
 * status` lists these after the box's own primary relationships). Its
 * health comes from the record alone: the cycle records are the primary's.
 * `failover` is its running test, last proven point and drill settings.
 */
export function replicaStatusOf (r: Relationship, now: number, failover: ReplicaFailoverStatus = NO_FAILOVER): ReplicaStatusInfo {
  const vm = r.protectedVm
  const h = health(r, [], now)
  return {
    relationship: r.id,
    vm: r.vm,
    role: 'replica',
    peer: r.peer,
    term: r.term,
    state: r.state,
    reason: r.reason,
    health: h.level,
    healthRule: h.rule,
    healthReason: h.reason,
    recoveryPoints: r.settings.recoveryPoints,
    frequency: r.settings.frequency,
    lastPointTime: r.lastPointAt === undefined ? null : isoTime(r.lastPointAt),
    lastReplicationTime: r.lastReplicationAt === undefined ? null : isoTime(r.lastReplicationAt),
    achievedRpoMs: r.lastPointAt === undefined ? null : Math.max(0, now - r.lastPointAt),
    vmShape: vm === undefined ? null : { driver: vm.driver, vcpus: vm.vcpus, memoryMiB: vm.memoryMiB, disks: vm.disks.map(d => ({ ...d })) },
    test: failover.test,
    lastProvenPoint: failover.lastProvenPoint,
    drill: failover.drill,
    failover: failover.failover
  }
}

function pointInfo (p: RecoveryPoint): PointInfo {
  return {
    id: p.id,
    time: isoTime(p.time),
    consistency: p.consistency,
    ...(p.consistencyNote === undefined ? {} : { consistencyNote: p.consistencyNote }),
    size: p.disks.reduce((n, d) => n + d.size, 0),
    term: p.term ?? 0,
    root: p.root,
    disks: p.disks.map(d => ({ name: d.name, size: d.size }))
  }
}

function eventInfo (e: LogEvent): EventInfo {
  const { seq, time, ...rest } = e
  return { seq, time: isoTime(time), ...rest }
}
