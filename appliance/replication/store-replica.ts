import { mkdir, rm, statfs } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { isDirectory } from '../fs-util.ts'
import {
  DEFAULT_RETENTION, imageRecord, prune, RecoveryPointStore, StagedCycle, updateImage,
  type ImageRecord, type RetentionPolicy
} from '../../core/store/index.ts'
import { badBlockSet, damagedIndices } from '../../core/store/bad-blocks.ts'
import { checkSourceSanity } from '../../core/source-sanity.ts'
import { importSeed } from '../../core/seed/index.ts'
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { OpenStores, type HeldStore } from './open-stores.ts'
import type { ReplicaPoint, ReplicaSink, ReplicaStage, ReplicaTarget } from '../../p2p/replication/index.ts'
import type { Manifest, ProgressListener, RecoveryPoint } from '../../core/types.ts'

export interface StoreReplicaSinkInit {
  /** Replicas live in `<dir>/<peer id>/<relationship>/` (a core store each). */
  dir: string
  retention?: RetentionPolicy
  /**
   * The retention of one relationship's store, read after each commit
   * (its setting may have changed since the session began); undefined:
   * `retention`, else DEFAULT_RETENTION.
   */
  retentionFor?: (peer: string, relationship: string) => RetentionPolicy | undefined
  /** Point ids pruning must keep whatever the retention says (points in use); read at each prune. */
  pinned?: (peer: string, relationship: string) => Iterable<number>
  /**
   * Told once a point is committed, first of the work after the commit
   * (then the image update and pruning): reads through the session, and the
   * next session, wait for it. A rejection is reported to onBackgroundError.
   */
  onCommitted?: (where: { peer: string, relationship: string }, point: RecoveryPoint) => Promise<void>
  /**
   * Whether `peer` may replicate `relationship` here at `term` (undefined:
   * a session opening, before an exchange names one): returns when it may,
   * throws the P2pError to refuse with otherwise. The daemon's applies the
   * term rules to its record (appliance/relationships/term-rules.ts):
   * P2P_RELATIONSHIP_UNKNOWN for a relationship not offered first by that
   * primary (docs/relationship-protocol.md), P2P_FAILED_OVER once this box
   * failed it over, P2P_STALE_TERM for a term older than its record's.
   * Asked when a session opens (before a store is opened or created),
   * before each manifest request and cycle of it, and again right before a
   * cycle commits. Absent: everything is admitted (bare-store tools, tests).
   */
  admit?: (peer: string, relationship: string, term?: number) => void
  /** How long a session waits for another session of the same relationship. */
  busyWaitMs?: number
  /** Told when a background step after a commit (image update, pruning) fails; the point itself is committed. */
  onBackgroundError?: (err: unknown, where: { peer: string, relationship: string }) => void
  /**
   * Told each time the last open session has closed (its commit work,
   * image update and pruning, done) while no other is opening: the sink has
   * no replication work in hand. Called synchronously; must not throw. The
   * daemon collects the sessions' garbage then (docs/benchmarks.md "Memory
   * of the daemon").
   */
  onIdle?: () => void
}

/** A session waits this long for the previous one's image update before giving up with P2P_RELATIONSHIP_BUSY. */
const DEFAULT_BUSY_WAIT_MS = 10 * 60_000

/**
 * The Replica's storage for the replication protocol: one core store per
 * (peer, relationship), so a peer only ever reaches its own replicas. One
 * session per relationship at a time: the next waits until the previous
 * one's commit work (replica image, retention) is done.
 *
 * A store is open at most once in the process (a second open would fail on
 * LevelDB's lock): from when a session or a holder (hold(): a point served
 * for failover, docs/failover.md) needs it until the last of them lets go,
 * shared by all of them. Sessions are its only writers.
 */
export class StoreReplicaSink implements ReplicaSink {
  private readonly init: StoreReplicaSinkInit
  private readonly locks = new Map<string, Promise<void>>()
  /** The open session's target of each relationship, by `peer/relationship`. */
  private readonly targets = new Map<string, StoreReplicaTarget>()
  /** Sessions that hold the lock and are opening their store; undefined when the open failed. */
  private readonly opening = new Map<string, Promise<StoreReplicaTarget | undefined>>()
  /**
   * The open stores, by directory. A store is opened (or created) only under
   * its relationship's lock; joining one that is open needs no lock.
   */
  private readonly stores = new OpenStores()
  /** Commits past their last admission check and not yet settled, by `peer/relationship` (commitsSettled). */
  private readonly committing = new Map<string, Set<Promise<unknown>>>()
  private closing = false

  constructor (init: StoreReplicaSinkInit) {
    this.init = init
  }

  /** The directory holding `peer`'s replica of `relationship`. Names were checked at the wire boundary. */
  replicaDir (peer: string, relationship: string): string {
    return join(this.init.dir, peer, relationship)
  }

  async open (peer: string, relationship: string, signal?: AbortSignal): Promise<ReplicaTarget> {
    if (this.closing) throw new P2pError(P2pErrorCode.P2P_STREAM_CLOSED, 'the replica is stopping')
    this.init.admit?.(peer, relationship)
    const key = `${peer}/${relationship}`
    const release = await this.lock(key, signal)
    const made = (async () => {
      const dir = this.replicaDir(peer, relationship)
      const held = await isDirectory(join(dir, 'index')) ? await this.stores.acquire(dir, async () => await RecoveryPointStore.open(dir)) : undefined
      // The session's first cycle creates the store (under this session's lock).
      const create = async (blockSize: number): Promise<HeldStore> => await this.stores.acquire(dir, async () => {
        await mkdir(dir, { recursive: true })
        return await RecoveryPointStore.open(dir, { create: true, blockSize })
      })
      const target = new StoreReplicaTarget(dir, held, create, this.init, { peer, relationship }, this.commits(key), () => {
        if (this.targets.get(key) === target) this.targets.delete(key)
        release()
        if (this.targets.size === 0 && this.opening.size === 0 && !this.closing) this.init.onIdle?.()
      })
      this.targets.set(key, target)
      return target
    })()
    this.opening.set(key, made.catch(() => undefined))
    try {
      return await made
    } catch (err) {
      release()
      throw err
    } finally {
      this.opening.delete(key)
    }
  }

  /**
   * Resolves once every commit of `peer`'s `relationship` that passed its
   * last admission check (`admit`) before this call has landed or failed.
   * Whoever changes the record so that `admit` refuses (a failover: the
   * Replica's record leaves the states that take cycles) calls it after the
   * change is in place: from then on no commit of the old primary can land.
   * Never rejects.
   */
  async commitsSettled (peer: string, relationship: string): Promise<void> {
    await Promise.all([...this.committing.get(`${peer}/${relationship}`) ?? []])
  }

  /** The registry of a relationship's commits in flight, for its targets. */
  private commits (key: string): CommitRegistry {
    return (commit: Promise<unknown>) => {
      const settled = commit.then(() => {}, () => {})
      let set = this.committing.get(key)
      if (set === undefined) this.committing.set(key, set = new Set())
      set.add(settled)
      void settled.then(() => {
        set.delete(settled)
        if (set.size === 0 && this.committing.get(key) === set) this.committing.delete(key)
      })
    }
  }

  /**
   * Runs `read` on `peer`'s store of `relationship`, as the daemon's own
   * reads (the points a Replica shows) must: never behind a session's back.
   * While a session has the store open, on that open store once the work
   * after its last commit is done (its close waits for the read); while only
   * holders keep it open, on that store; otherwise under the relationship's
   * lock, on a read-only open (a private snapshot of the index), so no
   * session opens it meanwhile. Resolves undefined when no store exists yet.
   * Waits at most until `signal` aborts for a session that is opening or closing.
   */
  async readStore<T> (peer: string, relationship: string, read: (store: RecoveryPointStore) => Promise<T>, signal?: AbortSignal): Promise<T | undefined> {
    if (this.closing) throw new P2pError(P2pErrorCode.P2P_STREAM_CLOSED, 'the replica is stopping')
    const key = `${peer}/${relationship}`
    const dir = this.replicaDir(peer, relationship)
    const target = this.targets.get(key) ?? await this.opening.get(key)
    const during = target?.read(read)
    // A session whose store does not exist yet (its first cycle is staging): no point yet, and no waiting for it.
    if (during === 'no-store') return undefined
    if (during !== undefined) return await during
    // A session closing (its commit work may still run) is waited for through the lock.
    if (target === undefined) {
      const held = await this.stores.join(dir)
      if (held !== undefined) return await readHeld(held, read)
    }
    const release = await this.lock(key, signal)
    try {
      const held = await this.stores.join(dir)
      if (held !== undefined) return await readHeld(held, read)
      if (!await isDirectory(join(dir, 'index'))) return undefined
      const store = await RecoveryPointStore.open(dir, { readOnly: true })
      try {
        return await read(store)
      } finally {
        await store.close()
      }
    } finally {
      release()
    }
  }

  /**
   * A share of `peer`'s store of `relationship`, for a long-lived reader
   * (a recovery point served for failover): the store the session or other
   * holders have open, else opened now under the relationship's lock (never
   * created). Resolves once the work after the last commit (image update,
   * pruning) is done, so a point pinned before the call is safe from every
   * prune, including one that chose its points before the pin. The holder
   * only reads; sessions go on committing and pruning through the same
   * store meanwhile. `release()` gives the share back (the store closes with
   * the last one); holders release before close() is called (docs/daemon.md).
   *
   * Throws APP_POINT_NOT_FOUND when no store exists yet (no point has
   * reached this box), APP_INVALID_STATE once the sink is closing,
   * P2P_RELATIONSHIP_BUSY when `signal` aborts while a session opens or
   * closes the store, and the store's own open errors (CORE_STORE_*).
   */
  async hold (peer: string, relationship: string, signal?: AbortSignal): Promise<HeldStore> {
    if (this.closing) throw new AppError(AppErrorCode.APP_INVALID_STATE, 'the replica is stopping')
    const key = `${peer}/${relationship}`
    const dir = this.replicaDir(peer, relationship)
    const noStore = (): AppError => new AppError(AppErrorCode.APP_POINT_NOT_FOUND, `no recovery point of ${relationship} has reached this box yet`)
    const target = this.targets.get(key) ?? await this.opening.get(key)
    let held = await this.stores.join(dir)
    if (held === undefined) {
      if (target?.staging === true) throw noStore()
      const release = await this.lock(key, signal)
      try {
        held = await this.stores.join(dir)
        if (held === undefined && !await isDirectory(join(dir, 'index'))) throw noStore()
        held ??= await this.stores.acquire(dir, async () => await RecoveryPointStore.open(dir))
      } finally {
        release()
      }
    }
    await this.targets.get(key)?.settled()
    return held
  }

  /**
   * Imports the seed at `path` as the first recovery point of `peer`'s
   * replica of `relationship` (docs/seeds.md), under the relationship's
   * lock, so no session runs meanwhile: creates the store with the seed's
   * `blockSize` when there is none. APP_INVALID_STATE when the store
   * already holds a point: a seed is for initial replication only. On
   * success `onCommitted` is told, as after a cycle; on failure the store
   * keeps exactly what it had (core's importSeed).
   */
  async importSeed (peer: string, relationship: string, path: string, blockSize: number, options: { signal?: AbortSignal, onProgress?: ProgressListener } = {}): Promise<RecoveryPoint> {
    if (this.closing) throw new AppError(AppErrorCode.APP_INVALID_STATE, 'the replica is stopping')
    const release = await this.lock(`${peer}/${relationship}`, options.signal)
    try {
      const dir = this.replicaDir(peer, relationship)
      const held = await this.acquireOrCreate(dir, blockSize)
      const store = held.store
      try {
        const held = await store.listPoints()
        if (held.length > 0) throw new AppError(AppErrorCode.APP_INVALID_STATE, `the Replica already holds ${held.length} recovery point(s) of ${relationship}: a seed is only for initial replication`)
        const point = await importSeed(store, path, options)
        await this.init.onCommitted?.({ peer, relationship }, point).catch(err => { this.init.onBackgroundError?.(err, { peer, relationship }) })
        return point
      } finally {
        await held.release()
      }
    } finally {
      release()
    }
  }

  /** A share of the store in `dir`, created with `blockSize` when there is none. */
  private async acquireOrCreate (dir: string, blockSize: number): Promise<{ store: RecoveryPointStore, release: () => Promise<void> }> {
    return await this.stores.acquire(dir, async () => {
      const exists = await isDirectory(join(dir, 'index'))
      if (!exists) await mkdir(dir, { recursive: true })
      return await RecoveryPointStore.open(dir, exists ? {} : { create: true, blockSize })
    })
  }

  /**
   * `peer`'s store of `relationship` for this box's own writer (an old
   * primary keeping its disk as a point of its new Replica store: docs/failover.md
   * "Reverse replication"), under the relationship's lock: no session of
   * the peer opens the store until `release()` (they wait, as for another
   * session, at most the sink's busy wait). Created with `blockSize` when
   * there is none. APP_INVALID_STATE once the sink is closing;
   * P2P_RELATIONSHIP_BUSY when `signal` aborts while a session holds the
   * lock; the store's open errors.
   */
  async holdExclusive (peer: string, relationship: string, blockSize: number, signal?: AbortSignal): Promise<{ store: RecoveryPointStore, release: () => Promise<void> }> {
    if (this.closing) throw new AppError(AppErrorCode.APP_INVALID_STATE, 'the replica is stopping')
    const unlock = await this.lock(`${peer}/${relationship}`, signal)
    try {
      const dir = this.replicaDir(peer, relationship)
      const held = await this.acquireOrCreate(dir, blockSize)
      let released = false
      return {
        store: held.store,
        release: async () => {
          if (released) return
          released = true
          try {
            await held.release()
          } finally {
            unlock()
          }
        }
      }
    } catch (err) {
      unlock()
      throw err
    }
  }

  /**
   * Deletes the store of `relationship` from `peer`, under its lock: for a
   * store this box wrote itself and no longer needs (an old primary's
   * preparation that no reversal used: docs/failover.md "Salvage").
   * APP_INVALID_STATE when the store is open (a session or a serving holds
   * it); nothing is deleted then. Idempotent.
   */
  async removeStore (peer: string, relationship: string, signal?: AbortSignal): Promise<void> {
    if (this.closing) throw new AppError(AppErrorCode.APP_INVALID_STATE, 'the replica is stopping')
    const unlock = await this.lock(`${peer}/${relationship}`, signal)
    try {
      const dir = this.replicaDir(peer, relationship)
      const open = await this.stores.join(dir)
      if (open !== undefined) {
        await open.release()
        throw new AppError(AppErrorCode.APP_INVALID_STATE, `the store of ${relationship} is in use`)
      }
      await rm(dir, { recursive: true, force: true })
    } finally {
      unlock()
    }
  }

  /**
   * Refuses new sessions and holds, then resolves once every open target is
   * closed (its image update and pruning done) and every store is closed,
   * or when `signal` aborts (what is left is finished by the store's next
   * writer). The daemon calls it after the receiver stopped, so no session
   * opens a store after it, and after the holders released their stores
   * (the point servings are closed first: docs/daemon.md); a share still
   * held keeps its store open until `signal` aborts. Idempotent.
   */
  async close (signal?: AbortSignal): Promise<void> {
    this.closing = true
    while (this.locks.size > 0 && signal?.aborted !== true) {
      const aborted = signal === undefined ? [] : [new Promise<void>(resolve => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })]
      await Promise.race([Promise.all([...this.locks.values()]), ...aborted])
    }
    await this.stores.idle(signal)
  }

  private async lock (key: string, signal?: AbortSignal): Promise<() => void> {
    const deadline = AbortSignal.timeout(this.init.busyWaitMs ?? DEFAULT_BUSY_WAIT_MS)
    for (;;) {
      const held = this.locks.get(key)
      if (held === undefined) break
      const stop = signal === undefined ? deadline : AbortSignal.any([signal, deadline])
      await new Promise<void>((resolve, reject) => {
        const onStop = (): void => { reject(new P2pError(P2pErrorCode.P2P_RELATIONSHIP_BUSY, `relationship ${key} is busy`)) }
        if (stop.aborted) { onStop(); return }
        stop.addEventListener('abort', onStop, { once: true })
        void held.then(() => { stop.removeEventListener('abort', onStop); resolve() })
      })
    }
    let release!: () => void
    this.locks.set(key, new Promise<void>(resolve => { release = () => { this.locks.delete(key); resolve() } }))
    return release
  }
}

/** Told of each commit as it starts, right after its admission check (StoreReplicaSink.commitsSettled). */
type CommitRegistry = (commit: Promise<unknown>) => void

class StoreReplicaTarget implements ReplicaTarget {
  /** This session's share of the store; undefined until its first cycle creates the store. */
  private held: HeldStore | undefined
  private readonly create: (blockSize: number) => Promise<HeldStore>
  private readonly dir: string
  private readonly init: StoreReplicaSinkInit
  private readonly where: { peer: string, relationship: string }
  private readonly release: () => void
  private readonly register: CommitRegistry
  private afterCommit: Promise<void> = Promise.resolve()
  private readonly reads = new Set<Promise<unknown>>()
  /** The cycles this session staged or resumed; close() releases any it left unfinished. */
  private readonly cycles = new Set<StagedCycle>()
  private closed = false

  constructor (dir: string, held: HeldStore | undefined, create: (blockSize: number) => Promise<HeldStore>, init: StoreReplicaSinkInit, where: { peer: string, relationship: string }, register: CommitRegistry, release: () => void) {
    this.dir = dir
    this.held = held
    this.create = create
    this.init = init
    this.where = where
    this.register = register
    this.release = release
  }

  admit (term: number): void {
    this.init.admit?.(this.where.peer, this.where.relationship, term)
  }

  private get store (): RecoveryPointStore | undefined { return this.held?.store }

  /** A session still open whose first cycle has not created the store yet. */
  get staging (): boolean { return !this.closed && this.held === undefined }

  /** Resolves once the work after this session's last commit (image update, pruning) is done; never rejects. */
  async settled (): Promise<void> {
    await this.afterCommit
  }

  async points (): Promise<ReplicaPoint[]> {
    return (await this.store?.listPoints() ?? []).map(p => ({ root: p.root, term: p.term ?? 0, disks: p.disks }))
  }

  async manifest (pointRoot: string, disk: string): Promise<Manifest> {
    const point = await this.pointByRoot(pointRoot)
    return await this.store!.manifest(point.id, disk)
  }

  async damagedBlocks (pointRoot: string, disk: string): Promise<number[]> {
    const store = this.store
    if (store === undefined) return []
    const bad = await badBlockSet(store)
    if (bad.size === 0) return []
    return damagedIndices(await this.manifest(pointRoot, disk), bad)
  }

  async resumeStage (cycle: string): Promise<{ stage: ReplicaStage, progress: number, journal: Uint8Array[] } | undefined> {
    if (this.store === undefined) return undefined
    const resumed = await StagedCycle.resume(this.store, cycle)
    return resumed === undefined ? undefined : { stage: this.wrap(resumed.cycle), progress: resumed.progress, journal: resumed.journal }
  }

  async newStage (cycle: string, blockSize: number): Promise<ReplicaStage> {
    this.held ??= await this.create(blockSize)
    const store = this.held.store
    if (store.blockSize !== blockSize) {
      throw new P2pError(P2pErrorCode.P2P_REPLICA_INCOMPATIBLE, `the replica uses ${store.blockSize}-byte blocks; the cycle ${blockSize}-byte ones`)
    }
    // One unfinished cycle per relationship: an older stage was abandoned by its sender.
    for (const id of await StagedCycle.list(store)) {
      if (id !== cycle) await (await StagedCycle.resume(store, id))?.cycle.abort()
    }
    return this.wrap(new StagedCycle(store, cycle))
  }

  /** Space available to this process on the filesystem of this replica's directory. */
  async freeBytes (): Promise<number> {
    // Before the first cycle the directory may not exist yet: ask its nearest existing ancestor.
    let dir = this.dir
    for (;;) {
      try {
        const s = await statfs(dir)
        return s.bavail * s.bsize
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(dir) === dir) throw err
        dir = dirname(dir)
      }
    }
  }

  /**
   * Runs `read` on the open store once the work after its last commit
   * (image update, retention) is done, so a read sees the points retention
   * kept; or returns (synchronously decided) `no-store` when the session
   * has not created its store yet, undefined when the target is closing.
   * close() waits for the reads it let in.
   */
  read<T> (read: (store: RecoveryPointStore) => Promise<T>): Promise<T> | 'no-store' | undefined {
    const store = this.store
    if (this.closed) return undefined
    if (store === undefined) return 'no-store'
    const running = this.afterCommit.then(async () => await read(store))
    const settled = running.then(() => {}, () => {})
    this.reads.add(settled)
    void settled.then(() => { this.reads.delete(settled) })
    return running
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await this.afterCommit
      await Promise.all([...this.reads])
      // As a store's close would (the store may stay open for its holders): a cycle left
      // unfinished is released as after a dropped link (kept when resumable; a file it
      // cannot delete stays named pending for the next open's sweep). A no-op for a cycle
      // committed, aborted or released.
      for (const c of this.cycles) await c.release().catch(() => {})
    } finally {
      try {
        await this.held?.release()
      } finally {
        this.release()
      }
    }
  }

  private async pointByRoot (root: string): Promise<RecoveryPoint> {
    const point = (await this.store?.listPoints() ?? []).find(p => p.root === root)
    if (point === undefined) throw new P2pError(P2pErrorCode.P2P_RESYNC_REQUIRED, 'the replica no longer holds that point')
    return point
  }

  private wrap (cycle: StagedCycle): ReplicaStage {
    const store = this.store!
    this.cycles.add(cycle)
    return {
      putBlocks: async blocks => { await cycle.putBlocks(blocks) },
      checkpoint: async (progress, journal) => { await cycle.checkpoint(progress, journal) },
      release: async () => { await cycle.release() },
      abort: async () => { await cycle.abort() },
      commit: async point => {
        const base = point.basePoint === null ? undefined : await this.pointByRoot(point.basePoint)
        // A disk become empty is refused as in a local cycle (CORE_SOURCE_EMPTY, P2P_REPLICA_FAILED on
        // the wire). Another set of disk names is accepted: the primary's VM definition decides
        // them, and the protocol has no way yet for its operator to confirm a change.
        checkSourceSanity(await store.latestPoint(), point.disks.map(d => ({ name: d.name, size: d.manifest.size })), { allowDiskChange: true })
        for (const d of point.disks) cycle.setDisk(d.name, d.manifest, base === undefined || d.base === undefined ? undefined : { point: base.id, manifest: d.base })
        const images = new Map<string, ImageRecord | undefined>()
        for (const d of point.disks) images.set(d.name, await imageRecord(store, d.name))
        // The last check, and the commit registered in the same turn: a failover that changes the record
        // after it waits for this commit (commitsSettled); one that changed it before is refused here.
        this.admit(point.term)
        const committing = cycle.commit({ time: point.time, consistency: point.consistency, ...(point.consistencyNote === undefined ? {} : { consistencyNote: point.consistencyNote }), term: point.term })
        this.register(committing)
        const committed = await committing
        // The point is durable: bring the replica images to it and apply retention before the next session.
        this.afterCommit = (async () => {
          await this.init.onCommitted?.(this.where, committed).catch(err => { this.init.onBackgroundError?.(err, this.where) })
          for (const d of point.disks) {
            const held = images.get(d.name)
            const from = held?.state === 'ready' && base !== undefined && held.point === base.id ? { record: held, changed: d.changed } : undefined
            await updateImage(store, d.name, committed.id, { from })
          }
          const { peer, relationship } = this.where
          const policy = this.init.retentionFor?.(peer, relationship) ?? this.init.retention ?? DEFAULT_RETENTION
          await prune(store, policy, { pinned: this.init.pinned?.(peer, relationship) ?? [] })
        })().catch(err => { this.init.onBackgroundError?.(err, this.where) })
        return { root: committed.root }
      }
    }
  }
}

/** Runs `read` on a held store, then gives the share back. */
async function readHeld<T> (held: HeldStore, read: (store: RecoveryPointStore) => Promise<T>): Promise<T> {
  try {
    return await read(held.store)
  } finally {
    await held.release()
  }
}
