/**
 * The credit window, made deterministic with promises (no sleeps): sends
 * beyond the credit wait for acknowledgements, in order; hostile
 * acknowledgements are protocol violations; abort and close release waiters.
 */
import t from 'tap'
import { CreditWindow } from '../../p2p/replication/credit-window.ts'

/** Whether a promise has settled, checked after pending microtasks ran. */
async function settled (p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(() => { done = true }, () => { done = true })
  await new Promise(resolve => setImmediate(resolve))
  return done
}

t.test('sends wait for credit and are released in order', async t => {
  const w = new CreditWindow(100)
  await w.reserve(60)
  await w.reserve(40)
  t.equal(w.outstanding, 100)
  const third = w.reserve(30)
  const fourth = w.reserve(10)
  t.notOk(await settled(third), 'over the credit: waits')
  w.acknowledge(20)
  t.notOk(await settled(third), '20 freed is not enough for 30')
  w.acknowledge(40)
  t.ok(await settled(third), 'released once it fits')
  t.ok(await settled(fourth), 'and the next in line too')
  t.equal(w.outstanding, 100)
})

t.test('a batch larger than the credit goes alone', async t => {
  const w = new CreditWindow(10)
  await w.reserve(5)
  const big = w.reserve(50)
  t.notOk(await settled(big))
  w.acknowledge(5)
  t.ok(await settled(big), 'sent once nothing is outstanding')
})

t.test('the receiver may change the credit', async t => {
  const w = new CreditWindow(10)
  await w.reserve(10)
  const next = w.reserve(10)
  w.acknowledge(0, 20)
  t.ok(await settled(next), 'a larger credit releases waiters')
})

t.test('hostile acknowledgements are protocol violations', async t => {
  const w = new CreditWindow(100)
  await w.reserve(50)
  t.throws(() => { w.acknowledge(51) }, { code: 'P2P_PROTOCOL_VIOLATION' }, 'more than was sent')
  w.acknowledge(30)
  t.throws(() => { w.acknowledge(20) }, { code: 'P2P_PROTOCOL_VIOLATION' }, 'going backwards')
  t.throws(() => { w.acknowledge(30, 0) }, { code: 'P2P_PROTOCOL_VIOLATION' }, 'zero credit')
  t.throws(() => { w.acknowledge(30.5) }, { code: 'P2P_PROTOCOL_VIOLATION' }, 'not an integer')
})

t.test('abort and close release waiters with errors', async t => {
  const w = new CreditWindow(1)
  await w.reserve(1)
  const c = new AbortController()
  const aborted = w.reserve(1, c.signal)
  c.abort()
  await t.rejects(aborted, { code: 'P2P_ABORTED' })
  await t.rejects(w.reserve(1, AbortSignal.abort()), { code: 'P2P_ABORTED' }, 'an already aborted signal')
  const closed = w.reserve(1)
  w.close(new Error('stream ended'))
  await t.rejects(closed, /stream ended/)
})

t.test('a closed window refuses every later reservation at once, even one that fits', async t => {
  // The sender's next batch after the Replica's error once waited for the ack timeout (120 s) here.
  const w = new CreditWindow(100)
  await w.reserve(10)
  w.close(new Error('the Replica failed'))
  w.close(new Error('a later reason'))
  await t.rejects(w.reserve(1), /the Replica failed/, 'the first reason')
  await t.rejects(w.reserve(0), /the Replica failed/)
})
