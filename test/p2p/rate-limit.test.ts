/**
 * The bandwidth limit on a fake clock: over any stretch the bytes let
 * through stay within rate x time + burst; unlimited never waits; abort
 * stops a wait.
 */
import t from 'tap'
import { RateLimiter } from '../../p2p/replication/rate-limit.ts'

/** A clock that only moves when the limiter sleeps. */
function fakeClock (): { now: () => number, sleep: (ms: number) => Promise<void>, slept: number[] } {
  let time = 0
  const slept: number[] = []
  return { now: () => time, sleep: async ms => { slept.push(ms); time += ms }, slept }
}

t.test('the average stays at the rate', async t => {
  const clock = fakeClock()
  const limiter = new RateLimiter({ bytesPerSecond: 1_000_000, minBurst: 65_536, now: clock.now, sleep: clock.sleep })
  let sent = 0
  for (let i = 0; i < 100; i++) { await limiter.take(65_536); sent += 65_536 }
  const seconds = clock.now() / 1000
  t.ok(sent <= 1_000_000 * seconds + 250_000, `${sent} bytes in ${seconds.toFixed(2)} s is within rate x time + burst`)
  t.ok(sent >= 1_000_000 * seconds, 'and the limiter did not hold back more than needed')
})

t.test('unlimited never sleeps; a send larger than the burst is a programmer error', async t => {
  const clock = fakeClock()
  const free = new RateLimiter({ bytesPerSecond: 0, minBurst: 1, now: clock.now, sleep: clock.sleep })
  for (let i = 0; i < 10; i++) await free.take(10 ** 9)
  t.same(clock.slept, [])
  const slow = new RateLimiter({ bytesPerSecond: 1000, minBurst: 100, now: clock.now, sleep: clock.sleep })
  await t.rejects(slow.take(1000), TypeError)
})

t.test('abort stops a wait with P2P_ABORTED', async t => {
  const limiter = new RateLimiter({ bytesPerSecond: 1, minBurst: 10 }) // real sleep: 10 s for the second take
  await limiter.take(10)
  const c = new AbortController()
  const waiting = limiter.take(10, c.signal)
  c.abort()
  await t.rejects(waiting, { code: 'P2P_ABORTED' })
})
