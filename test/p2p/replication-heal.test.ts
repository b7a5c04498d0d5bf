/**
 * Healing over the replication protocol, on real libp2p nodes over
 * loopback: a block the Replica's verify found damaged is asked for in
 * `cycle-accept` (`heal`), sent again by the primary and stored again, so
 * the old and the new point verify and restore exactly; a primary whose
 * source no longer holds the content heals nothing; a resumed cycle asks
 * for the heal list it recorded; a hostile heal request ends the cycle
 * with P2P_PROTOCOL_VIOLATION.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { diskRoot, hashAt } from '../../core/manifest.ts'
import { materializePoint } from '../../core/restore.ts'
import { listBadBlocks, recordBadBlocks } from '../../core/store/bad-blocks.ts'
import { verifyPoint } from '../../core/verify.ts'
import type { RecoveryPointStore } from '../../core/store/index.ts'
import { P2pErrorCode } from '../../p2p/errors.ts'
import { REPLICATION_PROTOCOL, WireCodec, type ReplicationMessage } from '../../p2p/replication/index.ts'
import { HELLO, ReplicationStream } from '../../p2p/replication/message-stream.ts'
import { ReceivingCycle } from '../../p2p/replication/receive-cycle.ts'
import { replicateToPeer, type ReplicateToPeerInit } from '../../appliance/replication/replicate-to-peer.ts'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'
import { loopbackAddress, startNode, startReplica, type ReplicaBox } from '../helpers/boxes.ts'
import { damageStoredBlock } from '../helpers/store-facts.ts'

const BS = 65536
const SIZE = 64 * BS

interface Rig { dir: string, image: string, replica: ReplicaBox, peer: string, init: ReplicateToPeerInit }

/** A Replica holding point 1 of a 64-block image (blocks 0..19 written). */
async function rig (t: Test): Promise<Rig> {
  const dir = await tempDir(t)
  const image = join(dir, 'disk0.img')
  await sparseFile(image, SIZE)
  await writePatches(image, [{ offset: 0, length: 20 * BS }])
  const replica = await startReplica(t, dir)
  const primary = await startNode(t, join(dir, 'primary.key'))
  const peer = primary.peerId.toString()
  replica.policy.paired.add(peer)
  const init: ReplicateToPeerInit = {
    node: primary, replica: replica.address, relationship: 'vm1', stateDir: join(dir, 'primary-state'),
    disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS
  }
  const session = replica.nextSession()
  await replicateToPeer(init)
  t.equal((await session).outcome, 'committed')
  return { dir, image, replica, peer, init }
}

/** Runs `fn` on the Replica's store of the relationship (between sessions). */
async function withStore<T> (r: Rig, fn: (store: RecoveryPointStore) => Promise<T>): Promise<T> {
  const store = await r.replica.openStore(r.peer, 'vm1')
  try { return await fn(store) } finally { await store.close() }
}

async function restoresTo (r: Rig, store: RecoveryPointStore, pointId: number): Promise<string> {
  const out = join(r.dir, `restored-${pointId}-${randomBytes(4).toString('hex')}.img`)
  await materializePoint(store, pointId, 'disk0', out)
  return await fileHash(out)
}

t.test('the Replica asks for its damaged blocks; the primary sends them; both points verify and restore', async t => {
  const r = await rig(t)
  const hexes = await withStore(r, async store => {
    const damaged = [await damageStoredBlock(store, 1, 4, 7), await damageStoredBlock(store, 1, 11, 7)]
    const report = await verifyPoint(store, 1)
    t.same(report.problems.map(p => [p.block, p.code]), [[4, 'CORE_BLOCK_CORRUPT'], [11, 'CORE_BLOCK_CORRUPT']])
    return damaged
  })
  t.equal(hexes.length, 2)
  const session = r.replica.nextSession()
  const sent = await replicateToPeer(r.init)
  t.equal((await session).outcome, 'committed')
  t.equal(sent.healRequested, 2, 'the Replica asked for both damaged blocks')
  t.equal(sent.changedBlocks, 0, 'healing is not a change')
  const expected = await fileHash(r.image)
  await withStore(r, async store => {
    t.same(await listBadBlocks(store), [], 'the bad/ records are gone')
    t.ok((await verifyPoint(store, 1)).ok, 'the old point verifies')
    t.ok((await verifyPoint(store, 2)).ok, 'the new point verifies')
    t.equal(await restoresTo(r, store, 1), expected)
    t.equal(await restoresTo(r, store, 2), expected)
  })
  const next = r.replica.nextSession()
  const again = await replicateToPeer(r.init)
  await next
  t.equal(again.healRequested, 0, 'nothing left to ask for')
})

t.test('the primary no longer holds the content: nothing healed, still recorded bad', async t => {
  const r = await rig(t)
  const hex = await withStore(r, async store => {
    const h = await damageStoredBlock(store, 1, 6, 7)
    await verifyPoint(store, 1)
    return h
  })
  await writePatches(r.image, [{ offset: 6 * BS, length: BS }])
  const session = r.replica.nextSession()
  const sent = await replicateToPeer(r.init)
  t.equal((await session).outcome, 'committed')
  t.equal(sent.healRequested, 1)
  t.equal(sent.changedBlocks, 1)
  await withStore(r, async store => {
    t.same((await listBadBlocks(store)).map(b => b.hash), [hex])
    t.notOk((await verifyPoint(store, 1)).ok, 'the old point is still bad')
    t.ok((await verifyPoint(store, 2)).ok, 'the new point holds the new content')
    t.equal(await restoresTo(r, store, 2), await fileHash(r.image))
  })
})

t.test('a resumed cycle asks for the heal list it recorded, whatever the store records since, and heals', async t => {
  const r = await rig(t)
  await withStore(r, async store => {
    await damageStoredBlock(store, 1, 3, 7)
    await verifyPoint(store, 1)
  })
  const target = await r.replica.sink.open(r.peer, 'vm1')
  const latest = (await target.points()).at(-1)!
  const manifest = await target.manifest(latest.root, 'disk0')
  const begin: Extract<ReplicationMessage, { t: 'cycle-begin' }> = {
    t: 'cycle-begin', relationship: 'vm1', cycle: new Uint8Array(randomBytes(16)), term: latest.term, base: latest.root,
    time: Date.now(), consistency: 'crash', disks: [{ name: 'disk0', size: SIZE, blockSize: BS }]
  }
  const first = await ReceivingCycle.open(target, begin)
  t.same(first.heal, [{ disk: 'disk0', blocks: [3] }])
  // The primary's answer: block 3 as it is on its disk; then the link drops after the ack.
  const data = new Uint8Array((await readFile(r.image)).subarray(3 * BS, 4 * BS))
  await first.receive({ t: 'blocks', cycle: begin.cycle, seq: 1, disk: 'disk0', entries: [{ index: 3, hash: hashAt(manifest, 3), codec: WireCodec.RAW, rawLength: BS, data }] }, BS)
  t.equal(await first.checkpoint(), 1)
  await first.stop(true)
  await target.close()

  // Meanwhile verify records another damaged block.
  await withStore(r, async store => {
    const hash = Buffer.from(hashAt(manifest, 8)).toString('hex')
    await recordBadBlocks(store, [{ hash, code: 'CORE_BLOCK_CORRUPT' }])
  })
  const again = await r.replica.sink.open(r.peer, 'vm1')
  const resumed = await ReceivingCycle.open(again, begin)
  t.equal(resumed.resumeAfter, 1, 'the staged batch is kept')
  t.same(resumed.heal, [{ disk: 'disk0', blocks: [3] }], 'the same request: the sender cuts the same batches')
  await resumed.end({ t: 'cycle-end', cycle: begin.cycle, lastSeq: 1, disks: [{ name: 'disk0', root: diskRoot(manifest) }] })
  await again.close()
  await withStore(r, async store => {
    t.ok((await verifyPoint(store, 1)).ok, 'the resumed cycle healed block 3')
    t.same((await listBadBlocks(store)).map(b => b.hash), [Buffer.from(hashAt(manifest, 8)).toString('hex')], 'only the later record is left')
  })

  const third = await r.replica.sink.open(r.peer, 'vm1')
  t.teardown(async () => { await third.close() })
  const newest = (await third.points()).at(-1)!
  const fresh = await ReceivingCycle.open(third, { ...begin, cycle: new Uint8Array(randomBytes(16)), base: newest.root, term: newest.term })
  t.same(fresh.heal, [{ disk: 'disk0', blocks: [8] }], 'a new cycle asks for what is recorded now')
  await fresh.stop(false)
})

t.test('a hostile heal request ends the cycle with P2P_PROTOCOL_VIOLATION', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'disk0.img')
  await sparseFile(image, SIZE)
  await writePatches(image, [{ offset: 0, length: 4 * BS }])
  const fake = await startNode(t, join(dir, 'fake.key'))
  const primary = await startNode(t, join(dir, 'primary.key'))
  let heal: unknown
  let answered: (code: string) => void = () => {}
  // A Replica that accepts every cycle with the heal request under test, then reads what the sender says.
  await fake.handle(REPLICATION_PROTOCOL, async stream => {
    const io = new ReplicationStream(stream)
    try {
      await io.expect('hello')
      await io.send(HELLO)
      const begin = await io.expect('cycle-begin')
      await io.send({ t: 'cycle-accept', cycle: begin.cycle, resumeAfter: 0, credit: 8 * 2 ** 20, heal } as ReplicationMessage)
      for (;;) {
        const { message } = await io.next(10_000)
        if (message.t === 'error') { answered(message.code); break }
      }
    } catch (err) {
      answered(`no error message: ${(err as { code?: string }).code ?? String(err)}`)
      stream.abort(new Error('done'))
    }
  })
  const cases: Array<[string, unknown]> = [
    ['unsorted', [{ disk: 'disk0', blocks: [5, 3] }]],
    ['a repeated index', [{ disk: 'disk0', blocks: [3, 3] }]],
    ['past the end of the disk', [{ disk: 'disk0', blocks: [64] }]],
    ['a disk the cycle does not have', [{ disk: 'disk9', blocks: [1] }]],
    ['one disk twice', [{ disk: 'disk0', blocks: [1] }, { disk: 'disk0', blocks: [2] }]]
  ]
  const pool = scanPool(t)
  for (const [i, [name, request]] of cases.entries()) {
    heal = request
    const answer = new Promise<string>(resolve => { answered = resolve })
    const init: ReplicateToPeerInit = {
      node: primary, replica: loopbackAddress(fake), relationship: 'vm1', stateDir: join(dir, `primary-state-${i}`),
      disks: [{ name: 'disk0', path: image }], pool, blockSize: BS
    }
    await t.rejects(replicateToPeer(init), { code: P2pErrorCode.P2P_PROTOCOL_VIOLATION }, name)
    t.equal(await answer, P2pErrorCode.P2P_PROTOCOL_VIOLATION, `${name}: the sender told the Replica why`)
  }
})
