/**
 * Declared disk sizes are bounded before the Replica allocates anything:
 * at the boundary (not an exact integer, above MAX_DISK_BYTES, more than
 * MAX_CYCLE_BLOCKS blocks: P2P_MESSAGE_MALFORMED), then against the
 * Replica's configured maximum and its store's free space
 * (P2P_REPLICA_NO_SPACE). A refused cycle leaves no trace in the store.
 */
import t from 'tap'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { pack } from 'msgpackr'
import { isDirectory } from '../../appliance/fs-util.ts'
import { P2pErrorCode } from '../../p2p/errors.ts'
import {
  decodeReplication, MAX_CYCLE_BLOCKS, MAX_DISK_BYTES, REPLICATION_PROTOCOL, ReplicationReceiver,
  type ReplicaSink, type ReplicaTarget, type ReplicationMessage, type SessionEvent
} from '../../p2p/replication/index.ts'
import { ReplicationStream } from '../../p2p/replication/message-stream.ts'
import { StoreReplicaSink } from '../../appliance/replication/store-replica.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { loopbackAddress, startNode, TestPolicy } from '../helpers/boxes.ts'

const GIB = 1024 ** 3
const cycle = new Uint8Array(16).fill(1)
const begin = (disks: unknown[]): Record<string, unknown> => ({ t: 'cycle-begin', relationship: 'vm1', cycle, term: 1, base: null, time: 1, consistency: 'crash', disks })
const end = (size: unknown): Record<string, unknown> => ({ t: 'manifest-end', disk: 'disk0', size, blockSize: 65536, root: 'ab'.repeat(32) })

t.test('sizes at the boundary', async t => {
  // Each case: what is declared; whether it decodes.
  const cases: Array<[string, unknown, number, boolean]> = [
    ['64 GiB', 64 * GIB, 65536, true],
    ['MAX_DISK_BYTES', MAX_DISK_BYTES, 4 * 1024 * 1024, true],
    ['one byte more than MAX_DISK_BYTES', MAX_DISK_BYTES + 1, 4 * 1024 * 1024, false],
    ['2^53-1', Number.MAX_SAFE_INTEGER, 65536, false],
    ['2^53', 2 ** 53, 65536, false],
    ['a fraction', 1.5, 65536, false],
    ['negative', -1, 65536, false],
    ['a string', '1024', 65536, false],
    ['MAX_CYCLE_BLOCKS blocks', MAX_CYCLE_BLOCKS * 4096, 4096, true],
    ['one block more than MAX_CYCLE_BLOCKS', MAX_CYCLE_BLOCKS * 4096 + 1, 4096, false]
  ]
  for (const [what, size, blockSize, ok] of cases) {
    const m = pack(begin([{ name: 'disk0', size, blockSize }]))
    if (ok) t.equal((decodeReplication(m) as { disks: Array<{ size: number }> }).disks[0]!.size, size, `cycle-begin: ${what}`)
    else t.throws(() => decodeReplication(m), { code: 'P2P_MESSAGE_MALFORMED' }, `cycle-begin: ${what}`)
  }
  for (const [what, size, , ok] of cases.slice(0, 8)) {
    if (ok) t.doesNotThrow(() => decodeReplication(pack(end(size))), `manifest-end: ${what}`)
    else t.throws(() => decodeReplication(pack(end(size))), { code: 'P2P_MESSAGE_MALFORMED' }, `manifest-end: ${what}`)
  }
  const half = MAX_CYCLE_BLOCKS / 2 * 4096
  t.doesNotThrow(() => decodeReplication(pack(begin([{ name: 'a', size: half, blockSize: 4096 }, { name: 'b', size: half, blockSize: 4096 }]))), 'two disks of half the blocks each')
  t.throws(() => decodeReplication(pack(begin([{ name: 'a', size: half, blockSize: 4096 }, { name: 'b', size: half + 1, blockSize: 4096 }]))), { code: 'P2P_MESSAGE_MALFORMED' }, 'the blocks of all disks count together')
})

/** A sink whose targets report `free` bytes free (fault injection: a nearly full store). */
class FreeSpaceSink implements ReplicaSink {
  free: number | undefined
  private readonly inner: ReplicaSink
  constructor (inner: ReplicaSink) { this.inner = inner }
  async open (peer: string, relationship: string, signal?: AbortSignal): Promise<ReplicaTarget> {
    const target = await this.inner.open(peer, relationship, signal)
    const free = this.free
    if (free === undefined) return target
    return {
      points: async () => await target.points(),
      manifest: async (root, disk) => await target.manifest(root, disk),
      resumeStage: async c => await target.resumeStage(c),
      newStage: async (c, bs) => await target.newStage(c, bs),
      close: async () => { await target.close() },
      freeBytes: async () => free
    }
  }
}

t.test('a Replica refuses what it cannot hold, before it allocates anything', async t => {
  const dir = await tempDir(t)
  const policy = new TestPolicy()
  const node = await startNode(t, join(dir, 'replica.key'), policy)
  const inner = new StoreReplicaSink({ dir: join(dir, 'replicas') })
  const sink = new FreeSpaceSink(inner)
  const sessions: SessionEvent[] = []
  const receiver = new ReplicationReceiver({ node, policy, sink, maxCycleBytes: 2 * 1024 ** 4, onSession: e => { sessions.push(e) } })
  await receiver.start()
  t.teardown(async () => { await receiver.stop() })
  const peerNode = await startNode(t, join(dir, 'peer.key'))
  const peer = peerNode.peerId.toString()
  policy.paired.add(peer)

  const answer = async (disks: unknown[]): Promise<string> => {
    const stream = await peerNode.dialProtocol(loopbackAddress(node), REPLICATION_PROTOCOL)
    const io = new ReplicationStream(stream)
    try {
      await io.send({ t: 'hello', versions: [2], capabilities: [] })
      await io.next(10_000)
      stream.send(encodeFrameOf(pack({ ...begin(disks), cycle: new Uint8Array(randomBytes(16)) })))
      const m = (await io.next(10_000)).message
      return m.t === 'error' ? m.code : m.t
    } catch (err) {
      return `failed: ${(err as { code?: string }).code ?? String(err)}`
    } finally {
      stream.abort(new Error('test done'))
    }
  }
  const rss = process.memoryUsage().rss
  // Each case: the disks declared, the free space the store reports, the answer.
  const cases: Array<[string, unknown[], number | undefined, string]> = [
    ['a disk of 2^53-1 bytes', [{ name: 'disk0', size: Number.MAX_SAFE_INTEGER, blockSize: 65536 }], undefined, P2pErrorCode.P2P_MESSAGE_MALFORMED],
    ['more than the configured maximum', [{ name: 'disk0', size: 2 * 1024 ** 4, blockSize: 1024 ** 2 }, { name: 'disk1', size: 1, blockSize: 1024 ** 2 }], undefined, P2pErrorCode.P2P_REPLICA_NO_SPACE],
    ['manifests larger than the free space', [{ name: 'disk0', size: 64 * GIB, blockSize: 65536 }], 32 * 1024 ** 2 - 1, P2pErrorCode.P2P_REPLICA_NO_SPACE]
  ]
  for (const [what, disks, free, code] of cases) {
    sink.free = free
    t.equal(await answer(disks), code, what)
  }
  t.ok(process.memoryUsage().rss - rss < 256 * 1024 ** 2, 'the Replica allocated no manifest for them')
  t.notOk(await isDirectory(inner.replicaDir(peer, 'vm1')), 'and created no store, no staging')

  const real = await inner.open(peer, 'vm2')
  t.ok(await real.freeBytes!() > 0, 'the store sink reports free space, also before the replica directory exists')
  await real.close()

  sink.free = 32 * 1024 ** 2
  t.equal(await answer([{ name: 'disk0', size: 64 * GIB, blockSize: 65536 }]), 'cycle-accept', 'manifests that fit the free space are accepted')
})

function encodeFrameOf (payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.byteLength)
  new DataView(out.buffer).setUint32(0, payload.byteLength)
  out.set(payload, 4)
  return out
}
