import { BlockCodec } from '../../core/compress.ts'
import { HASH_LENGTH } from '../../core/constants.ts'
import { equalHashes, hashBlock, toHex, zeroHash } from '../../core/hash.ts'
import { blockCount, blockLength, diskRoot } from '../../core/manifest.ts'
import type { Manifest } from '../../core/types.ts'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { sameBytes, violation } from './message-stream.ts'
import { isPlainMap, packMessage, unpackMessage } from '../wire/msgpack.ts'
import { MAX_HEAL_BLOCKS } from './constants.ts'
import type { HealRequest, ReplicationMessage } from './messages.ts'
import { WireCodec } from './messages.ts'
import { assumedManifest } from './rebuild.ts'
import type { ReplicaStage, ReplicaTarget, VerifiedBlock } from './replica.ts'

type Begin = Extract<ReplicationMessage, { t: 'cycle-begin' }>
type Blocks = Extract<ReplicationMessage, { t: 'blocks' }>
type End = Extract<ReplicationMessage, { t: 'cycle-end' }>

interface DiskState {
  name: string
  /** The manifest being rebuilt: the assumption from the base, overwritten by each entry. */
  manifest: Manifest
  base: Manifest | undefined
  /** 1 for each index an entry named. */
  named: Uint8Array
}

/** Entries a stretch of batches named, per disk: the journal entry of one checkpoint. */
interface JournalDisk { disk: string, indices: number[], hashes: Uint8Array[] }

const mismatch = (why: string): P2pError => new P2pError(P2pErrorCode.P2P_BLOCK_HASH_MISMATCH, why)

/**
 * The Replica's side of one cycle (a state machine driven by the session):
 * `open` checks the term and the base and resumes durable staging when the
 * same cycle was started before; `receive` verifies a batch completely
 * (order, shape, every block decoded to its length and re-hashed) before
 * staging any of it; `checkpoint` makes it durable (then the session acks);
 * `end` rebuilds each disk's manifest from the base and the entries, checks
 * the announced roots and commits. Nothing a peer sends reaches the store
 * unverified; a failed check stages nothing.
 */
export class ReceivingCycle {
  readonly begin: Begin
  readonly resumeAfter: number
  private readonly stage: ReplicaStage
  private readonly disks: Map<string, DiskState>
  private readonly codec = new BlockCodec()
  /** Where compressed blocks are decoded to be re-hashed: one buffer, reused. */
  private scratch = new Uint8Array(0)
  private lastSeq: number
  private journal = new Map<string, JournalDisk>()
  /**
   * Blocks the Replica asks the sender to send again (its damaged copies),
   * for `cycle-accept`. Recorded in the staging's journal, so a resumed
   * cycle asks for the same ones and the sender cuts the same batches.
   */
  heal: HealRequest[] = []
  /** Frame bytes received since the last checkpoint. */
  unacknowledged = 0
  /**
   * Store work (staging, checkpoints) runs in order behind the receive
   * loop, so verifying the next batch overlaps writing the last one; the
   * credit window bounds what waits here.
   */
  private work: Promise<void> = Promise.resolve()
  /** Verified blocks waiting to be staged: whatever has piled up is staged in one call (one index lookup, few writes). */
  private queued: VerifiedBlock[] = []
  private stagingQueued = false
  /** The first failure of that work; every later step throws it. */
  failure: unknown
  /** Told once when store work fails, so the session can end the stream at once. */
  onFailure: ((err: unknown) => void) | undefined

  private constructor (begin: Begin, stage: ReplicaStage, disks: Map<string, DiskState>, resumeAfter: number) {
    this.begin = begin
    this.stage = stage
    this.disks = disks
    this.resumeAfter = resumeAfter
    this.lastSeq = resumeAfter
  }

  /** Throws P2P_STALE_TERM, P2P_RESYNC_REQUIRED, P2P_REPLICA_INCOMPATIBLE, P2P_PROTOCOL_VIOLATION. */
  static async open (target: ReplicaTarget, begin: Begin): Promise<ReceivingCycle> {
    const points = await target.points()
    const latest = points.at(-1)
    if (latest !== undefined && begin.term < latest.term) {
      throw new P2pError(P2pErrorCode.P2P_STALE_TERM, `cycle of term ${begin.term}; the Replica holds term ${latest.term}`)
    }
    const basePoint = begin.base === null ? undefined : points.find(p => p.root === begin.base)
    if (begin.base !== null && basePoint === undefined) throw new P2pError(P2pErrorCode.P2P_RESYNC_REQUIRED, 'the Replica does not hold the base point')
    const blockSize = begin.disks[0]!.blockSize
    if (new Set(begin.disks.map(d => d.name)).size !== begin.disks.length) throw violation('a disk is named twice')
    if (begin.disks.some(d => d.blockSize !== blockSize)) throw new P2pError(P2pErrorCode.P2P_REPLICA_INCOMPATIBLE, 'the disks of one point share a block size')

    const disks = new Map<string, DiskState>()
    for (const d of begin.disks) {
      const base = basePoint?.disks.some(x => x.name === d.name) === true ? await target.manifest(basePoint.root, d.name) : undefined
      const usable = base?.blockSize === blockSize ? base : undefined
      disks.set(d.name, { name: d.name, base: usable, manifest: assumedManifest(usable, d), named: new Uint8Array(blockCount(d.size, d.blockSize)) })
    }
    const cycleHex = toHex(begin.cycle)
    const description = new TextEncoder().encode(describe(begin))
    const resumed = await target.resumeStage(cycleHex)
    if (resumed !== undefined && resumed.journal.length > 0 && sameBytes(resumed.journal[0]!, description)) {
      const cycle = new ReceivingCycle(begin, resumed.stage, disks, resumed.progress)
      for (const entry of resumed.journal.slice(1)) cycle.replay(entry)
      return cycle
    }
    await resumed?.stage.abort() // the same id with other contents: start over
    const heal = basePoint === undefined ? [] : await healRequests(target, basePoint.root, begin, disks)
    const stage = await target.newStage(cycleHex, blockSize)
    await stage.checkpoint(0, description)
    if (heal.length > 0) await stage.checkpoint(0, packMessage({ heal }))
    const cycle = new ReceivingCycle(begin, stage, disks, 0)
    cycle.heal = heal
    return cycle
  }

  /**
   * Verifies one batch and queues it for staging. Throws
   * P2P_PROTOCOL_VIOLATION, P2P_BLOCK_HASH_MISMATCH, or the failure of
   * earlier store work.
   */
  async receive (m: Blocks, frameBytes: number): Promise<void> {
    if (!sameBytes(m.cycle, this.begin.cycle)) throw violation('a batch of another cycle')
    if (m.seq !== this.lastSeq + 1) throw violation(`batch ${m.seq} after batch ${this.lastSeq}`)
    const disk = this.disks.get(m.disk)
    if (disk === undefined) throw violation(`a batch for disk ${m.disk}, which the cycle does not have`)
    const count = disk.named.byteLength
    const verified: VerifiedBlock[] = []
    for (const e of m.entries) {
      if (e.index >= count) throw violation(`block ${e.index} is past the end of disk ${m.disk}`)
      const length = blockLength(disk.manifest, e.index)
      if (e.rawLength !== length) throw violation(`block ${e.index} of disk ${m.disk} is ${length} bytes, not ${e.rawLength}`)
      if (e.codec === WireCodec.ZERO) {
        if (!equalHashes(e.hash, 0, zeroHash(length), 0)) throw mismatch(`zero block ${e.index} with a non-zero hash`)
        continue
      }
      let raw: Uint8Array
      if (this.scratch.byteLength < length) this.scratch = new Uint8Array(length)
      try {
        raw = this.codec.decodeInto(e.codec, e.data, e.rawLength, this.scratch)
      } catch (err) {
        throw new P2pError(P2pErrorCode.P2P_BLOCK_HASH_MISMATCH, `block ${e.index} does not decode to ${length} bytes`, { cause: err })
      }
      if (!equalHashes(hashBlock(raw), 0, e.hash, 0)) throw mismatch(`block ${e.index} of disk ${m.disk} does not match its hash`)
      verified.push({ hash: e.hash, codec: e.codec, rawLength: e.rawLength, data: e.data })
    }
    if (this.failure !== undefined) throw this.failure
    if (verified.length > 0) {
      this.queued.push(...verified)
      this.scheduleStaging()
    }
    const j = this.journalFor(m.disk)
    for (const e of m.entries) {
      this.apply(disk, e.index, e.hash)
      j.indices.push(e.index)
      j.hashes.push(e.hash)
    }
    this.lastSeq = m.seq
    this.unacknowledged += frameBytes
  }

  /**
   * Makes every batch received so far durable (queued behind their
   * staging); resolves to the batch number to acknowledge.
   */
  async checkpoint (): Promise<number> {
    const seq = this.lastSeq
    const entry = packMessage([...this.journal.values()].map(j => ({ disk: j.disk, indices: j.indices, hashes: concat(j.hashes) })))
    this.journal = new Map()
    this.unacknowledged = 0
    await this.enqueue(async () => { await this.stage.checkpoint(seq, entry) })
    return seq
  }

  /**
   * Queues one staging step unless one is already waiting: a step takes
   * every block queued when it runs, so each block queued before a
   * checkpoint is staged by a step that precedes it.
   */
  private scheduleStaging (): void {
    if (this.stagingQueued) return
    this.stagingQueued = true
    void this.enqueue(async () => {
      this.stagingQueued = false
      const blocks = this.queued
      this.queued = []
      await this.stage.putBlocks(blocks)
    }).catch(() => {})
  }

  private async enqueue (op: () => Promise<void>): Promise<void> {
    const run = this.work.then(async () => {
      if (this.failure !== undefined) throw this.failure
      await op()
    })
    this.work = run.catch(err => {
      if (this.failure === undefined) { this.failure = err; this.onFailure?.(err) }
    })
    await run
  }

  /** Checks the announced roots against the rebuilt manifests and commits. Throws P2P_PROTOCOL_VIOLATION, P2P_ROOT_MISMATCH. */
  async end (m: End): Promise<string> {
    if (!sameBytes(m.cycle, this.begin.cycle)) throw violation('cycle-end of another cycle')
    if (m.lastSeq !== this.lastSeq) throw violation(`cycle-end after batch ${m.lastSeq}; ${this.lastSeq} arrived`)
    if (m.disks.length !== this.disks.size || m.disks.some(d => !this.disks.has(d.name))) throw violation('cycle-end names other disks than cycle-begin')
    await this.work
    if (this.failure !== undefined) throw this.failure
    for (const d of m.disks) {
      if (diskRoot(this.disks.get(d.name)!.manifest) !== d.root) {
        throw new P2pError(P2pErrorCode.P2P_ROOT_MISMATCH, `disk ${d.name}: the blocks received do not make the announced root`)
      }
    }
    const { root } = await this.stage.commit({
      basePoint: this.begin.base,
      disks: [...this.disks.values()].map(d => ({ name: d.name, manifest: d.manifest, ...(d.base === undefined ? {} : { base: d.base }), changed: namedIndices(d.named) })),
      time: this.begin.time,
      consistency: this.begin.consistency,
      ...(this.begin.consistencyNote === undefined ? {} : { consistencyNote: this.begin.consistencyNote }),
      term: this.begin.term
    })
    return root
  }

  /** The link dropped (keep the staging) or the peer misbehaved (drop it). Never throws. */
  async stop (keepStaging: boolean): Promise<void> {
    await this.work
    if (keepStaging) await this.stage.release()
    else await this.stage.abort()
  }

  private apply (disk: DiskState, index: number, hash: Uint8Array): void {
    disk.manifest.hashes.set(hash, index * HASH_LENGTH)
    disk.named[index] = 1
  }

  private journalFor (disk: string): JournalDisk {
    let j = this.journal.get(disk)
    if (j === undefined) { j = { disk, indices: [], hashes: [] }; this.journal.set(disk, j) }
    return j
  }

  /** Re-applies a journal entry this store wrote at a checkpoint (a stretch's entries, or the heal request). */
  private replay (entry: Uint8Array): void {
    const list = unpackMessage(entry) as unknown
    if (isPlainMap(list) && Array.isArray(list.heal)) { this.heal = list.heal as HealRequest[]; return }
    if (!Array.isArray(list)) throw new TypeError('journal entry is not a list')
    for (const item of list) {
      if (!isPlainMap(item)) throw new TypeError('journal entry item is not a map')
      const disk = this.disks.get(item.disk as string)
      const indices = item.indices as number[]
      const hashes = item.hashes as Uint8Array
      if (disk === undefined || !Array.isArray(indices) || !(hashes instanceof Uint8Array) || hashes.byteLength !== indices.length * HASH_LENGTH) throw new TypeError('journal entry does not fit the cycle')
      indices.forEach((index, k) => { this.apply(disk, index, hashes.subarray(k * HASH_LENGTH, (k + 1) * HASH_LENGTH)) })
    }
  }
}

/**
 * What the cycle asks the sender to send again: per disk with a usable
 * base, the base's blocks the Replica holds damaged that are still inside
 * the disk's new size; MAX_HEAL_BLOCKS in all (the rest waits for a later
 * cycle).
 */
async function healRequests (target: ReplicaTarget, baseRoot: string, begin: Begin, disks: Map<string, DiskState>): Promise<HealRequest[]> {
  if (target.damagedBlocks === undefined) return []
  const out: HealRequest[] = []
  let room = MAX_HEAL_BLOCKS
  for (const d of begin.disks) {
    if (room === 0) break
    if (disks.get(d.name)?.base === undefined) continue
    const count = blockCount(d.size, d.blockSize)
    const blocks = (await target.damagedBlocks(baseRoot, d.name)).filter(i => i < count).slice(0, room)
    if (blocks.length === 0) continue
    out.push({ disk: d.name, blocks })
    room -= blocks.length
  }
  return out
}

/** The cycle's description, journal entry 0: a resume must describe the same cycle (a note only when there is one: descriptions staged before notes stay the same). */
function describe (b: Begin): string {
  const note = b.consistencyNote === undefined ? {} : { consistencyNote: b.consistencyNote }
  return JSON.stringify({ v: 1, relationship: b.relationship, term: b.term, base: b.base, time: b.time, consistency: b.consistency, ...note, disks: b.disks })
}

function namedIndices (named: Uint8Array): number[] {
  const out: number[] = []
  for (let i = 0; i < named.byteLength; i++) if (named[i] === 1) out.push(i)
  return out
}

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.length * HASH_LENGTH)
  parts.forEach((p, i) => { out.set(p, i * HASH_LENGTH) })
  return out
}
