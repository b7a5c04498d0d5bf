import { mkdir } from 'node:fs/promises'
import { isAbsolute } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createTandemNode, loadOrCreateIdentity, type TandemNode } from '../../p2p/node/index.ts'
import { PairingHost, joinPairing, type JoinSecret, type PairedPeer } from '../../p2p/pairing/pairing-service.ts'
import { PairingWindow, decodeInvite, encodeInvite } from '../../p2p/pairing/window.ts'
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
import type { RelationshipPrimary } from '../../p2p/relationship/index.ts'
import { ReplicationReceiver, type SessionEvent } from '../../p2p/replication/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { PeerRegistry, registryPolicy, unpair } from '../peers/index.ts'
import { ManualVmDriver, QemuVmDriver, type VmDriver } from '../drivers/index.ts'
import { DrillBook, Drills, Failovers, TestFailovers } from '../failover/index.ts'
import { Demotion } from '../failover/demotion.ts'
import { PlannedFailovers } from '../failover/planned.ts'
import { Reversals } from '../failover/reversal.ts'
import { SalvageBook } from '../failover/salvage-book.ts'
import { Salvages } from '../failover/salvages.ts'
import { DEFAULT_BLOCK_SIZE } from '../../core/constants.ts'
import type { DriverKind } from '../inventory/index.ts'
import { VmInventory } from '../inventory/index.ts'
import { RelationshipTable } from '../relationships/index.ts'
import { EventLog } from '../events/index.ts'
import { JobRegistry } from '../jobs/index.ts'
import { readSeedHeader } from '../../core/seed/index.ts'
import { Scheduler } from '../scheduler/index.ts'
import type { Clock } from '../scheduler/clock.ts'
import type {
  ReplicationEnableRequest, ReplicationInfo, ReplicationMeasureInfo, ReplicationRemoveResult, ReplicationUpdateRequest
} from '../service/replication-types.ts'
import type {
  DrillRequest, DrillScheduleRequest, DrillScreenshot, DrillSettingsInfo, TestFailoverInfo, TestPlanInfo, TestPlanRequest, TestStartRequest, TestStopPlanInfo, TestStopResult,
  CompleteRequest, FailoverCancelResult, FailoverPlanInfo, FailoverPlanRequest, UnplannedRequest,
  ReversePlanInfo, ReverseRequest, PlannedPlanInfo, PlannedPlanRequest, PlannedRequest, SalvageDeleteRequest, SalvageDeleteResult, SalvageInfo, SalvageRestoreRequest, SettingsInfo, SettingsUpdateRequest,
  JobInfo, SeedExportRequest, SeedImportRequest,
  ApplianceService, VmAddRequest, VmInfo, VmRemoveResult, VmStopRequest, EventsRequest, EventsResult, PointsResult, ReplicaStatusInfo, PairJoinRequest, PairJoinResult, PairOpenRequest, PairOpenResult, PairRemoveResult, PairStatusInfo, PeerInfo, StatusInfo, WebStatusInfo
} from '../service/index.ts'
import {
  failoverPlanSummary, plannedPlanSummary, reversePlanSummary, testPlanSummary, testStopPlanSummary, withSummary
} from '../service/plan-summary.ts'
import { collectGarbage } from './collect-garbage.ts'
import { requireConfig, type Config } from './config.ts'
import { PairingStatus } from './pairing-status.ts'
import { BoxSettings } from './box-settings.ts'
import {
  MAX_INVITE_ADDRESS_CHARS, MAX_INVITE_ADDRESSES, MAX_PAIRING_TTL_MS, MIN_PAIRING_TTL_MS, TIMEOUT_STORES_CLOSE_MS
} from './constants.ts'
import { DataLock } from './data-lock.ts'
import { dataLayout, type DataLayout } from './data-dir.ts'
import { createLogger, logLevel, type Logger } from './logger.ts'
import { ReplicaSide } from './replica-side.ts'
import { PrimaryReplication } from './replication.ts'
import { VmControl } from './vms.ts'

export interface ApplianceInit {
  /** The data directory (made absolute); it must hold a config.json (`tandem init`). */
  dataDir: string
  /** Where the logs go (one JSON object per line); default stdout. */
  log?: NodeJS.WritableStream
  /** Reported by status(). */
  version?: string
  now?: () => number
  /** Told of every replication session's end on the Replica side, after it is logged (benchmarks and tests watch sessions with it). */
  onReplicationSession?: (session: SessionEvent) => void
  /** The drill schedule's clock (the system's by default; tests drive one by hand). */
  clock?: Clock
  /**
   * The web server's part of status() (the composition root reads it from
   * web/, which appliance/ does not know), asked at every status(); default:
   * null. A failure is logged and shown as null: status never fails for it.
   */
  webStatus?: () => Promise<WebStatusInfo | null>
}

const isoTime = (ms: number): string => new Date(ms).toISOString()

/**
 * The daemon: one per data directory, composing the parts of a box and
 * serving the ApplianceService.
 *
 * start() brings the parts up in this order, each needing the ones before:
 *   1. config.json (defaults filled in; APP_DATA_NOT_INITIALIZED without one)
 *   2. the data directory's lock (APP_DAEMON_RUNNING when another daemon holds it)
 *   3. the identity (the peer id other boxes trust)
 *   4. the peers file (who is paired), the VM inventory, the relationships
 *      and the event log (work a crash interrupted is closed as interrupted)
 *   5. the Replica's stores (`store/`, each opened by the sink while a
 *      session or a served point needs it), the point server (`exports/`
 *      emptied of a crash's sockets; points are served only on request:
 *      docs/failover.md), and the VM drivers; the qemu VMs of the
 *      inventory are found again (or reported crashed) before anything may
 *      cycle them; the test failovers (what a killed daemon left under
 *      `failover/` is stopped and removed: docs/failover.md)
 *   6. the libp2p node, listening, with the admission gater: paired peers,
 *      plus strangers while a pairing window is open, capped at
 *      MAX_UNPAIRED_CONNECTIONS
 *   7. the pairing host (answers the pairing protocol while a window is open)
 *   8. the replication receiver (paired peers replicate into the stores),
 *      then the relationship receiver (paired primaries tell what they
 *      protect here: ReplicaSide; paired Replicas tell of a failover: the
 *      primary's replication, step 9)
 *   9. the scheduler, then the primary's replication (replication.ts):
 *      a schedule per relationship this box is the primary of, each where
 *      it stood (a cycle a stop or crash cut short resumes); the jobs;
 *      then the drills and their schedule (`drills/`); then the unplanned
 *      failovers (`failover/<relationship>/failover.json`: each carried on, its point
 *      served again, its VM running, its copy followed: docs/failover.md)
 * The local API around it is started last by the composition root (bin/).
 * stop() takes them down in the reverse order (the drivers let go of
 * their VMs without stopping them), so nothing is reached after
 * the part it needs is gone: no stream arrives once the receiver and the
 * node are stopped, the gater and node are closed before the stores, and
 * every served point is closed (its clients cut off, its store share and
 * pin released) before the stores close; the drills' schedule stops before
 * the jobs (a drill in progress is cancelled: its VM stopped), and the test
 * VMs are stopped before the servings they boot from close. A start() that fails stops what
 * it had started, in the same reverse order.
 */
export class Appliance implements ApplianceService {
  readonly layout: DataLayout
  readonly config: Config
  /** config.json's settings as the web page changes them (SettingsApi). */
  private readonly boxSettings: BoxSettings
  readonly logger: Logger
  readonly node: TandemNode
  readonly registry: PeerRegistry
  readonly host: PairingHost
  /** The last pairing window and pairing, for pairStatus(). */
  readonly pairing: PairingStatus
  /** The VMs this box knows (vms.json). */
  readonly inventory: VmInventory
  /** This box's relationships, as primary and as Replica (relationships.json). */
  readonly relationships: RelationshipTable
  readonly events: EventLog
  /** The driver of each kind; a VM's entry in the inventory names its kind. */
  readonly drivers: Readonly<Record<DriverKind, VmDriver>>
  readonly scheduler: Scheduler
  /** What paired primaries protect here: their relationship records, stores, retention and pins. */
  readonly replica: ReplicaSide
  /** This box's replication as a primary (replication.ts). */
  readonly replication: PrimaryReplication
  /** The VMs through their drivers (daemon/vms.ts). */
  readonly vms: VmControl
  /** Long work run for the operator: seed exports and imports, drills. */
  readonly jobRegistry: JobRegistry
  /** Test failovers on this box as Replica (appliance/failover/). */
  readonly tests: TestFailovers
  /** Drills, their proofs and schedule. */
  readonly drills: Drills
  /** Unplanned failovers on this box as Replica, their completion and cancel. */
  readonly failovers: Failovers
  /** Reverse replication on the box that failed over (appliance/failover/reversal.ts). */
  readonly reversals: Reversals
  /** Planned failover on the primary (appliance/failover/planned.ts). */
  readonly planned: PlannedFailovers
  /** An old primary becoming the Replica: its VM stopped, its disks kept as a salvage copy (appliance/failover/demotion.ts). */
  readonly demotion: Demotion
  /** Salvage copies: list, restore, delete. */
  readonly salvages: Salvages
  private readonly version: string
  private readonly webStatus: () => Promise<WebStatusInfo | null>
  private readonly now: () => number
  private readonly startedAt: number
  /** The started parts' stops, in start order; stop() runs them backwards. */
  private readonly stops: Array<{ part: string, stop: () => Promise<void> }>
  private stopping: Promise<void> | undefined

  private constructor (fields: {
    layout: DataLayout, config: Config, logger: Logger, node: TandemNode, registry: PeerRegistry, host: PairingHost, pairing: PairingStatus,
    inventory: VmInventory, relationships: RelationshipTable, events: EventLog, drivers: Record<DriverKind, VmDriver>, scheduler: Scheduler,
    replica: ReplicaSide, replication: PrimaryReplication, vms: VmControl, jobs: JobRegistry, tests: TestFailovers, drills: Drills, failovers: Failovers,
    reversals: Reversals, planned: PlannedFailovers, demotion: Demotion, salvages: Salvages,
    version: string, webStatus: () => Promise<WebStatusInfo | null>, now: () => number, stops: Array<{ part: string, stop: () => Promise<void> }>
  }) {
    this.layout = fields.layout
    this.config = fields.config
    this.boxSettings = new BoxSettings(fields.layout.config, fields.config)
    this.logger = fields.logger
    this.node = fields.node
    this.registry = fields.registry
    this.host = fields.host
    this.pairing = fields.pairing
    this.inventory = fields.inventory
    this.relationships = fields.relationships
    this.events = fields.events
    this.drivers = fields.drivers
    this.scheduler = fields.scheduler
    this.replica = fields.replica
    this.replication = fields.replication
    this.vms = fields.vms
    this.jobRegistry = fields.jobs
    this.tests = fields.tests
    this.drills = fields.drills
    this.failovers = fields.failovers
    this.reversals = fields.reversals
    this.planned = fields.planned
    this.demotion = fields.demotion
    this.salvages = fields.salvages
    this.version = fields.version
    this.webStatus = fields.webStatus
    this.now = fields.now
    this.stops = fields.stops
    this.startedAt = fields.now()
  }

  /** Starts a daemon on `init.dataDir` (see the class comment for the order). */
  static async start (init: ApplianceInit): Promise<Appliance> {
    const now = init.now ?? Date.now
    const layout = dataLayout(init.dataDir)
    const config = await requireConfig(layout.config)
    const logger = createLogger(logLevel(config.logLevel), init.log)
    const stops: Array<{ part: string, stop: () => Promise<void> }> = []
    try {
      const lock = await DataLock.take(layout.lock)
      stops.push({ part: 'lock', stop: async () => { await lock.release() } })
      const privateKey = await loadOrCreateIdentity(layout.identity)
      const registry = await PeerRegistry.open(layout.peers)
      const inventory = await VmInventory.open(layout.vms)
      const relationships = await RelationshipTable.open(layout.relationships)
      const events = await EventLog.open(layout.events, { now })
      stops.push({ part: 'events', stop: async () => { await events.close() } })
      if (events.recovery.interrupted.length > 0) logger.warn({ interrupted: events.recovery.interrupted.length }, 'event log: work a stop or crash interrupted was closed as interrupted')
      await mkdir(layout.store, { recursive: true, mode: 0o700 })
      await mkdir(layout.vmRuns, { recursive: true, mode: 0o700 })
      await mkdir(layout.primary, { recursive: true, mode: 0o700 })
      const qemu = new QemuVmDriver({ dir: layout.vmRuns })
      const drivers: Record<DriverKind, VmDriver> = { qemu, manual: new ManualVmDriver() }
      const vms = new VmControl({ inventory, relationships, events, drivers, logger, vmRuns: layout.vmRuns, now })
      // stopping lets go of the VMs without stopping them: they run on, and the next start adopts them
      stops.push({ part: 'vms', stop: async () => { vms.release() } })
      await vms.adoptAll()
      const book = new SalvageBook(layout.salvage)
      for (const problem of await book.open()) logger.error({ err: problem.err, file: problem.file }, 'a salvage record cannot be read: left as it is')
      // Late-bound: the demotion is built once the stores are, and asks the sessions of a copy not written yet to wait.
      let demotion: Demotion | undefined
      const replica = new ReplicaSide({
        storeDir: layout.store,
        exportsDir: layout.exports,
        relationships,
        events,
        inventory,
        logger,
        now,
        kept: (peer, id) => book.pinned(peer, id),
        holdBack: (peer, id) => demotion?.busy(peer, id),
        idle: collectGarbage,
        peerName: peerId => registry.get(peerId)?.name
      })
      const sink = replica.sink
      stops.push({ part: 'stores', stop: async () => { await sink.close(AbortSignal.timeout(TIMEOUT_STORES_CLOSE_MS)) } })
      // An old primary becoming the Replica (the `reverse` request, below): it leaves its primary's
      // replication (built below) and keeps its disks as a point of the store first.
      let primaryReplication: PrimaryReplication | undefined
      const demote = new Demotion({
        relationships,
        inventory,
        drivers,
        vms,
        sink,
        book,
        pinned: (peer, id) => [...replica.pins.pinned(peer, id), ...book.pinned(peer, id)],
        primaryDir: layout.primary,
        leavePrimary: async id => { await primaryReplication?.leave(id) },
        peerName: peer => registry.list().find(p => p.peerId === peer)?.name ?? peer,
        events,
        logger,
        now,
        blockSize: DEFAULT_BLOCK_SIZE
      })
      demotion = demote
      // Copies a stop or crash cut short are written again under their store's lock, before any session gets in.
      await demote.start()
      stops.push({ part: 'salvage copies', stop: async () => { await demote.stop() } })
      // Servings hold stores: they stop before the stores close. Starting empties DATA/exports/ (a crash's sockets).
      await replica.pointServer.start()
      stops.push({ part: 'point servings', stop: async () => { await replica.pointServer.stop() } })
      // Test VMs run on servings: they stop first. Starting stops and removes what a killed daemon left.
      const tests = new TestFailovers({ dir: layout.failover, relationships, replica, inventory, driver: qemu.driver, events, logger, now })
      await tests.start()
      stops.push({ part: 'test failovers', stop: async () => { await tests.stop() } })
      let host: PairingHost | undefined
      const pairing = new PairingStatus()
      const policy = registryPolicy(registry, () => host?.window?.isOpen(now()) === true)
      const node = await createTandemNode({ privateKey, listen: config.listen, policy })
      stops.push({ part: 'node', stop: async () => { await node.stop() } })
      try {
        await node.start()
      } catch (err) {
        // libp2p names the addresses and the system's reason (EADDRINUSE...) in its message.
        throw new AppError(AppErrorCode.APP_LISTEN_FAILED, `cannot listen on ${config.listen.join(', ')}: ${(err as Error).message.replace(/\n\s+at [^\n]*/g, '').trim()}`, { cause: err })
      }
      host = new PairingHost({
        node,
        me: { name: config.name, role: config.role },
        store: registry,
        policy,
        now,
        onPaired: p => {
          pairing.paired('host', p, p.confirmationCode)
          logger.info({ peerId: p.peerId, name: p.name, role: p.role, confirmationCode: p.confirmationCode }, 'paired: a box joined; compare the confirmation code with the one it shows')
        },
        onAttemptEnded: outcome => { logger.info({ outcome }, 'pairing attempt ended') },
        onWindowClosed: closed => { logger.info({ closedConnections: closed }, 'pairing window closed') }
      })
      const pairingHost = host
      await pairingHost.start()
      stops.push({ part: 'pairing', stop: async () => { pairingHost.cancelWindow(); await pairingHost.stop() } })
      const receiver = new ReplicationReceiver({
        node,
        policy,
        sink,
        ...(config.maxCycleBytes === null ? {} : { maxCycleBytes: config.maxCycleBytes }),
        onSession: e => {
          logger.info({ peer: e.peer, relationship: e.relationship, outcome: e.outcome, receivedBytes: e.receivedBytes, root: e.root, err: e.cause }, 'replication session ended')
          init.onReplicationSession?.(e)
        }
      })
      await receiver.start()
      stops.push({ part: 'receiver', stop: async () => { await receiver.stop() } })
      // Replicas' failover notices go to the primary's replication, built below; one that comes before
      // is refused as a failure (P2P_RELATIONSHIP_FAILED), and the term check tells this box instead.
      const primary: RelationshipPrimary = {
        failedOver: async (peer, notice, signal) => {
          if (primaryReplication === undefined) throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_FAILED, 'the daemon is starting')
          await primaryReplication.failedOver(peer, notice, signal)
        },
        reverse: async (peer, reversal, signal) => {
          if (primaryReplication === undefined) throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_FAILED, 'the daemon is starting')
          await demote.reverse(peer, reversal, signal)
        }
      }
      // Planned failovers reach the failovers, built below; one that comes before is refused (the primary sends it again).
      let failoversLate: Failovers | undefined
      await replica.startReceiver(node, policy, primary, {
        plannedFailover: async (peer, request, signal) => {
          if (failoversLate === undefined) throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_FAILED, 'the daemon is starting')
          await failoversLate.plannedFailover(peer, request, signal)
        }
      })
      stops.push({ part: 'relationship receiver', stop: async () => { await replica.stopReceiver() } })
      const scheduler = new Scheduler()
      scheduler.start()
      stops.push({ part: 'scheduler', stop: async () => { await scheduler.stop() } })
      const jobs = new JobRegistry({ events, now })
      const replication = new PrimaryReplication({
        node, registry, inventory, relationships, events, drivers, scheduler, jobs, primaryDir: layout.primary, logger, now,
        termLost: id => { demote.prepare(id) },
        termLossEnded: async id => { await demote.unprepare(id) },
        sharedManifests: async (rel, signal) => await replica.sharedManifests(rel.peer, rel.id, signal)
      })
      primaryReplication = replication
      stops.push({ part: 'replication', stop: async () => { await replication.stop() } })
      await replication.start()
      // Jobs end before the parts they use (the replication's scan pool, the stores, the test failovers).
      stops.push({ part: 'jobs', stop: async () => { await jobs.stop() } })
      const drills = new Drills({ tests, book: new DrillBook(layout.drills), jobs, driver: qemu.driver, events, logger, ...(init.clock === undefined ? {} : { clock: init.clock }) })
      await drills.start()
      // The schedule stops before the jobs, so it starts none while they are cancelled.
      stops.push({ part: 'drills', stop: async () => { await drills.stop() } })
      // Unplanned failovers: what a stop or crash left is carried on (its point served again, its VM
      // running, its copy followed); stopping leaves their VMs running and their copies to the next start.
      let reversalsLate: Reversals | undefined
      const failovers = new Failovers({
        dir: layout.failover,
        vmRuns: layout.vmRuns,
        exportsDir: layout.exports,
        relationships,
        replica,
        inventory,
        vms,
        driver: qemu.driver,
        tracking: qemu,
        events,
        logger,
        now,
        jobs,
        tests,
        reverse: async (id, signal) => {
          if (reversalsLate === undefined) throw new AppError(AppErrorCode.APP_INVALID_STATE, 'the daemon is starting')
          return await reversalsLate.reverseNow(id, signal)
        }
      })
      failoversLate = failovers
      await failovers.start()
      stops.push({ part: 'failovers', stop: async () => { await failovers.stop() } })
      const peerName = (peer: string): string => registry.list().find(p => p.peerId === peer)?.name ?? peer
      const reversals = new Reversals({
        node,
        relationships,
        inventory,
        replica,
        primary: replication,
        jobs,
        busy: id => tests.running(id) ? `a test failover of ${id} runs: stop it first (tandem failover stop-test ${id})` : undefined,
        peerName,
        events,
        logger,
        now
      })
      reversalsLate = reversals
      const planned = new PlannedFailovers({ node, relationships, inventory, drivers, vms, primary: replication, jobs, peerName, events, logger, now })
      const salvages = new Salvages({ book, materialize: async (name, point, disks, options) => { await replica.materializePoint(name, point, disks, options) }, jobs, events })
      const appliance = new Appliance({
        layout, config, logger, node, registry, host: pairingHost, pairing, inventory, relationships, events, drivers, scheduler, replica, replication, vms, jobs, tests, drills, failovers,
        reversals, planned, demotion: demote, salvages,
        version: init.version ?? '0.0.0', webStatus: init.webStatus ?? (async () => null), now, stops
      })
      logger.info({ dataDir: layout.dir, peerId: node.peerId.toString(), addresses: node.getMultiaddrs().map(String) }, 'daemon started')
      return appliance
    } catch (err) {
      logger.error({ err }, 'daemon failed to start')
      await runStops(stops, logger)
      throw err
    }
  }

  /** Stops every part in the reverse order of start. Idempotent; concurrent calls share one stop. */
  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('daemon stopping')
      await runStops(this.stops, this.logger)
      this.logger.info('daemon stopped')
    })()
    await this.stopping
  }

  async status (): Promise<StatusInfo> {
    const window = this.host.window
    const open = window?.isOpen(this.now()) === true
    return {
      state: 'running',
      name: this.config.name,
      peerId: this.node.peerId.toString(),
      role: this.config.role,
      dataDir: this.layout.dir,
      listen: [...this.config.listen],
      addresses: this.node.getMultiaddrs().map(String),
      api: this.layout.socket,
      httpsApi: this.config.api,
      web: await this.webStatus().catch((err: unknown) => {
        this.logger.warn({ err }, 'status: the web server\'s part could not be read')
        return null
      }),
      peers: this.registry.list().length,
      connectedPeers: this.registry.list().filter(p => this.connected(p.peerId)).length,
      pairing: { open, expiresAt: open ? isoTime(window!.invite.expiresAt) : null },
      version: this.version,
      startedAt: isoTime(this.startedAt),
      pid: process.pid
    }
  }

  async pairOpen (request: PairOpenRequest = {}): Promise<PairOpenResult> {
    const ttl = request.ttl
    if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl < MIN_PAIRING_TTL_MS || ttl > MAX_PAIRING_TTL_MS)) {
      throw new AppError(AppErrorCode.APP_USAGE, `the pairing window must last ${MIN_PAIRING_TTL_MS} ms to ${MAX_PAIRING_TTL_MS} ms`)
    }
    const addresses = this.node.getMultiaddrs().map(String).filter(a => a.length <= MAX_INVITE_ADDRESS_CHARS).slice(0, MAX_INVITE_ADDRESSES)
    const mode = request.mode ?? 'both'
    const accepts = mode === 'invite' ? 'qr' : mode
    const window = PairingWindow.open({ peerId: this.node.peerId.toString(), addresses, now: this.now(), accepts, ...(ttl === undefined ? {} : { durationMs: ttl }) })
    this.host.window = window
    this.pairing.opened(window)
    this.logger.info({ mode, expiresAt: isoTime(window.invite.expiresAt) }, 'pairing window opened')
    return {
      mode,
      pin: window.accepts('pin') ? window.pin : null,
      invite: window.accepts('qr') ? encodeInvite(window.invite) : null,
      addresses,
      expiresAt: isoTime(window.invite.expiresAt)
    }
  }

  async pairJoin (request: PairJoinRequest): Promise<PairJoinResult> {
    const { targets, secret } = joinTargets(request)
    const me = { name: this.config.name, role: this.config.role }
    let failure: unknown
    for (const address of targets) {
      this.logger.info({ address: address.toString(), with: 'invite' in secret ? 'invite' : 'pin' }, 'pairing: joining')
      try {
        const joined = await joinPairing(this.node, address, secret, me, this.registry, this.now)
        this.pairing.paired('joiner', joined, joined.confirmationCode)
        this.logger.info({ peerId: joined.peerId, name: joined.name, confirmationCode: joined.confirmationCode }, 'paired: joined a box; compare the confirmation code with the one it shows')
        return { peer: this.peerInfo(joined), confirmationCode: joined.confirmationCode }
      } catch (err) {
        this.logger.warn({ address: address.toString(), code: (err as { code?: unknown }).code }, 'pairing: join failed')
        failure = err
        // Another address of the invite may answer; any other failure is final.
        if ((err as { code?: unknown }).code !== P2pErrorCode.P2P_PAIRING_UNREACHABLE) break
      }
    }
    throw failure
  }

  async pairStatus (): Promise<PairStatusInfo> {
    return this.pairing.info(this.now())
  }

  async pairList (): Promise<PeerInfo[]> {
    return this.registry.list().map(p => this.peerInfo(p))
  }

  async pairRemove (peerId: string): Promise<PairRemoveResult> {
    if (!this.registry.isPaired(peerId)) throw new AppError(AppErrorCode.APP_PEER_NOT_FOUND, `${peerId} is not paired with this box`)
    await unpair(this.node, this.registry, peerId)
    this.logger.info({ peerId }, 'unpaired')
    return { peerId, removed: true }
  }

  async points (name: string): Promise<PointsResult> {
    const result = await this.replica.points(name)
    return { ...result, points: await this.drills.withProofs(result.relationship, result.points) }
  }

  async listEvents (request?: EventsRequest): Promise<EventsResult> {
    return await this.replica.events(request)
  }

  async replicaStatus (): Promise<ReplicaStatusInfo[]> {
    return await this.replica.status(async r => ({ test: this.tests.info(r.id), failover: this.failovers.info(r.id), ...await this.drills.statusOf(r) }))
  }

  async failoverTest (name: string, request: TestStartRequest = {}): Promise<TestFailoverInfo> {
    const test = await this.tests.startTest(name, request)
    return this.tests.info(test.relationship)!
  }

  async failoverTestPlan (name: string, request: TestPlanRequest = {}): Promise<TestPlanInfo> { return withSummary(await this.drills.plan(name, request), testPlanSummary) }
  async failoverStopTest (name: string): Promise<TestStopResult> { return await this.tests.stopTest(name) }
  async failoverStopTestPlan (name: string): Promise<TestStopPlanInfo> { return withSummary(this.tests.stopPlan(name), testStopPlanSummary) }
  async failoverTests (): Promise<TestFailoverInfo[]> { return this.tests.list() }
  async failoverDrill (name: string, request: DrillRequest = {}): Promise<JobInfo> { return await this.drills.drill(name, request) }
  async failoverDrillSchedule (name: string, request: DrillScheduleRequest): Promise<DrillSettingsInfo> { return await this.drills.schedule(name, request) }
  async drillScreenshot (name: string, file: string): Promise<DrillScreenshot> { return await this.drills.screenshot(name, file) }
  async failoverUnplanned (name: string, request: UnplannedRequest = {}): Promise<JobInfo> { return await this.failovers.unplanned(name, request) }
  async failoverPlan (name: string, request: FailoverPlanRequest): Promise<FailoverPlanInfo> { return withSummary(await this.failovers.plan(name, request), failoverPlanSummary) }
  async failoverComplete (name: string, request: CompleteRequest = {}): Promise<JobInfo> { return await this.failovers.complete(name, request) }
  async failoverCancel (name: string): Promise<FailoverCancelResult> { return this.planned.isPrimary(name) ? await this.planned.cancel(name) : await this.failovers.cancel(name) }
  async failoverPlanned (name: string, request: PlannedRequest = {}): Promise<JobInfo> { return await this.planned.planned(name, request) }
  async failoverPlannedPlan (name: string, request: PlannedPlanRequest = {}): Promise<PlannedPlanInfo> { return withSummary(await this.planned.plan(name, request), plannedPlanSummary) }

  async replicationEnable (name: string, request: ReplicationEnableRequest): Promise<ReplicationInfo> { return await this.replication.enable(name, request) }
  async replicationUpdate (name: string, request: ReplicationUpdateRequest): Promise<ReplicationInfo> { return await this.replication.update(name, request) }
  async replicationStatus (name?: string): Promise<ReplicationInfo[]> { return await this.replication.status(name) }
  async replicationMeasure (name: string): Promise<ReplicationMeasureInfo> { return await this.replication.measure(name) }
  async replicationSuspend (name: string): Promise<ReplicationInfo> { return await this.replication.suspend(name) }
  async replicationResume (name: string): Promise<ReplicationInfo> { return await this.replication.resume(name) }
  async replicationResync (name: string): Promise<ReplicationInfo> { return await this.replication.resync(name) }
  async replicationRemove (name: string): Promise<ReplicationRemoveResult> { return await this.replication.remove(name) }
  async replicationReverse (name: string, request: ReverseRequest = {}): Promise<JobInfo> { return await this.reversals.reverse(name, request) }
  async replicationReversePlan (name: string, request: ReverseRequest = {}): Promise<ReversePlanInfo> { return withSummary(await this.reversals.plan(name, request), reversePlanSummary) }

  async salvageList (name?: string): Promise<SalvageInfo[]> { return this.salvages.list(name) }
  async salvageRestore (id: string, request: SalvageRestoreRequest): Promise<JobInfo> { return await this.salvages.restore(id, request) }
  async salvageDelete (id: string, request: SalvageDeleteRequest = {}): Promise<SalvageDeleteResult> { return await this.salvages.delete(id, request) }

  async settings (): Promise<SettingsInfo> { return await this.boxSettings.get() }
  async settingsUpdate (request: SettingsUpdateRequest): Promise<SettingsInfo> { return await this.boxSettings.update(request) }

  async vmAdd (request: VmAddRequest): Promise<VmInfo> { return await this.vms.add(request) }
  async vmList (): Promise<VmInfo[]> { return await this.vms.list() }
  async vmStart (name: string): Promise<VmInfo> { return await this.vms.start(name) }
  async vmStop (name: string, request: VmStopRequest = {}): Promise<VmInfo> { return await this.vms.stop(name, request) }
  async vmRemove (name: string): Promise<VmRemoveResult> { return await this.vms.remove(name) }

  async seedExport (name: string, request: SeedExportRequest): Promise<JobInfo> { return await this.replication.seedExport(name, request) }

  async seedImport (request: SeedImportRequest): Promise<JobInfo> {
    if (!isAbsolute(request.from) || request.from.includes('\0')) throw new AppError(AppErrorCode.APP_USAGE, `${request.from.slice(0, 200)} is not an absolute path`)
    // The header is read before the job starts: a file that is not a seed, or one for another box, is refused at once.
    const header = await readSeedHeader(request.from)
    const rel = this.replica.seedTarget(header.origin)
    if (this.jobRegistry.running('seed-import', rel.vm) !== undefined) throw new AppError(AppErrorCode.APP_INVALID_STATE, `a seed import of ${rel.vm} is running`)
    return await this.jobRegistry.start({
      kind: 'seed-import',
      vm: rel.vm,
      relationship: rel.id,
      reason: `importing the seed ${request.from} as the first recovery point of ${rel.vm}`,
      work: async ctx => {
        const result = await this.replica.importSeed(rel, request.from, header.blockSize, ctx)
        return { result: { kind: 'seed-import', result }, reason: `seed imported as recovery point ${result.point.id} of ${rel.vm}: the primary's next cycle sends only what changed since`, data: { point: result.point.id } }
      }
    })
  }

  async job (id: string): Promise<JobInfo> { return this.jobRegistry.get(id) }
  async jobs (): Promise<JobInfo[]> { return this.jobRegistry.list() }
  async jobCancel (id: string): Promise<JobInfo> { return await this.jobRegistry.cancel(id) }

  private peerInfo (p: PairedPeer): PeerInfo {
    return { peerId: p.peerId, name: p.name, role: p.role, pairedAt: isoTime(p.pairedAt), connected: this.connected(p.peerId) }
  }

  private connected (peerId: string): boolean {
    return this.node.getConnections(peerIdFromString(peerId)).length > 0
  }
}

/** The addresses to dial and the secret, from a join request. Throws APP_USAGE or P2P_INVITE_INVALID. */
function joinTargets (request: PairJoinRequest): { targets: Multiaddr[], secret: JoinSecret } {
  if ('invite' in request) {
    const invite = decodeInvite(request.invite)
    if (invite.addresses.length === 0) throw new AppError(AppErrorCode.APP_USAGE, 'the invite names no address to dial')
    return { targets: invite.addresses.map(a => multiaddr(a)), secret: { invite } }
  }
  let target: Multiaddr
  try {
    if (!request.addr.startsWith('/')) throw new TypeError('not a multiaddr')
    target = multiaddr(request.addr)
  } catch (err) {
    throw new AppError(AppErrorCode.APP_USAGE, `${request.addr.slice(0, 80)} is not a multiaddr (such as /ip4/192.0.2.1/tcp/7450)`, { cause: err })
  }
  return { targets: [target], secret: { pin: request.pin } }
}

/** Runs `stops` backwards, emptying it; a failing stop is logged and the rest still run. */
async function runStops (stops: Array<{ part: string, stop: () => Promise<void> }>, logger: Logger): Promise<void> {
  for (let s = stops.pop(); s !== undefined; s = stops.pop()) {
    try {
      await s.stop()
    } catch (err) {
      logger.error({ err, part: s.part }, 'a part failed to stop')
    }
  }
}
