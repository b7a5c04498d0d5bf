/**
 * The session store (web/auth/session-store.ts) on its own: only `admit`
 * adds a session, the plugin's `set` never brings back one that ended, the
 * store is bounded, and expiry follows the injected clock.
 */
import t from 'tap'
import type { Session } from 'fastify'
import { MAX_SESSION_IDLE_MS, MAX_SESSIONS, SessionStore } from '../../../web/auth/index.ts'

function setup (): { store: SessionStore, clock: { now: number }, get: (id: string) => Session | null | undefined, admit: (id: string) => Session } {
  const clock = { now: 1_000_000 }
  const store = new SessionStore(() => clock.now)
  const get = (id: string): Session | null | undefined => {
    let out: Session | null | undefined
    store.get(id, (_err, session) => { out = session })
    return out
  }
  const admit = (id: string): Session => {
    const session = { auth: store.newAuth('127.0.0.1', 'test'), _csrf: 'secret' } as unknown as Session
    store.admit(id, session)
    return session
  }
  return { store, clock, get, admit }
}

t.test('set only updates a kept session; a revoked one stays gone', async t => {
  const { store, get, admit } = setup()
  const auth = store.newAuth('127.0.0.1', 'x')
  store.set('never-admitted', { auth } as unknown as Session, () => {})
  t.equal(get('never-admitted'), null, 'set adds nothing')
  const session = admit('a')
  t.equal((get('a') as unknown as { _csrf: string })._csrf, 'secret', 'the plugin\'s fields are kept')
  t.ok(store.revoke(session.auth!.handle))
  store.set('a', session, () => {})
  t.equal(get('a'), null, 'a request in flight does not bring it back')
  t.throws(() => { store.admit('b', {} as Session) }, TypeError, 'a session not logged in is not admitted')
})

t.test(`past ${MAX_SESSIONS} sessions the least recently used ends`, async t => {
  const { store, clock, get, admit } = setup()
  for (let i = 0; i < MAX_SESSIONS; i++) {
    admit(`s${i}`)
    clock.now += 1
  }
  store.touch('s0')
  admit('new')
  t.equal(store.list(undefined).length, MAX_SESSIONS)
  t.ok(get('s0'), 's0 was used lately: kept')
  t.equal(get('s1'), null, 's1 was the least recently used: ended')
  t.ok(get('new'))
})

t.test('expiry by the clock; list and revokeAllBut', async t => {
  const { store, clock, get, admit } = setup()
  admit('a')
  admit('b')
  t.same(store.list('a').map(s => s.current), [true, false])
  clock.now += MAX_SESSION_IDLE_MS
  t.equal(get('a'), null, 'idle too long')
  t.same(store.list(undefined), [], 'the list drops expired sessions')
  admit('c')
  admit('d')
  admit('e')
  t.equal(store.revokeAllBut('d'), 2)
  t.same(store.list('d').map(s => s.current), [true])
})
