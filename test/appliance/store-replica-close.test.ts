/**
 * StoreReplicaSink.close(), which the daemon's stop calls after the
 * receiver stopped: it waits until every open target is closed (its store
 * released), gives up when its signal aborts, and refuses new sessions.
 */
import t from 'tap'
import { join } from 'node:path'
import { StoreReplicaSink } from '../../appliance/replication/store-replica.ts'
import { tempDir } from '../helpers/fixtures.ts'

const PEER = '12D3KooWGRbfabh3dcHT5spviCYeMKCCsm8Pj38PMwDjKvxgojGV'
const turn = async (): Promise<void> => { await new Promise(resolve => { setImmediate(resolve) }) }

t.test('close waits for open targets, then refuses new ones', async t => {
  const sink = new StoreReplicaSink({ dir: join(await tempDir(t), 'store') })
  const target = await sink.open(PEER, 'vm1')
  let closed = false
  const closing = sink.close().then(() => { closed = true })
  await turn()
  t.notOk(closed, 'still waiting while a target is open')
  await t.rejects(sink.open(PEER, 'vm2'), { code: 'P2P_STREAM_CLOSED' }, 'no new session once closing')
  await target.close()
  await closing
  t.ok(closed, 'done once the target closed')
  await sink.close()
  t.pass('closing again is a no-op')
})

t.test('close gives up when its signal aborts', async t => {
  const sink = new StoreReplicaSink({ dir: join(await tempDir(t), 'store') })
  const target = await sink.open(PEER, 'vm1')
  t.teardown(async () => { await target.close() })
  const stop = new AbortController()
  const closing = sink.close(stop.signal)
  stop.abort()
  await closing
  t.pass('resolved with the target still open')
})
