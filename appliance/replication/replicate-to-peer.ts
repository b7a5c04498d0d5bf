import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { FileDiskSource, type DiskSource } from '../../core/disk-view/index.ts'
import type { ScanPool } from '../../core/scan/index.ts'
import type { Consistency, Manifest, ProgressListener } from '../../core/types.ts'
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
import type { TandemNode } from '../../p2p/node/index.ts'
import { fetchManifests, REPLICATION_PROTOCOL, sendCycle, type RateLimiter, type ReplicaManifests, type SentCycle } from '../../p2p/replication/index.ts'
import { openCycleSource } from './cycle-source.ts'
import { PrimaryState } from './primary-state.ts'

export interface ReplicateToPeerInit {
  node: TandemNode
  /** The Replica: its peer id (already connected or known) or an address. */
  replica: PeerId | Multiaddr
  relationship: string
  /** The primary's state directory for this relationship (primary-state.ts). */
  stateDir: string
  /** The disks: image files of a stopped VM by path, or any driver's sources (VmDriver's `diskSources`). */
  disks: Array<{ name: string, path: string } | { name: string, source: DiskSource }>
  pool: ScanPool
  blockSize: number
  term?: number
  consistency?: Consistency
  /** Why the point is crash-consistent when app-consistency was asked (the driver's `consistencyNote`); kept with the Replica's point. */
  consistencyNote?: string
  /**
   * Diff against what the Replica holds, not against this box's record of
   * it: its manifests are fetched first (a resynchronization, or initial
   * replication onto a copy already there). A cycle in flight is resumed as it is.
   */
  fromReplica?: boolean
  /** With `fromReplica`: the Replica's manifests the caller fetched just before (fetchReplicaManifests), so they are not fetched twice. */
  replicaManifests?: ReplicaManifests
  /**
   * Each disk's manifest in a point both boxes hold, which a driver's change
   * tracking may be relative to (the failover point kept on the box that
   * failed over): a cycle whose base is another descendant of it (the old
   * primary's disk, fetched) reads only the tracked blocks and those where
   * the base differs from it (openCycleSource).
   */
  shared?: ReadonlyMap<string, Manifest>
  limiter?: RateLimiter
  signal?: AbortSignal
  onProgress?: ProgressListener
  onBatch?: (batch: { seq: number, frameBytes: number }) => void
}

export interface ReplicationReport extends SentCycle {
  /** The cycle resumed one an earlier run had started. */
  resumed: boolean
  /** The Replica did not hold the expected base: its manifests were fetched and the cycle diffed against them. */
  resynced: boolean
  /** The committed point's snapshot time (ms; a resumed cycle keeps the time it began with), term and consistency. */
  time: number
  term: number
  consistency: Consistency
  /** The note the point was committed with (the cycle in flight's, when resumed). */
  consistencyNote?: string
  /** Each disk the committing attempt read without change tracking (every block compared by hash), and why; empty when all were read from their tracking. */
  untracked: Record<string, string>
  /** Bytes the committing attempt read from the disks (what tracking named, or every block holding data). */
  bytesRead: number
}

/**
 * One cycle of a VM's disks (files, or a driver's sources) to a paired Replica, resumable across dropped
 * links and restarts: a cycle in flight is resumed with the same id (the
 * Replica skips what it holds durably); P2P_RESYNC_REQUIRED fetches the
 * Replica's manifests and diffs against them. On success the committed
 * manifests become the next cycle's base. Other P2P errors are thrown; a
 * dropped link leaves the cycle in flight for the next call.
 */
export async function replicateToPeer (init: ReplicateToPeerInit): Promise<ReplicationReport> {
  const state = await PrimaryState.open(init.stateDir)
  // A cycle begun app-consistent cannot be finished from a view that is not: it starts again, labelled as it is now.
  if (state.inFlight?.consistency === 'app' && init.consistency !== 'app') await state.abandon()
  const resumed = state.inFlight !== undefined
  let resynced = false
  if (init.fromReplica === true && !resumed) {
    await adoptReplicaManifests(init, state, init.replicaManifests)
    resynced = true
  }
  for (let attempt = 0; ; attempt++) {
    const cycle = state.inFlight ?? await state.begin(Date.now(), init.term ?? state.replicated?.term ?? 1, init.consistency ?? 'crash', init.consistencyNote)
    const base = cycle.base === null || state.replicated?.root !== cycle.base ? null : { root: cycle.base, manifests: state.replicated.manifests }
    const source = await openCycleSource(init.pool, init.disks.map(d => 'path' in d ? { name: d.name, source: new FileDiskSource(d.path) } : d), init.blockSize, init.signal, init.shared)
    try {
      const sent = await sendCycle({
        stream: await init.node.dialProtocol(init.replica, REPLICATION_PROTOCOL, { signal: init.signal }),
        relationship: init.relationship,
        cycle: Buffer.from(cycle.cycle, 'hex'),
        term: cycle.term,
        time: cycle.time,
        consistency: cycle.consistency,
        ...(cycle.consistencyNote === undefined ? {} : { consistencyNote: cycle.consistencyNote }),
        base,
        source,
        limiter: init.limiter,
        signal: init.signal,
        onProgress: init.onProgress,
        onBatch: init.onBatch
      })
      await state.commit({ root: sent.root, term: cycle.term, manifests: new Map(sent.disks.map(d => [d.name, d.manifest])) })
      const bytesRead = [...source.bytesRead.values()].reduce((a, b) => a + b, 0)
      return { ...sent, resumed, resynced, untracked: Object.fromEntries(source.untracked), bytesRead, time: cycle.time, term: cycle.term, consistency: cycle.consistency, ...(cycle.consistencyNote === undefined ? {} : { consistencyNote: cycle.consistencyNote }) }
    } catch (err) {
      const code = (err as P2pError).code
      if (code === P2pErrorCode.P2P_RESYNC_REQUIRED && attempt === 0) {
        await adoptReplicaManifests(init, state)
        resynced = true
        continue
      }
      // A cycle whose source turned out inconsistent cannot be resumed as it was.
      if (!(err instanceof P2pError)) await state.abandon()
      throw err
    } finally {
      await source.close()
    }
  }
}

/** Takes the Replica's latest point (or none) as the base of the next cycle, dropping a cycle in flight. */
async function adoptReplicaManifests (init: ReplicateToPeerInit, state: PrimaryState, fresh?: ReplicaManifests): Promise<void> {
  const found = fresh ?? await fetchReplicaManifests({ ...init, term: state.inFlight?.term ?? init.term ?? state.replicated?.term ?? 1 })
  await state.abandon()
  if (found.point === null) state.replicated = undefined
  else await state.commit({ root: found.point, term: found.term, manifests: found.manifests })
}

/**
 * The Replica's latest point of the relationship and its manifests (point
 * null when it holds none), asked as its primary at `term`: a Replica that
 * holds a newer term refuses (P2P_STALE_TERM, P2P_FAILED_OVER).
 */
export async function fetchReplicaManifests (init: Pick<ReplicateToPeerInit, 'node' | 'replica' | 'relationship' | 'signal'> & { term: number }): Promise<ReplicaManifests> {
  return await fetchManifests(await init.node.dialProtocol(init.replica, REPLICATION_PROTOCOL, { signal: init.signal }), init.relationship, init.term)
}
