/**
 * Faults on the Replica's side of a cycle, injected by wrapping its store
 * (restic style: a wrapper fails the Nth write): a store write that fails
 * mid-cycle (a full disk) ends the stream with P2P_REPLICA_FAILED, keeps
 * what was durably staged, and the primary's next attempt resumes the same
 * cycle and commits an exact point.
 */
import t from 'tap'
import { join } from 'node:path'
import { CoreError, CoreErrorCode } from '../../core/errors.ts'
import { materializePoint } from '../../core/restore.ts'
import { P2pErrorCode } from '../../p2p/errors.ts'
import { ReplicationReceiver, type ReplicaSink, type ReplicaTarget } from '../../p2p/replication/index.ts'
import { replicateToPeer, type ReplicateToPeerInit } from '../../appliance/replication/replicate-to-peer.ts'
import { StoreReplicaSink } from '../../appliance/replication/store-replica.ts'
import { RecoveryPointStore } from '../../core/store/index.ts'
import { fileHash, scatteredPatches, sparseFile, tempDir, testSeed, writePatches } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'
import { withWrappedStages } from '../helpers/stage-wrapper.ts'
import { loopbackAddress, startNode, TestPolicy } from '../helpers/boxes.ts'

const MIB = 1024 * 1024

/** A sink whose stages fail `putBlocks` once `failAfter` calls have succeeded, while `armed`. */
class FailingSink implements ReplicaSink {
  armed = true
  calls = 0
  private readonly inner: ReplicaSink
  private readonly failAfter: number
  constructor (inner: ReplicaSink, failAfter: number) {
    this.inner = inner
    this.failAfter = failAfter
  }

  async open (peer: string, relationship: string, signal?: AbortSignal): Promise<ReplicaTarget> {
    const target = await this.inner.open(peer, relationship, signal)
    return withWrappedStages(target, stage => ({
      ...stage,
      putBlocks: async blocks => {
        if (this.armed && ++this.calls > this.failAfter) throw new CoreError(CoreErrorCode.CORE_WRITE_FAILED, 'No space left on device (injected)')
        await stage.putBlocks(blocks)
      }
    }))
  }
}

t.test('a store write failing mid-cycle loses nothing; the next attempt resumes and commits', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'disk0.img')
  const size = 64 * MIB
  await sparseFile(image, size)
  await writePatches(image, scatteredPatches(testSeed(t), size, 60, 2 * MIB))

  const policy = new TestPolicy()
  const node = await startNode(t, join(dir, 'replica.key'), policy)
  const inner = new StoreReplicaSink({ dir: join(dir, 'replicas') })
  const sink = new FailingSink(inner, 6)
  const outcomes: string[] = []
  let causes: unknown[] = []
  let waiting: (() => void) | undefined
  const receiver = new ReplicationReceiver({ node, policy, sink, credit: 2 * MIB, onSession: e => { outcomes.push(e.outcome); causes.push(e.cause); waiting?.() } })
  /** The Replica reports a session after its store work is done, which may be after the primary heard the outcome. */
  const sessionsEnded = async (n: number): Promise<void> => {
    while (outcomes.length < n) await new Promise<void>(resolve => { waiting = resolve })
  }
  await receiver.start()
  t.teardown(async () => { await receiver.stop() })
  const primary = await startNode(t, join(dir, 'primary.key'))
  policy.paired.add(primary.peerId.toString())
  const init: ReplicateToPeerInit = {
    node: primary, replica: loopbackAddress(node), relationship: 'vm1', stateDir: join(dir, 'primary-state'),
    disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: 65536
  }

  await t.rejects(replicateToPeer(init), { code: P2pErrorCode.P2P_REPLICA_FAILED }, 'the primary is told the Replica failed')
  await sessionsEnded(1)
  t.same(outcomes, ['P2P_REPLICA_FAILED'])
  t.equal((causes[0] as CoreError).code, 'CORE_WRITE_FAILED', 'the Replica keeps the store error for its log')
  causes = []

  sink.armed = false
  const report = await replicateToPeer(init)
  t.equal(report.resumed, true, 'the primary resumed the cycle in flight')
  t.ok(report.resumedAfter > 0, `the Replica had batches 1..${report.resumedAfter} durably staged`)
  await sessionsEnded(2)
  t.equal(outcomes[1], 'committed')
  await receiver.stop()
  const store = await RecoveryPointStore.open(inner.replicaDir(primary.peerId.toString(), 'vm1'))
  t.teardown(async () => { await store.close() })
  const point = (await store.latestPoint())!
  const out = join(dir, 'restored.img')
  await materializePoint(store, point.id, 'disk0', out)
  t.equal(await fileHash(out), await fileHash(image), 'the point is exact')
})
