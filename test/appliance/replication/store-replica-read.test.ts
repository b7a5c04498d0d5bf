/**
 * StoreReplicaSink.readStore: the daemon's reads of a Replica store never go
 * behind a session's back and never wait for a session's cycle: while a
 * session holds the store, on its open store; while its first cycle has no
 * store yet, "no points" at once; with no session, on a read-only open
 * under the relationship's lock.
 */
import t from 'tap'
import { join } from 'node:path'
import { RecoveryPointStore } from '../../../core/store/index.ts'
import { StoreReplicaSink } from '../../../appliance/replication/store-replica.ts'
import { cycle, scanPool } from '../../helpers/engine.ts'
import { sparseFile, tempDir } from '../../helpers/fixtures.ts'

const PEER = '12D3KooWPrimaryA'
const list = async (s: RecoveryPointStore): Promise<number[]> => (await s.listPoints()).map(p => p.id)

t.test('reads during and between sessions', async t => {
  const dir = await tempDir(t)
  const sink = new StoreReplicaSink({ dir })
  t.equal(await sink.readStore(PEER, 'web-1', list), undefined, 'no store, no session')

  const first = await sink.open(PEER, 'web-1')
  t.equal(await sink.readStore(PEER, 'web-1', list), undefined, 'a first session that has not staged yet: no points, no wait')
  await first.close()

  const image = join(dir, 'disk0.img')
  await sparseFile(image, 1024 * 1024)
  const store = await RecoveryPointStore.open(sink.replicaDir(PEER, 'web-1'), { create: true, blockSize: 65536 })
  await cycle(store, scanPool(t), image)
  await store.close()

  t.same(await sink.readStore(PEER, 'web-1', list), [1], 'no session: a read-only open')
  const session = await sink.open(PEER, 'web-1')
  t.same(await sink.readStore(PEER, 'web-1', list), [1], 'during a session: through its open store, without waiting for it')
  await session.close()
  t.same(await sink.readStore(PEER, 'web-1', list), [1], 'after it')
  await sink.close()
  await t.rejects(sink.readStore(PEER, 'web-1', list), { code: 'P2P_STREAM_CLOSED' }, 'a closed sink reads nothing')
})
