/**
 * StoreReplicaSink.hold: a long-lived reader's share of a relationship's
 * store (a point served for failover). One open store per relationship,
 * shared by the session and every holder: a session opens while it is held,
 * commits through it, and its close leaves it open for the holder (a cycle it
 * left unfinished released, as a store's close would); reads go
 * through it too; it closes with its last holder. hold never creates a
 * store, waits for the commit work (pruning) of the session in progress, and
 * is refused once the sink closes; close waits for the holders. The sink
 * says when its last session has closed, commit work done (onIdle: the
 * daemon collects garbage then).
 */
import t from 'tap'
import { join } from 'node:path'
import { StoreReplicaSink } from '../../../appliance/replication/store-replica.ts'
import { RecoveryPointStore } from '../../../core/store/index.ts'
import { zeroHash } from '../../../core/hash.ts'
import type { Manifest } from '../../../core/types.ts'
import { tempDir } from '../../helpers/fixtures.ts'

const BS = 65536
const PEER = '12D3KooWPrimaryA'
const turn = async (): Promise<void> => { await new Promise(resolve => { setImmediate(resolve) }) }
const ids = async (s: RecoveryPointStore): Promise<number[]> => (await s.listPoints()).map(p => p.id)

/** A manifest of `blocks` all-zero blocks: committing it needs no stored data. */
function zeros (blocks: number): Manifest {
  const hashes = new Uint8Array(blocks * 32)
  for (let i = 0; i < blocks; i++) hashes.set(zeroHash(BS), i * 32)
  return { size: blocks * BS, blockSize: BS, hashes }
}

/** Commits one point of zero blocks through an open session; returns its root. */
async function commitOne (target: Awaited<ReturnType<StoreReplicaSink['open']>>, cycle: string, base: string | null): Promise<string> {
  const stage = await target.newStage(cycle.repeat(32), BS)
  const { root } = await stage.commit({ basePoint: base, disks: [{ name: 'disk0', manifest: zeros(2), changed: [] }], time: Date.now(), consistency: 'crash', term: 1 })
  return root
}

/** Whether another open of the store would find it closed (no process, this one included, holds its lock). */
async function isClosed (dir: string): Promise<boolean> {
  try {
    const store = await RecoveryPointStore.open(dir)
    await store.close()
    return true
  } catch (err) {
    if ((err as { code?: string }).code === 'CORE_STORE_UNAVAILABLE') return false
    throw err
  }
}

t.test('one store shared by a session and its holders, closed with the last of them', async t => {
  const sink = new StoreReplicaSink({ dir: await tempDir(t), retention: { additional: 10, intervalMs: 0 } })
  const dir = sink.replicaDir(PEER, 'web-1')
  await t.rejects(sink.hold(PEER, 'web-1'), { code: 'APP_POINT_NOT_FOUND' }, 'no store: nothing is created')

  const first = await sink.open(PEER, 'web-1')
  await t.rejects(sink.hold(PEER, 'web-1'), { code: 'APP_POINT_NOT_FOUND' }, 'a first session that has not created its store yet')
  const root = await commitOne(first, '1', null)
  const during = await sink.hold(PEER, 'web-1')
  t.same(await ids(during.store), [1], 'held during the session: its store')
  await first.close()
  t.notOk(await isClosed(dir), 'the session ended; the holder keeps the store open')
  t.same(await sink.readStore(PEER, 'web-1', ids), [1], 'reads go through the held store (a read-only open would find it locked)')

  const second = await sink.open(PEER, 'web-1')
  await commitOne(second, '2', root)
  t.same(await ids(during.store), [1, 2], 'the next session writes through the store the holder reads')
  const another = await sink.hold(PEER, 'web-1')
  t.equal(another.store, during.store, 'one instance')
  await second.close()
  await during.release()
  await during.release()
  t.notOk(await isClosed(dir), 'released twice counts once: the other holder keeps it open')
  await another.release()
  t.ok(await isClosed(dir), 'closed with its last holder')

  const dropped = await sink.open(PEER, 'web-1')
  const held = await sink.hold(PEER, 'web-1')
  await dropped.newStage('3'.repeat(32), BS)
  t.equal(held.store.openCycles.size, 1, 'a session stages a cycle and never finishes it')
  await dropped.close()
  t.equal(held.store.openCycles.size, 0, 'its end releases the cycle, as closing the store would, though the store stays open')
  await held.release()

  const reopened = await sink.hold(PEER, 'web-1')
  t.same(await ids(reopened.store), [1, 2], 'a hold with no session opens the existing store')
  const third = await sink.open(PEER, 'web-1')
  t.same((await third.points()).length, 2, 'a session joins the store a holder opened')
  await third.close()
  await reopened.release()
  t.ok(await isClosed(dir))
  await sink.close()
})

t.test('hold waits for the work after a commit (pruning), so a point pinned before it is safe', async t => {
  let finishCommitWork!: () => void
  const commitWork = new Promise<void>(resolve => { finishCommitWork = resolve })
  const sink = new StoreReplicaSink({ dir: await tempDir(t), onCommitted: async () => { await commitWork } })
  const session = await sink.open(PEER, 'web-1')
  await commitOne(session, '1', null)
  let held: Awaited<ReturnType<StoreReplicaSink['hold']>> | undefined
  const holding = sink.hold(PEER, 'web-1').then(h => { held = h })
  await turn()
  await turn()
  t.equal(held, undefined, 'not before the commit work is done')
  finishCommitWork()
  await holding
  t.ok(held, 'then')
  await session.close()
  await held!.release()
  await sink.close()
})

t.test('close refuses new holds and waits for the holders, or until its signal aborts', async t => {
  const sink = new StoreReplicaSink({ dir: await tempDir(t) })
  const session = await sink.open(PEER, 'web-1')
  await commitOne(session, '1', null)
  await session.close()
  const held = await sink.hold(PEER, 'web-1')
  let closed = false
  const closing = sink.close().then(() => { closed = true })
  await turn()
  t.notOk(closed, 'a store is still held')
  await t.rejects(sink.hold(PEER, 'web-1'), { code: 'APP_INVALID_STATE' })
  await held.release()
  await closing
  t.ok(closed)

  const other = new StoreReplicaSink({ dir: await tempDir(t) })
  const s2 = await other.open(PEER, 'web-1')
  await commitOne(s2, '1', null)
  await s2.close()
  const leaked = await other.hold(PEER, 'web-1')
  t.teardown(async () => { await leaked.release() })
  const stop = new AbortController()
  const giving = other.close(stop.signal)
  stop.abort()
  await giving
  t.pass('gave up with a share still held')
})

t.test('onIdle: told once the last open session has closed, after its commit work', async t => {
  let finishCommitWork!: () => void
  const commitWork = new Promise<void>(resolve => { finishCommitWork = resolve })
  let idle = 0
  const sink = new StoreReplicaSink({ dir: await tempDir(t), onCommitted: async () => { await commitWork }, onIdle: () => { idle++ } })
  const a = await sink.open(PEER, 'web-1')
  const b = await sink.open(PEER, 'web-2')
  await commitOne(a, '1', null)
  await b.close()
  t.equal(idle, 0, 'not while another session is open')
  let closed = false
  const closing = a.close().then(() => { closed = true })
  await turn()
  await turn()
  t.same({ closed, idle }, { closed: false, idle: 0 }, 'not while the last session\'s commit work runs')
  finishCommitWork()
  await closing
  t.equal(idle, 1, 'once the last session has closed')
  await (await sink.open(PEER, 'web-1')).close()
  t.equal(idle, 2, 'and again after each later last session')
  await sink.close()
  t.equal(idle, 2, 'not by the sink\'s own close')
})
