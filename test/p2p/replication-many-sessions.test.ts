/**
 * A Replica serves any number of sessions one after the other on one
 * connection: each session's stream is closed on both sides when it ends,
 * so it stops counting against the protocol's inbound stream limit
 * (MAX_INBOUND_STREAMS, 8). Left half-open, the ninth cycle of a primary
 * to the same Replica was refused.
 */
import t from 'tap'
import { join } from 'node:path'
import { replicateToPeer, type ReplicateToPeerInit } from '../../appliance/replication/replicate-to-peer.ts'
import { sparseFile, tempDir, testSeed, writePatches, scatteredPatches } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'
import { startNode, startReplica } from '../helpers/boxes.ts'

const MIB = 1024 * 1024
/** More sessions than the receiver's MAX_INBOUND_STREAMS. */
const SESSIONS = 12

t.test('twelve cycles in a row to one Replica over one connection all commit', async t => {
  const dir = await tempDir(t)
  const seed = testSeed(t)
  const image = join(dir, 'disk0.img')
  await sparseFile(image, 4 * MIB)
  const replica = await startReplica(t, dir)
  const primary = await startNode(t, join(dir, 'primary.key'))
  replica.policy.paired.add(primary.peerId.toString())
  const base: ReplicateToPeerInit = {
    node: primary, replica: replica.address, relationship: 'vm1', stateDir: join(dir, 'primary-state'),
    disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: 65536
  }
  for (let i = 0; i < SESSIONS; i++) {
    await writePatches(image, scatteredPatches(seed + i, 4 * MIB, 2, 4096))
    const session = replica.nextSession()
    await replicateToPeer(base)
    t.equal((await session).outcome, 'committed', `cycle ${i + 1}`)
  }
  t.equal(primary.getConnections().length, 1, 'one connection carried them all')
})
