/**
 * A Replica that answers `cycle-begin` with a `cycle-accept` granting no
 * credit: the primary ends the stream with a code (P2P_MESSAGE_MALFORMED),
 * never a TypeError, and keeps its cycle in flight (inflight.json) for the
 * next attempt.
 */
import t from 'tap'
import { join } from 'node:path'
import { stat } from 'node:fs/promises'
import { REPLICATION_PROTOCOL } from '../../p2p/replication/index.ts'
import { HELLO, ReplicationStream } from '../../p2p/replication/message-stream.ts'
import { replicateToPeer } from '../../appliance/replication/replicate-to-peer.ts'
import { sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'
import { loopbackAddress, startNode } from '../helpers/boxes.ts'

const BS = 65536

t.test('a cycle-accept with credit 0 is P2P_MESSAGE_MALFORMED and the cycle stays in flight', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'disk0.img')
  await sparseFile(image, 16 * BS)
  await writePatches(image, [{ offset: 0, length: 4 * BS }])
  const replica = await startNode(t, join(dir, 'replica.key'))
  const primary = await startNode(t, join(dir, 'primary.key'))
  let served: Promise<void> | undefined
  await replica.handle(REPLICATION_PROTOCOL, async stream => {
    const io = new ReplicationStream(stream)
    served = (async () => {
      await io.expect('hello')
      await io.send(HELLO)
      const begin = await io.expect('cycle-begin')
      await io.send({ t: 'cycle-accept', cycle: begin.cycle, resumeAfter: 0, credit: 0 })
      await io.next(10_000).catch(() => {})
    })()
    await served
  })
  const stateDir = join(dir, 'primary-state')
  await t.rejects(replicateToPeer({
    node: primary, replica: loopbackAddress(replica), relationship: 'vm1', stateDir,
    disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS
  }), { code: 'P2P_MESSAGE_MALFORMED' })
  t.ok((await stat(join(stateDir, 'inflight.json'))).isFile(), 'inflight.json is kept')
  await served
})
