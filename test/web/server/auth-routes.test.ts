/**
 * The login routes through inject(): setup with the one-time code (the
 * files it leaves, their modes), the schemas' refusals, the rate limit on
 * login and setup, and the status that browsers get.
 */
import t from 'tap'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { InjectOptions } from 'fastify'
import { ADMIN_FILE, MAX_AUTH_TRIES_PER_ADDRESS, MAX_AUTH_TRIES_TOTAL, MAX_SETUP_CODE_TRIES, SETUP_CODE_FILE, readSetupCode } from '../../../web/auth/index.ts'
import { STATUS } from '../fixtures/fake-service.ts'
import { PASSWORD, as, logIn, servedBrowser, setUp } from '../fixtures/browser-server.ts'

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777

t.test('setup: a wrong code is refused; the right one sets the password (an argon2id hash), logs in, and removes the code; a second setup is refused', async t => {
  const served = await servedBrowser(t)
  t.equal(await mode(join(served.webDir, SETUP_CODE_FILE)), 0o600, 'the code file is 0600')
  t.match(served.setupCode, /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/)
  let r = await served.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { password: PASSWORD } })
  t.equal(r.statusCode, 409)
  t.equal(r.json().code, 'WEB_PASSWORD_NOT_SET', 'no login before setup')
  r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: 'AAAA-AAAA-AAAA', password: PASSWORD } })
  t.equal(r.statusCode, 403)
  t.equal(r.json().code, 'WEB_SETUP_CODE_INVALID')
  r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode.slice(0, 5), password: PASSWORD } })
  t.equal(r.json().code, 'WEB_SETUP_CODE_INVALID', 'a part of the code')
  // Typed in lower case, without dashes: the same code.
  r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode.replace(/-/g, '').toLowerCase(), password: PASSWORD } })
  t.equal(r.statusCode, 200)
  t.type(r.json().csrfToken, 'string')
  const adminPath = join(served.webDir, ADMIN_FILE)
  const text = await readFile(adminPath, 'utf8')
  t.notOk(text.includes(PASSWORD), 'admin.json does not hold the password')
  const admin = JSON.parse(text)
  t.match(admin.hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'an argon2id PHC hash')
  t.equal(await mode(adminPath), 0o600, 'admin.json is 0600')
  await t.rejects(stat(join(served.webDir, SETUP_CODE_FILE)), { code: 'ENOENT' }, 'the code file is gone')
  t.equal(await readSetupCode(served.webDir), null)
  r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode, password: 'another password' } })
  t.equal(r.statusCode, 409)
  t.equal(r.json().code, 'WEB_PASSWORD_ALREADY_SET')
  r = await served.app.inject({ method: 'GET', url: '/v1/auth/state' })
  t.same(r.json(), { passwordSet: true, loggedIn: false, csrfToken: null })
  await logIn(served, PASSWORD, '192.0.2.1')
})

t.test(`after ${MAX_SETUP_CODE_TRIES} wrong codes a new code replaces the old, which is then refused`, async t => {
  const served = await servedBrowser(t)
  for (let i = 0; i < MAX_SETUP_CODE_TRIES; i++) {
    const r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: 'AAAA-AAAA-AAAA', password: PASSWORD }, remoteAddress: `192.0.2.${i + 1}` })
    t.equal(r.json().code, 'WEB_SETUP_CODE_INVALID', `wrong try ${i + 1}`)
  }
  const fresh = await readSetupCode(served.webDir)
  t.not(fresh, served.setupCode, 'a new code')
  let r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode, password: PASSWORD }, remoteAddress: '192.0.2.100' })
  t.equal(r.json().code, 'WEB_SETUP_CODE_INVALID', 'the old code is refused')
  r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: fresh, password: PASSWORD }, remoteAddress: '192.0.2.101' })
  t.equal(r.statusCode, 200, 'the new one sets the password')
})

t.test('the auth routes\' schemas refuse bad requests with WEB_BAD_REQUEST (400)', async t => {
  const served = await servedBrowser(t)
  const bad: Array<[string, InjectOptions]> = [
    ['setup: an unknown field', { method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode, password: PASSWORD, admin: true } }],
    ['setup: a password of 7 characters', { method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode, password: '1234567' } }],
    ['setup: a password of 257 characters', { method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode, password: 'x'.repeat(257) } }],
    ['setup: no code', { method: 'POST', url: '/v1/auth/setup', payload: { password: PASSWORD } }],
    ['setup: a code as a number', { method: 'POST', url: '/v1/auth/setup', payload: { code: 1234, password: PASSWORD } }]
  ]
  for (const [i, [what, request]] of bad.entries()) {
    const r = await served.app.inject({ ...request, remoteAddress: `192.0.2.${i + 10}` })
    t.equal(r.statusCode, 400, what)
    t.equal(r.json().code, 'WEB_BAD_REQUEST', what)
  }
  const browser = await setUp(served)
  const afterLogin: Array<[string, InjectOptions]> = [
    ['login: an unknown field', { method: 'POST', url: '/v1/auth/login', payload: { password: PASSWORD, user: 'root' }, remoteAddress: '192.0.2.60' }],
    ['login: a password of 257 characters', { method: 'POST', url: '/v1/auth/login', payload: { password: 'x'.repeat(257) }, remoteAddress: '192.0.2.61' }],
    ['login: an empty password', { method: 'POST', url: '/v1/auth/login', payload: { password: '' }, remoteAddress: '192.0.2.62' }],
    ['password: too short', as(browser, { method: 'POST', url: '/v1/auth/password', payload: { current: PASSWORD, password: '1234567' } })],
    ['password: too long', as(browser, { method: 'POST', url: '/v1/auth/password', payload: { current: PASSWORD, password: 'x'.repeat(257) } })],
    ['password: an unknown field', as(browser, { method: 'POST', url: '/v1/auth/password', payload: { current: PASSWORD, password: 'a new password', also: 1 } })],
    ['sessions: an id that is none', as(browser, { method: 'DELETE', url: '/v1/auth/sessions/..%2F..%2Fx' })]
  ]
  for (const [what, request] of afterLogin) {
    const r = await served.app.inject(request)
    t.equal(r.statusCode, 400, what)
    t.equal(r.json().code, 'WEB_BAD_REQUEST', what)
  }
  await logIn(served, PASSWORD, '192.0.2.63')
})

t.test(`login is rate limited: the ${MAX_AUTH_TRIES_PER_ADDRESS + 1}th attempt in a minute from an address is WEB_RATE_LIMITED (429), a right one too`, async t => {
  const served = await servedBrowser(t)
  await setUp(served)
  const login = async (password: string, remoteAddress: string): Promise<{ statusCode: number, code: string | undefined }> => {
    const r = await served.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { password }, remoteAddress })
    return { statusCode: r.statusCode, code: r.json().code }
  }
  for (let i = 0; i < MAX_AUTH_TRIES_PER_ADDRESS; i++) t.same(await login('wrong password', '192.0.2.1'), { statusCode: 401, code: 'WEB_LOGIN_FAILED' }, `wrong login ${i + 1}`)
  t.same(await login('wrong password', '192.0.2.1'), { statusCode: 429, code: 'WEB_RATE_LIMITED' }, 'the next wrong one')
  t.same(await login(PASSWORD, '192.0.2.1'), { statusCode: 429, code: 'WEB_RATE_LIMITED' }, 'and a right one')
  const limited = await served.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { password: PASSWORD }, remoteAddress: '192.0.2.1' })
  t.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After')
  const setup = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode, password: PASSWORD }, remoteAddress: '192.0.2.1' })
  t.equal(setup.json().code, 'WEB_RATE_LIMITED', 'setup counts with login')
  t.equal((await login(PASSWORD, '192.0.2.2')).statusCode, 200, 'another address is not limited by it')
})

t.test(`login and setup are limited to ${MAX_AUTH_TRIES_TOTAL} attempts a minute from all addresses together`, async t => {
  const served = await servedBrowser(t)
  await setUp(served, PASSWORD)
  // setUp made one attempt; each address below makes one.
  for (let i = 1; i < MAX_AUTH_TRIES_TOTAL; i++) {
    const r = await served.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { password: 'wrong password' }, remoteAddress: `198.51.100.${i}` })
    t.equal(r.json().code, 'WEB_LOGIN_FAILED', `attempt ${i + 1}`)
  }
  const r = await served.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { password: PASSWORD }, remoteAddress: '203.0.113.1' })
  t.equal(r.statusCode, 429)
  t.equal(r.json().code, 'WEB_RATE_LIMITED', 'a new address past the total')
})

t.test('the status browsers get carries no setup code', async t => {
  const served = await servedBrowser(t)
  const browser = await setUp(served)
  served.service.status_ = { ...STATUS, web: { url: 'https://box-a.example:8443/', fingerprint: 'SHA256 AB', setupCode: 'ABCD-EFGH-JKMN', passwordSet: false } }
  const r = await served.app.inject(as(browser, { method: 'GET', url: '/v1/status' }))
  t.equal(r.statusCode, 200)
  t.notOk(r.body.includes('ABCD-EFGH-JKMN'), 'the code is not in the answer')
  t.match(r.json(), { web: { url: 'https://box-a.example:8443/', setupCode: null } }, 'the rest of web is there')
})
