/**
 * A paired peer that misbehaves on the replication protocol: an oversized
 * frame, malformed msgpack, an unknown message type, a block whose hash
 * does not match, a commit without its blocks, messages out of order, a
 * stale term. Each ends that stream with its error code on the wire; the
 * Replica keeps serving (a normal cycle succeeds afterwards) and its store
 * is unchanged (same points, same packs, no staging left).
 */
import t from 'tap'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { hashBlock } from '../../core/hash.ts'
import { diskRoot } from '../../core/manifest.ts'
import { StagedCycle } from '../../core/store/index.ts'
import { materializePoint } from '../../core/restore.ts'
import { P2pErrorCode } from '../../p2p/errors.ts'
import { REPLICATION_PROTOCOL, MAX_REPLICATION_FRAME_BYTES, WireCodec, type ReplicationMessage } from '../../p2p/replication/index.ts'
import { ReplicationStream } from '../../p2p/replication/message-stream.ts'
import { replicateToPeer, type ReplicateToPeerInit } from '../../appliance/replication/replicate-to-peer.ts'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'
import { startNode, startReplica } from '../helpers/boxes.ts'

const BS = 65536
const SIZE = 16 * BS

t.test('hostile messages end their stream with a code and change nothing', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'disk0.img')
  await sparseFile(image, SIZE)
  await writePatches(image, [{ offset: 0, length: 4 * BS }])
  const replica = await startReplica(t, dir)
  const peerNode = await startNode(t, join(dir, 'peer.key'))
  const peer = peerNode.peerId.toString()
  replica.policy.paired.add(peer)
  const init: ReplicateToPeerInit = {
    node: peerNode, replica: replica.address, relationship: 'vm1', stateDir: join(dir, 'primary-state'),
    disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS
  }
  const first = await replicateToPeer(init)
  await replica.session(1)

  const snapshot = async (): Promise<{ points: string[], packs: string[], stages: string[] }> => {
    const store = await replica.openStore(peer, 'vm1')
    try {
      return { points: (await store.listPoints()).map(p => p.root), packs: (await readdir(store.packsDir)).sort(), stages: await StagedCycle.list(store) }
    } finally {
      await store.close()
    }
  }
  const before = await snapshot()

  const cycle = new Uint8Array(randomBytes(16))
  const shape = { name: 'disk0', size: SIZE, blockSize: BS }
  const begin = (over: Partial<Extract<ReplicationMessage, { t: 'cycle-begin' }>> = {}): ReplicationMessage =>
    ({ t: 'cycle-begin', relationship: 'vm1', cycle, term: 1, base: first.root, time: 1, consistency: 'crash', disks: [shape], ...over })
  const block = randomBytes(BS)
  const goodEntry = { index: 5, hash: hashBlock(block), codec: WireCodec.RAW, rawLength: BS, data: new Uint8Array(block) }
  const hello: ReplicationMessage = { t: 'hello', versions: [2], capabilities: [] }
  const raw = (bytes: Uint8Array): { raw: Uint8Array } => ({ raw: bytes })
  const frame = (length: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array => {
    const out = new Uint8Array(4 + payload.byteLength)
    new DataView(out.buffer).setUint32(0, length)
    out.set(payload, 4)
    return out
  }
  const EXPECT_ACCEPT = 'accept'

  // Each case: what the peer sends ('accept' waits for cycle-accept); the code the Replica must answer with.
  const cases: Array<[string, Array<ReplicationMessage | { raw: Uint8Array } | typeof EXPECT_ACCEPT>, P2pErrorCode]> = [
    ['oversized frame', [hello, raw(frame(MAX_REPLICATION_FRAME_BYTES + 1))], 'P2P_FRAME_TOO_LARGE'],
    ['malformed msgpack', [hello, raw(frame(1, Uint8Array.from([0xc1])))], 'P2P_MESSAGE_MALFORMED'],
    ['unknown message type', [hello, raw(frame(12, new Uint8Array(Buffer.from('81a174a8666f726d61742d64', 'hex'))))], 'P2P_MESSAGE_UNKNOWN'],
    ['a block whose hash does not match', [hello, begin(), EXPECT_ACCEPT, { t: 'blocks', cycle, seq: 1, disk: 'disk0', entries: [{ ...goodEntry, hash: hashBlock(randomBytes(8)) }] }], 'P2P_BLOCK_HASH_MISMATCH'],
    ['a zero entry that is not zeros', [hello, begin(), EXPECT_ACCEPT, { t: 'blocks', cycle, seq: 1, disk: 'disk0', entries: [{ index: 6, hash: goodEntry.hash, codec: WireCodec.ZERO, rawLength: BS, data: new Uint8Array(0) }] }], 'P2P_BLOCK_HASH_MISMATCH'],
    ['a commit without its blocks', [hello, begin(), EXPECT_ACCEPT, { t: 'blocks', cycle, seq: 1, disk: 'disk0', entries: [goodEntry] },
      { t: 'cycle-end', cycle, lastSeq: 1, disks: [{ name: 'disk0', root: diskRoot({ size: SIZE, blockSize: BS, hashes: new Uint8Array(16 * 32).fill(7) }) }] }], 'P2P_ROOT_MISMATCH'],
    ['blocks before cycle-begin', [hello, { t: 'blocks', cycle, seq: 1, disk: 'disk0', entries: [goodEntry] }], 'P2P_PROTOCOL_VIOLATION'],
    ['a batch number skipped', [hello, begin(), EXPECT_ACCEPT, { t: 'blocks', cycle, seq: 2, disk: 'disk0', entries: [goodEntry] }], 'P2P_PROTOCOL_VIOLATION'],
    ['cycle-end claiming batches that never came', [hello, begin(), EXPECT_ACCEPT, { t: 'cycle-end', cycle, lastSeq: 3, disks: [{ name: 'disk0', root: first.root }] }], 'P2P_PROTOCOL_VIOLATION'],
    ['a block past the end of the disk', [hello, begin(), EXPECT_ACCEPT, { t: 'blocks', cycle, seq: 1, disk: 'disk0', entries: [{ ...goodEntry, index: 16 }] }], 'P2P_PROTOCOL_VIOLATION'],
    ['a batch for another disk', [hello, begin(), EXPECT_ACCEPT, { t: 'blocks', cycle, seq: 1, disk: 'disk9', entries: [goodEntry] }], 'P2P_PROTOCOL_VIOLATION'],
    ['an ack from the sender', [hello, begin(), EXPECT_ACCEPT, { t: 'ack', cycle, seq: 1, credit: 1 }], 'P2P_PROTOCOL_VIOLATION'],
    ['a second hello', [hello, { ...hello }], 'P2P_PROTOCOL_VIOLATION'],
    ['no common version', [{ t: 'hello', versions: [7], capabilities: [] }], 'P2P_VERSION_UNSUPPORTED'],
    ['a stale term', [hello, begin({ term: 0 })], 'P2P_STALE_TERM'],
    ['an unknown base', [hello, begin({ base: 'cd'.repeat(32) })], 'P2P_RESYNC_REQUIRED']
  ]
  // The first cycle ran at term 1, so term 0 is stale.
  for (const [name, steps, code] of cases) {
    const stream = await peerNode.dialProtocol(replica.address, REPLICATION_PROTOCOL)
    const io = new ReplicationStream(stream)
    const ended = replica.nextSession()
    let answer: string | undefined
    try {
      for (const [i, step] of steps.entries()) {
        if (step === EXPECT_ACCEPT) {
          const m = (await io.next(10_000)).message
          if (m.t !== 'cycle-accept') throw new Error(`expected cycle-accept, got ${m.t}`)
        } else if ('raw' in step) {
          stream.send(step.raw)
        } else {
          await io.send(step)
          if (i === 0) { // the Replica answers the opening hello with its own, or with an error
            const m = (await io.next(10_000)).message
            if (m.t === 'error') { answer = m.code; break }
          }
        }
      }
      // Read until the Replica's error (acks may come first).
      while (answer === undefined) {
        const m = (await io.next(10_000)).message
        if (m.t === 'error') answer = m.code
      }
    } catch (err) {
      answer = `failed: ${(err as { code?: string }).code ?? String(err)}`
    }
    stream.abort(new Error('test done'))
    t.equal(answer, code, `${name}: the Replica answers ${code}`)
    t.equal((await ended).outcome, code, `${name}: the session ended with it`)
  }
  t.same(await snapshot(), before, 'the store is unchanged: same points, same packs, no staging left')

  await writePatches(image, [{ offset: 8 * BS, length: BS }])
  const sessions = replica.sessions.length
  const after = await replicateToPeer(init)
  t.equal(after.changedBlocks, 1, 'the Replica keeps serving: a normal cycle still works')
  t.equal((await replica.session(sessions + 1)).outcome, 'committed')
  const store = await replica.openStore(peer, 'vm1')
  t.teardown(async () => { await store.close() })
  const latest = (await store.latestPoint())!
  t.equal(latest.root, after.root)
  const out = join(dir, 'restored.img')
  await materializePoint(store, latest.id, 'disk0', out)
  t.equal(await fileHash(out), await fileHash(image), 'and its point is exact')
})
