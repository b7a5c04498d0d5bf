/**
 * Thawing a guest whose agent fails at once (a closed channel rejects
 * without waiting): the retries pause between tries, so the event loop
 * keeps running (timers, other VMs' cycles) and the number of tries is
 * bounded by the pause; an abort ends the retries. Fault injection by a
 * fake agent object; no wall-clock assertions.
 */
import t from 'tap'
import { PAUSE_THAW_RETRY_MS, freezeGuest, thawGuest, type FreezeAgent } from '../../../../../appliance/drivers/qemu/tracking/guest-freeze.ts'
import { AppError, AppErrorCode } from '../../../../../appliance/errors.ts'

/** An agent whose thaw rejects at once while `failing()` says so; it counts the tries. */
function flakyAgent (failing: () => boolean, onThaw: (tries: number) => void = () => {}): FreezeAgent & { tries: number } {
  const agent = {
    tries: 0,
    fsfreezeFreeze: async () => { throw new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, 'closed') },
    fsfreezeThaw: async () => {
      agent.tries++
      onThaw(agent.tries)
      if (failing()) throw new AppError(AppErrorCode.APP_AGENT_UNAVAILABLE, 'closed')
      return 0
    }
  }
  return agent
}

t.test('a thaw that fails at once lets timers run between tries', async t => {
  // The agent comes back when a timer runs: only a loop that yields to the event loop sees it.
  let back = false
  setTimeout(() => { back = true }, 0)
  const agent = flakyAgent(() => !back)
  const note = await thawGuest(agent, 5_000)
  t.equal(note, undefined, 'thawed once the timer ran')
  t.ok(agent.tries >= 2 && agent.tries <= 3, `a pause between tries (${agent.tries} tries)`)
})

t.test('the number of tries is bounded by the pause, and timers run meanwhile', async t => {
  let ticked = false
  setTimeout(() => { ticked = true }, 0)
  const limitMs = 5 * PAUSE_THAW_RETRY_MS
  const agent = flakyAgent(() => true)
  const note = await thawGuest(agent, limitMs)
  t.type(note, 'string', 'a note: the guest may still be frozen')
  t.match(note, /APP_AGENT_UNAVAILABLE/, 'the note names the last failure')
  t.ok(ticked, 'a timer ran while thaw retried')
  t.ok(agent.tries >= 2, 'retried')
  t.ok(agent.tries <= Math.floor(limitMs / PAUSE_THAW_RETRY_MS) + 2, `at most one try per pause (${agent.tries} tries)`)
})

t.test('an abort ends the retries after one last try', async t => {
  const controller = new AbortController()
  const agent = flakyAgent(() => true, tries => { if (tries === 2) controller.abort() })
  const note = await thawGuest(agent, 60_000, controller.signal)
  t.type(note, 'string', 'gave up: the guest may still be frozen')
  t.equal(agent.tries, 2, 'no try after the aborted one')

  const early = new AbortController()
  setTimeout(() => { early.abort() }, 0)
  const paused = flakyAgent(() => true)
  t.type(await thawGuest(paused, 60_000, early.signal), 'string', 'an abort during a pause cuts it short')
  t.equal(paused.tries, 2, 'one last try after the pause was cut short')

  const before = flakyAgent(() => false)
  t.equal(await thawGuest(before, 60_000, AbortSignal.abort()), undefined, 'aborted before: still one try, which thaws')
  t.equal(before.tries, 1)
})

t.test('a failed freeze is an answer, and the guest is thawed anyway', async t => {
  let back = false
  setTimeout(() => { back = true }, 0)
  const agent = flakyAgent(() => !back)
  const frozen = await freezeGuest(agent, { freezeMs: 1_000, thawMs: 5_000 })
  t.equal(frozen.ok, false)
  t.ok(agent.tries >= 2, 'thaw retried until the agent came back')
})
