/**
 * The Replica enforces the credit it grants: a paired sender that keeps
 * writing `blocks` frames without waiting for acks is refused with
 * P2P_PROTOCOL_VIOLATION once it exceeds its credit. The stream ends, the
 * Replica keeps serving, and what the sender staged is kept (every block
 * of it was verified). Checkpoints are held (fault injection) so that no
 * ack can go out: the overrun is deterministic.
 */
import t from 'tap'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { hashBlock } from '../../core/hash.ts'
import { RecoveryPointStore, StagedCycle } from '../../core/store/index.ts'
import { P2pErrorCode } from '../../p2p/errors.ts'
import { REPLICATION_PROTOCOL, ReplicationReceiver, WireCodec, type ReplicaSink, type ReplicaTarget, type ReplicationMessage, type SessionEvent } from '../../p2p/replication/index.ts'
import { ReplicationStream } from '../../p2p/replication/message-stream.ts'
import { StoreReplicaSink } from '../../appliance/replication/store-replica.ts'
import { replicateToPeer } from '../../appliance/replication/replicate-to-peer.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'
import { withWrappedStages } from '../helpers/stage-wrapper.ts'
import { loopbackAddress, startNode, TestPolicy } from '../helpers/boxes.ts'

const BS = 65536
const CREDIT = 256 * 1024

/** A sink whose checkpoints of batches wait until `release()`: the Replica can stage but not acknowledge. */
class HeldSink implements ReplicaSink {
  private open_ = false
  private readonly waiting: Array<() => void> = []
  private readonly inner: ReplicaSink
  constructor (inner: ReplicaSink) { this.inner = inner }
  release (): void { this.open_ = true; for (const w of this.waiting.splice(0)) w() }
  private async gate (): Promise<void> { if (!this.open_) await new Promise<void>(resolve => { this.waiting.push(resolve) }) }
  async open (peer: string, relationship: string, signal?: AbortSignal): Promise<ReplicaTarget> {
    const target = await this.inner.open(peer, relationship, signal)
    return withWrappedStages(target, stage => ({
      ...stage,
      // Checkpoint 0 (the cycle's description, written before cycle-accept) passes.
      checkpoint: async (progress, journal) => { if (progress > 0) await this.gate(); await stage.checkpoint(progress, journal) }
    }))
  }
}

t.test('a sender that ignores its credit is refused; the Replica keeps serving and keeps the staging', async t => {
  const dir = await tempDir(t)
  const policy = new TestPolicy()
  const node = await startNode(t, join(dir, 'replica.key'), policy)
  const inner = new StoreReplicaSink({ dir: join(dir, 'replicas') })
  const sink = new HeldSink(inner)
  const sessions: SessionEvent[] = []
  let waiting: (() => void) | undefined
  const receiver = new ReplicationReceiver({ node, policy, sink, credit: CREDIT, onSession: e => { sessions.push(e); waiting?.() } })
  await receiver.start()
  t.teardown(async () => { await receiver.stop() })
  const sessionEnded = async (n: number): Promise<SessionEvent> => {
    while (sessions.length < n) await new Promise<void>(resolve => { waiting = resolve })
    return sessions[n - 1]!
  }
  const hostile = await startNode(t, join(dir, 'hostile.key'))
  const peer = hostile.peerId.toString()
  policy.paired.add(peer)

  const cycle = new Uint8Array(randomBytes(16))
  const stream = await hostile.dialProtocol(loopbackAddress(node), REPLICATION_PROTOCOL)
  const io = new ReplicationStream(stream)
  await io.send({ t: 'hello', versions: [2], capabilities: [] })
  t.equal((await io.next(10_000)).message.t, 'hello')
  await io.send({ t: 'cycle-begin', relationship: 'vm1', cycle, term: 1, base: null, time: 1, consistency: 'crash', disks: [{ name: 'disk0', size: 64 * BS, blockSize: BS }] })
  const accept = (await io.next(10_000)).message
  t.match(accept, { t: 'cycle-accept', credit: CREDIT })
  // 16 batches of one 64 KiB block each (1 MiB, four times the credit), sent without waiting for any ack.
  for (let seq = 1; seq <= 16; seq++) {
    const block = randomBytes(BS)
    const m: ReplicationMessage = { t: 'blocks', cycle, seq, disk: 'disk0', entries: [{ index: seq, hash: hashBlock(block), codec: WireCodec.RAW, rawLength: BS, data: new Uint8Array(block) }] }
    await io.send(m).catch(() => {})
  }
  let answer: string | undefined
  try {
    while (answer === undefined) {
      const m = (await io.next(10_000)).message
      if (m.t === 'error') answer = m.code
    }
  } catch (err) {
    answer = `failed: ${(err as { code?: string }).code ?? String(err)}`
  }
  stream.abort(new Error('test done'))
  t.equal(answer, P2pErrorCode.P2P_PROTOCOL_VIOLATION, 'the Replica refuses the overrun')
  sink.release()
  const ended = await sessionEnded(1)
  t.equal(ended.outcome, P2pErrorCode.P2P_PROTOCOL_VIOLATION, 'the session ended with it')
  t.ok(ended.receivedBytes < 16 * BS, `the Replica stopped reading early (${ended.receivedBytes} bytes)`)

  const store = await RecoveryPointStore.open(inner.replicaDir(peer, 'vm1'))
  t.same(await StagedCycle.list(store), [Buffer.from(cycle).toString('hex')], 'the staging is kept for a resume')
  await store.close()

  // The Replica keeps serving: an honest cycle from the same peer commits.
  const image = join(dir, 'disk0.img')
  await sparseFile(image, 16 * BS)
  await writePatches(image, [{ offset: 0, length: 8 * BS }])
  const sent = await replicateToPeer({
    node: hostile, replica: loopbackAddress(node), relationship: 'vm1', stateDir: join(dir, 'primary-state'),
    disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS
  })
  t.equal((await sessionEnded(2)).outcome, 'committed')
  t.ok(sent.root.length > 0)
})
