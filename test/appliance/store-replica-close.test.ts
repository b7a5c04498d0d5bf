/**
 * StoreReplicaSink.close(), which the daemon's stop calls after the
 * receiver stopped: it waits until every open target is closed (its store
 * released), gives up when its signal aborts, and refuses new sessions;
 * with `holds`, it admits only the relationships the Replica holds.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
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

t.test('a sink with `holds` refuses a session for a relationship it does not hold, before any store exists', async t => {
  const dir = join(await tempDir(t), 'store')
  const sink = new StoreReplicaSink({ dir, holds: (peer, id) => peer === 'peer-a' && id === 'known' })
  await t.rejects(sink.open('peer-a', 'other'), { code: 'P2P_RELATIONSHIP_UNKNOWN' })
  await t.rejects(sink.open('peer-b', 'known'), { code: 'P2P_RELATIONSHIP_UNKNOWN' }, 'another primary\'s session for the id')
  t.equal(existsSync(join(dir, 'peer-a', 'other')), false, 'nothing was created for it')
  const target = await sink.open('peer-a', 'known')
  await target.close()
  await sink.close()
})
