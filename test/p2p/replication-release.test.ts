/**
 * The sender gives a block back to its source (SourceBlock.release) only
 * once the Replica has acknowledged the batch that carried it as durable:
 * while the Replica's checkpoints are held, nothing is released; once they
 * go through, the blocks of every acknowledged batch are, each once.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Codec } from '../../core/compress.ts'
import { HASH_LENGTH } from '../../core/constants.ts'
import { hashBlock } from '../../core/hash.ts'
import { REPLICATION_PROTOCOL, sendCycle, type CycleSource, type ReplicaSink, type ReplicaTarget, type SourceBlock } from '../../p2p/replication/index.ts'
import { ReplicationReceiver } from '../../p2p/replication/index.ts'
import { StoreReplicaSink } from '../../appliance/replication/store-replica.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { withWrappedStages } from '../helpers/stage-wrapper.ts'
import { loopbackAddress, startNode, TestPolicy } from '../helpers/boxes.ts'

const BS = 65536
const BLOCKS = 384 // 24 MiB of random blocks: several credit windows

/** A sink whose stages hold every checkpoint after the first (so no ack is sent) until `open()`. */
class GatedSink {
  private readonly gate: Promise<void>
  open: () => void = () => {}
  /** Resolves when a checkpoint first waits at the gate: the Replica wants to ack and cannot. */
  readonly reached: Promise<void>
  private reach: () => void = () => {}
  constructor () {
    this.gate = new Promise(resolve => { this.open = resolve })
    this.reached = new Promise(resolve => { this.reach = resolve })
  }

  openTarget (target: ReplicaTarget): ReplicaTarget {
    return withWrappedStages(target, stage => ({
      ...stage,
      checkpoint: async (progress, journal) => {
        if (progress > 0) { this.reach(); await this.gate }
        await stage.checkpoint(progress, journal)
      }
    }))
  }
}

function sourceOf (image: Buffer, released: Map<number, number>): CycleSource {
  return {
    disks: [{ name: 'disk0', size: image.byteLength, blockSize: BS }],
    scan: async (_name, _base, onBlocks) => {
      const hashes = new Uint8Array(BLOCKS * HASH_LENGTH)
      const changed: number[] = []
      for (let i = 0; i < BLOCKS; i += 16) {
        const blocks: SourceBlock[] = []
        for (let k = i; k < i + 16; k++) {
          const data = image.subarray(k * BS, (k + 1) * BS)
          const hash = hashBlock(data)
          hashes.set(hash, k * HASH_LENGTH)
          changed.push(k)
          blocks.push({ index: k, hash, codec: Codec.RAW, rawLength: BS, data, release: () => { released.set(k, (released.get(k) ?? 0) + 1) } })
        }
        await onBlocks(blocks)
      }
      return { manifest: { size: image.byteLength, blockSize: BS, hashes }, changed }
    }
  }
}

t.test('blocks are released after their batch is acknowledged, never before, each once', async t => {
  const dir = await tempDir(t)
  const policy = new TestPolicy()
  const replicaNode = await startNode(t, join(dir, 'replica.key'), policy)
  const store = new StoreReplicaSink({ dir: join(dir, 'replicas'), retention: { additional: 10, intervalMs: 0 } })
  const gated = new GatedSink()
  const sink: ReplicaSink = { open: async (peer, relationship, signal) => gated.openTarget(await store.open(peer, relationship, signal)) }
  const receiver = new ReplicationReceiver({ node: replicaNode, policy, sink })
  await receiver.start()
  t.teardown(async () => { await receiver.stop() })
  const primary = await startNode(t, join(dir, 'primary.key'))
  policy.paired.add(primary.peerId.toString())

  const released = new Map<number, number>()
  let sent = 0
  let atCreditLimit: () => void = () => {}
  const stalled = new Promise<void>(resolve => { atCreditLimit = resolve })
  const cycle = sendCycle({
    stream: await primary.dialProtocol(loopbackAddress(replicaNode), REPLICATION_PROTOCOL),
    relationship: 'vm1',
    cycle: randomBytes(16),
    term: 1,
    time: Date.now(),
    consistency: 'crash',
    base: null,
    source: sourceOf(randomBytes(BLOCKS * BS), released),
    onBatch: () => { if (++sent === 3) atCreditLimit() }
  })
  // Batches are out, and the Replica's first checkpoint after them is held: no ack can have been sent.
  await Promise.all([stalled, gated.reached])
  t.equal(released.size, 0, 'nothing released while no batch is acknowledged')
  gated.open()
  const result = await cycle
  t.ok(result.batches >= 12, `${result.batches} batches`)
  t.ok(released.size > 0, `${released.size} of ${BLOCKS} blocks released once acknowledged`)
  t.ok([...released.values()].every(n => n === 1), 'each at most once')
})
