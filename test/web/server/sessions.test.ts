/**
 * The server's sessions through inject(): the cookie's flags, a new session
 * id at each login, logout, revocation, expiry by the server's clock (absolute
 * and idle), and a password change ending every other session.
 */
import t from 'tap'
import { MAX_SESSION_IDLE_MS, MAX_SESSION_MS } from '../../../web/auth/index.ts'
import { COOKIE, PASSWORD, as, logIn, servedBrowser, sessionCookie, setUp } from '../fixtures/browser-server.ts'

t.test('the session cookie is HttpOnly, SameSite=Strict, Path=/, with no lifetime of its own; no cookie before login', async t => {
  const served = await servedBrowser(t)
  let r = await served.app.inject({ method: 'GET', url: '/v1/auth/state' })
  t.same(r.json(), { passwordSet: false, loggedIn: false, csrfToken: null })
  t.equal(r.headers['set-cookie'], undefined, 'a visitor gets no cookie')
  r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode, password: PASSWORD } })
  t.equal(r.statusCode, 200)
  const cookie = (r.cookies as Array<Record<string, unknown>>).find(c => c.name === COOKIE)!
  t.ok(cookie, 'the session cookie is set')
  t.equal(cookie.httpOnly, true)
  t.equal(cookie.sameSite, 'Strict')
  t.equal(cookie.path, '/')
  t.equal(cookie.secure, undefined, 'no Secure on plain-HTTP loopback (the HTTPS test checks it there)')
  t.equal(cookie.maxAge, undefined, 'no Max-Age')
  t.equal(cookie.expires, undefined, 'no Expires: the server ends the session')
  t.type(r.json().csrfToken, 'string')
})

t.test('each login gets a new session id (no fixation); state reports it with a CSRF token', async t => {
  const served = await servedBrowser(t)
  const first = await setUp(served)
  const r = await served.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { password: PASSWORD }, cookies: { [COOKIE]: first.cookie } })
  t.equal(r.statusCode, 200)
  const second = sessionCookie(r)!
  t.not(second, first.cookie, 'a new id')
  const state = await served.app.inject({ method: 'GET', url: '/v1/auth/state', cookies: { [COOKIE]: second } })
  t.equal(state.json().loggedIn, true)
  t.type(state.json().csrfToken, 'string')
  const old = await served.app.inject({ method: 'GET', url: '/v1/status', cookies: { [COOKIE]: first.cookie } })
  t.equal(old.statusCode, 401, 'the session logged in again from is gone')
  t.equal(old.json().code, 'WEB_LOGIN_REQUIRED')
})

t.test('logout ends the session', async t => {
  const served = await servedBrowser(t)
  const browser = await setUp(served)
  t.equal((await served.app.inject(as(browser, { method: 'GET', url: '/v1/status' }))).statusCode, 200)
  const r = await served.app.inject(as(browser, { method: 'POST', url: '/v1/auth/logout' }))
  t.equal(r.statusCode, 200)
  t.same(r.json(), { loggedOut: true })
  t.match(String(r.headers['set-cookie']), new RegExp(`${COOKIE}=;`), 'the cookie is cleared')
  const after = await served.app.inject(as(browser, { method: 'GET', url: '/v1/status' }))
  t.equal(after.statusCode, 401)
  t.equal(after.json().code, 'WEB_LOGIN_REQUIRED')
})

t.test('sessions are listed by a handle and revoked; a revoked session is 401', async t => {
  const served = await servedBrowser(t)
  const a = await setUp(served)
  const b = await logIn(served, PASSWORD, '192.0.2.9')
  const r = await served.app.inject(as(a, { method: 'GET', url: '/v1/auth/sessions', headers: { 'user-agent': 'phone' } }))
  t.equal(r.statusCode, 200)
  const list = r.json() as Array<{ id: string, current: boolean, address: string, userAgent: string, created: string, lastSeen: string }>
  t.equal(list.length, 2)
  t.same(list.map(s => s.current), [true, false])
  t.same(list.map(s => s.address), ['127.0.0.1', '192.0.2.9'])
  for (const s of list) {
    t.not(s.id, a.cookie)
    t.notOk(a.cookie.includes(s.id) || b.cookie.includes(s.id), 'the handle is not the cookie\'s id')
    t.equal(s.created, '2026-01-01T00:00:00.000Z')
  }
  const other = list[1]!.id
  const revoked = await served.app.inject(as(a, { method: 'DELETE', url: `/v1/auth/sessions/${other}` }))
  t.same(revoked.json(), { id: other, revoked: true })
  const gone = await served.app.inject(as(b, { method: 'GET', url: '/v1/status' }))
  t.equal(gone.statusCode, 401)
  t.equal(gone.json().code, 'WEB_LOGIN_REQUIRED')
  const again = await served.app.inject(as(a, { method: 'DELETE', url: `/v1/auth/sessions/${other}` }))
  t.equal(again.statusCode, 404)
  t.equal(again.json().code, 'WEB_SESSION_NOT_FOUND')
  t.equal((await served.app.inject(as(a, { method: 'GET', url: '/v1/status' }))).statusCode, 200, 'the own session stays')
})

t.test('a session ends after MAX_SESSION_MS however used, and after MAX_SESSION_IDLE_MS unused', async t => {
  const served = await servedBrowser(t)
  const browser = await setUp(served)
  const status = async (): Promise<number> => (await served.app.inject(as(browser, { method: 'GET', url: '/v1/status' }))).statusCode
  // Used just inside the idle limit each time, until the absolute limit.
  const step = MAX_SESSION_IDLE_MS - 1
  const start = served.clock.now
  while (served.clock.now + step < start + MAX_SESSION_MS) {
    served.clock.now += step
    t.equal(await status(), 200, `used at +${served.clock.now - start} ms`)
  }
  served.clock.now = start + MAX_SESSION_MS
  t.equal(await status(), 401, 'ended at MAX_SESSION_MS')

  const idle = await logIn(served)
  served.clock.now += MAX_SESSION_IDLE_MS - 1
  t.equal((await served.app.inject(as(idle, { method: 'GET', url: '/v1/status' }))).statusCode, 200, 'just inside the idle limit')
  served.clock.now += MAX_SESSION_IDLE_MS
  const r = await served.app.inject(as(idle, { method: 'GET', url: '/v1/status' }))
  t.equal(r.statusCode, 401, 'ended after MAX_SESSION_IDLE_MS unused')
  t.equal(r.json().code, 'WEB_LOGIN_REQUIRED')
})

t.test('changing the password ends every other session; the old password no longer logs in', async t => {
  const served = await servedBrowser(t)
  const a = await setUp(served)
  const b = await logIn(served)
  const c = await logIn(served)
  let r = await served.app.inject(as(a, { method: 'POST', url: '/v1/auth/password', payload: { current: 'not the password', password: 'a new password' } }))
  t.equal(r.statusCode, 403)
  t.equal(r.json().code, 'WEB_PASSWORD_WRONG')
  r = await served.app.inject(as(a, { method: 'POST', url: '/v1/auth/password', payload: { current: PASSWORD, password: 'a new password' } }))
  t.equal(r.statusCode, 200)
  t.same(r.json(), { changed: true, revokedSessions: 2 })
  for (const other of [b, c]) t.equal((await served.app.inject(as(other, { method: 'GET', url: '/v1/status' }))).statusCode, 401)
  t.equal((await served.app.inject(as(a, { method: 'GET', url: '/v1/status' }))).statusCode, 200, 'the own session stays')
  r = await served.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { password: PASSWORD } })
  t.equal(r.json().code, 'WEB_LOGIN_FAILED')
  await logIn(served, 'a new password')
})
