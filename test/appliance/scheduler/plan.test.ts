import t from 'tap'
import { isNetworkFailure, nextCycle, retryDelay, RETRY_INITIAL_MS, RETRY_MAX_MS } from '../../../appliance/scheduler/index.ts'

t.test('nextCycle: the next due time on the grid and the intervals missed', async t => {
  const rows: Array<[due: number, end: number, f: number, next: number, missed: number]> = [
    [0, 10, 30, 30, 0], // quick cycle: next on the grid, nothing missed
    [0, 30, 30, 30, 0], // ends exactly on the next point: not missed
    [0, 31, 30, 60, 1], // ran past one point
    [0, 95, 30, 120, 3], // 30, 60 and 90 passed while it ran
    [100, 100, 30, 130, 0], // a cycle of no time
    [0, 10, 0, 10, 0], // continuous: next at the end, nothing missed
    [0, 500, 0, 500, 0]
  ]
  for (const [due, end, f, next, missed] of rows) {
    t.same(nextCycle(due, end, f), { due: next, missed }, `due ${due}, ended ${end}, every ${f}`)
  }
})

t.test('retryDelay doubles from RETRY_INITIAL_MS up to RETRY_MAX_MS', async t => {
  t.equal(retryDelay(1), RETRY_INITIAL_MS)
  t.equal(retryDelay(2), RETRY_INITIAL_MS * 2)
  t.equal(retryDelay(3), RETRY_INITIAL_MS * 4)
  t.equal(retryDelay(100), RETRY_MAX_MS)
  for (const bad of [0, -1, 1.5, NaN]) t.throws(() => retryDelay(bad), TypeError, `attempt ${bad}`)
})

t.test('isNetworkFailure: link failures by code or name, never the rest', async t => {
  const rows: Array<[unknown, boolean]> = [
    [{ code: 'P2P_TIMEOUT' }, true],
    [{ code: 'P2P_STREAM_CLOSED' }, true],
    [{ code: 'P2P_RELATIONSHIP_BUSY' }, true],
    [Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), true],
    [Object.assign(new Error('x'), { name: 'DialError' }), true],
    [{ code: 'P2P_STALE_TERM' }, false],
    [{ code: 'P2P_REPLICA_NO_SPACE' }, false],
    [{ code: 'CORE_SOURCE_UNREADABLE' }, false],
    [new Error('plain'), false],
    [undefined, false],
    [null, false],
    ['P2P_TIMEOUT', false]
  ]
  for (const [err, want] of rows) t.equal(isNetworkFailure(err), want, JSON.stringify(err) ?? String(err))
})
