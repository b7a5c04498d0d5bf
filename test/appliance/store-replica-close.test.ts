/**
 * StoreReplicaSink.close(), which the daemon's stop calls after the
 * receiver stopped: it waits until every open target is closed (its store
 * released), gives up when its signal aborts, and refuses new sessions;
 * with `admit`, it admits only what the Replica's term rules admit.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { StoreReplicaSink } from '../../appliance/replication/store-replica.ts'
import { P2pError, P2pErrorCode } from '../../p2p/errors.ts'
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

t.test('a sink with `admit` refuses a session for a relationship it does not hold, before any store exists, and asks it of each term', async t => {
  const dir = join(await tempDir(t), 'store')
  const asked: Array<number | undefined> = []
  const sink = new StoreReplicaSink({
    dir,
    admit: (peer, id, term) => {
      asked.push(term)
      if (peer !== 'peer-a' || id !== 'known') throw new P2pError(P2pErrorCode.P2P_RELATIONSHIP_UNKNOWN, 'not held')
      if (term !== undefined && term < 2) throw new P2pError(P2pErrorCode.P2P_STALE_TERM, 'stale')
    }
  })
  await t.rejects(sink.open('peer-a', 'other'), { code: 'P2P_RELATIONSHIP_UNKNOWN' })
  await t.rejects(sink.open('peer-b', 'known'), { code: 'P2P_RELATIONSHIP_UNKNOWN' }, 'another primary\'s session for the id')
  t.equal(existsSync(join(dir, 'peer-a', 'other')), false, 'nothing was created for it')
  const target = await sink.open('peer-a', 'known')
  t.throws(() => target.admit!(1), { code: 'P2P_STALE_TERM' }, 'the target asks the same of a term')
  t.doesNotThrow(() => target.admit!(2))
  t.same(asked, [undefined, undefined, undefined, 1, 2], 'a session opening names no term; each exchange does')
  await target.close()
  await sink.commitsSettled('peer-a', 'known')
  await sink.close()
})
