/**
 * The replication protocol end to end on real libp2p nodes over loopback:
 * a 1 GiB image replicated from a primary to a Replica restores to exactly
 * its bytes; the next cycle sends only the changed blocks (bytes on the wire
 * counted on both sides); a Replica that lost the base point makes the
 * primary resynchronize by manifest; a stale term is refused.
 */
import t from 'tap'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { open } from 'node:fs/promises'
import { materializePoint } from '../../core/restore.ts'
import { prune } from '../../core/store/index.ts'
import { replicateToPeer, type ReplicateToPeerInit } from '../../appliance/replication/replicate-to-peer.ts'
import { fileHash, prng, sparseFile, tempDir, testSeed, writePatches, scatteredPatches } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'
import { startNode, startReplica, type ReplicaBox } from '../helpers/boxes.ts'

const GIB = 1024 ** 3
const BS = 65536

/** Restores the Replica's latest point of `disk0` and returns its hash, and the replica image's. */
async function replicaHashes (replica: ReplicaBox, peer: string, dir: string, name: string): Promise<{ point: string, image: string, term: number | undefined }> {
  const store = await replica.openStore(peer, 'vm1')
  try {
    const latest = (await store.latestPoint())!
    const out = join(dir, `${name}.restored`)
    await materializePoint(store, latest.id, 'disk0', out)
    return { point: await fileHash(out), image: await fileHash(store.imagePath('disk0')), term: latest.term }
  } finally {
    await store.close()
  }
}

/** Overwrites `count` distinct whole blocks with random bytes; returns their indices. */
async function rewriteBlocks (path: string, size: number, count: number, seed: number): Promise<number[]> {
  const rnd = prng(seed)
  const picked = new Set<number>()
  while (picked.size < count) picked.add(Math.floor(rnd() * (size / BS)))
  const h = await open(path, 'r+')
  try {
    for (const i of picked) await h.write(randomBytes(BS), 0, BS, i * BS)
  } finally {
    await h.close()
  }
  return [...picked]
}

t.test('1 GiB replicated exactly; the next cycle sends only the changed blocks', async t => {
  const dir = await tempDir(t)
  const seed = testSeed(t)
  const image = join(dir, 'disk0.img')
  await sparseFile(image, GIB)
  await writePatches(image, scatteredPatches(seed, GIB, 300, 512 * 1024))
  await writePatches(image, scatteredPatches(seed + 1, GIB, 100, 256 * 1024).map(p => ({ ...p, fill: 0x5a })))

  const replica = await startReplica(t, dir)
  const primary = await startNode(t, join(dir, 'primary.key'))
  replica.policy.paired.add(primary.peerId.toString())
  const peer = primary.peerId.toString()
  const base: ReplicateToPeerInit = {
    node: primary, replica: replica.address, relationship: 'vm1', stateDir: join(dir, 'primary-state'),
    disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS
  }

  let session = replica.nextSession()
  const first = await replicateToPeer(base)
  const firstSession = await session
  t.equal(firstSession.outcome, 'committed')
  t.equal(firstSession.receivedBytes, first.wireBytes, 'both sides count the same bytes')
  t.ok(first.blockBytes < GIB / 4, `the sparse, partly compressible image travels compressed (${first.blockBytes} bytes of blocks)`)
  const source1 = await fileHash(image)
  const got1 = await replicaHashes(replica, peer, dir, 'first')
  t.equal(got1.point, source1, 'the recovery point restores to exactly the primary\'s bytes')
  t.equal(got1.image, source1, 'and the replica image holds them too')
  t.equal(got1.term, 1)

  const changed = await rewriteBlocks(image, GIB, Math.round(GIB / BS / 100), seed + 2)
  session = replica.nextSession()
  const second = await replicateToPeer(base)
  const secondSession = await session
  t.equal(second.changedBlocks, changed.length, 'the cycle found exactly the rewritten blocks')
  const changedBytes = changed.length * BS
  t.ok(second.blockBytes >= changedBytes && second.blockBytes <= changedBytes * 1.01, `block frames ${second.blockBytes} ~ changed bytes ${changedBytes} (random data does not compress)`)
  t.ok(second.wireBytes <= changedBytes * 1.01 + 16 * 1024, `everything on the wire: ${second.wireBytes} bytes`)
  t.equal(secondSession.receivedBytes, second.wireBytes)
  const got2 = await replicaHashes(replica, peer, dir, 'second')
  t.equal(got2.point, await fileHash(image), 'the second point is exact')
  t.equal(got2.image, got2.point)
})

t.test('a Replica without the base point makes the primary resynchronize by manifest', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'disk0.img')
  await sparseFile(image, 64 * BS)
  await writePatches(image, [{ offset: 0, length: 20 * BS }])
  const replica = await startReplica(t, dir)
  const primary = await startNode(t, join(dir, 'primary.key'))
  replica.policy.paired.add(primary.peerId.toString())
  const init: ReplicateToPeerInit = {
    node: primary, replica: replica.address, relationship: 'vm1', stateDir: join(dir, 'primary-state'),
    disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS
  }
  let session = replica.nextSession()
  await replicateToPeer(init)
  await session
  // The primary loses its record of what the Replica holds: the next cycle would resend everything.
  const other = { ...init, stateDir: join(dir, 'fresh-state') }
  await writePatches(image, [{ offset: 30 * BS, length: 2 * BS }])
  session = replica.nextSession()
  const fresh = await replicateToPeer(other)
  await session
  t.equal(fresh.resynced, false, 'a fresh primary with no base sends an initial cycle')
  // Retention on the Replica dropped the point the first primary state names as its base.
  const store = await replica.openStore(primary.peerId.toString(), 'vm1')
  await prune(store, { additional: 0, intervalMs: 0 })
  t.equal((await store.listPoints()).length, 1)
  await store.close()
  const stale = { ...init }
  await writePatches(image, [{ offset: 40 * BS, length: BS }])
  session = replica.nextSession()
  const report = await replicateToPeer(stale)
  t.equal((await session).outcome, 'P2P_RESYNC_REQUIRED')
  t.equal(report.resynced, true, 'resynchronized from the Replica\'s manifests')
  t.equal(report.changedBlocks, 1, 'and sent only the block that differs from what the Replica holds')
  const got = await replicaHashes(replica, primary.peerId.toString(), dir, 'resync')
  t.equal(got.point, await fileHash(image))
})
