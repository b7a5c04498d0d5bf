/**
 * The guards of the browser-facing server through inject(): every route but
 * the public list needs a login (walked over every registered route, so a
 * route added later is covered), every state-changing request but login and
 * setup needs the session's CSRF token, and the `Host` must name the box.
 */
import t from 'tap'
import type { FastifyInstance, HTTPMethods } from 'fastify'
import { buildServer, isPublicRoute } from '../../../web/server.ts'
import { HOSTS, as, servedBrowser, setUp } from '../fixtures/browser-server.ts'

/** Collects every route registered from now on (buildServer registers its routes when the instance loads). */
function routesOf (app: FastifyInstance): Array<{ method: string, url: string }> {
  const routes: Array<{ method: string, url: string }> = []
  app.addHook('onRoute', route => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url })
  })
  return routes
}

/** A concrete URL for a route pattern: each parameter and wildcard filled with a plausible value. */
const concrete = (pattern: string): string => pattern.replace(/:[A-Za-z]+/g, 'x').replace(/\*$/, 'x')

t.test('every route but the public list answers WEB_LOGIN_REQUIRED (401) without a session, before its schema and the service', async t => {
  const served = await servedBrowser(t, { routes: app => { app.get('/metrics-like', async () => ({ secret: 1 })) } })
  const routes = routesOf(served.app)
  await served.app.ready()
  t.ok(routes.length > 40, `${routes.length} routes registered`)
  t.ok(routes.some(r => r.url === '/metrics-like'), 'the lead\'s routes hook is walked too')
  let guarded = 0
  for (const { method, url } of routes) {
    if (isPublicRoute(url)) continue
    const r = await served.app.inject({ method: method as HTTPMethods, url: concrete(url), payload: method === 'GET' || method === 'HEAD' ? undefined : { bad: true } })
    t.equal(r.statusCode, 401, `${method} ${url}: 401`)
    if (method !== 'HEAD') t.equal(r.json().code, 'WEB_LOGIN_REQUIRED', `${method} ${url}: WEB_LOGIN_REQUIRED`)
    guarded++
  }
  t.ok(guarded > 40)
  t.same(served.service.calls, [], 'the service saw none of them')
  const publicSeen = routes.filter(r => isPublicRoute(r.url)).map(r => `${r.method} ${r.url}`).sort()
  t.same(publicSeen, ['GET /metrics', 'GET /v1/auth/state', 'HEAD /metrics', 'HEAD /v1/auth/state', 'POST /v1/auth/login', 'POST /v1/auth/setup'], 'only the login\'s own routes and /metrics are public here (the UI adds its files)')
  const metrics = await served.app.inject({ method: 'GET', url: '/metrics' })
  t.same([metrics.statusCode, metrics.json().code], [401, 'WEB_LOGIN_REQUIRED'], '/metrics passes the guard for its token, and refuses without a token or a session itself')
  const unknown = await served.app.inject({ method: 'GET', url: '/v1/nothing' })
  t.equal(unknown.statusCode, 401, 'a URL no route matches needs a login too (default deny)')
})

t.test('the public routes are the login\'s and the static UI\'s, by route pattern', async t => {
  const table: Array<[string | undefined, boolean]> = [
    ['/v1/auth/state', true], ['/v1/auth/login', true], ['/v1/auth/setup', true], ['/', true], ['/favicon.ico', true],
    ['/ui/*', true], ['/ui/app.js', true], ['/vendor/preact.js', true],
    ['/v1/auth/logout', false], ['/v1/auth/sessions', false], ['/v1/auth/password', false], ['/v1/status', false],
    ['/metrics', true], ['/v1/live', false], ['/ui', false], ['/vendor', false], ['/index.html', false], [undefined, false]
  ]
  for (const [pattern, open] of table) t.equal(isPublicRoute(pattern), open, `${pattern}: ${open ? 'public' : 'login'}`)
})

t.test('a state-changing request without the CSRF token, or with a wrong one, is WEB_CSRF_INVALID (403)', async t => {
  const served = await servedBrowser(t)
  const browser = await setUp(served)
  const changing = [
    { method: 'POST', url: '/v1/pairing', payload: {} },
    { method: 'DELETE', url: '/v1/peers/12D3KooWGRbfabh3dcHT5spviCYeMKCCsm8Pj38PMwDjKvxgojGV' },
    { method: 'PUT', url: '/v1/replication/vm1', payload: { to: 'box-b' } },
    { method: 'POST', url: '/v1/auth/logout' },
    { method: 'POST', url: '/v1/auth/password', payload: { current: 'correct horse battery', password: 'another password' } }
  ] as const
  for (const request of changing) {
    let r = await served.app.inject(as(browser, request, false))
    t.equal(r.statusCode, 403, `${request.method} ${request.url} without a token: 403`)
    t.equal(r.json().code, 'WEB_CSRF_INVALID')
    r = await served.app.inject(as(browser, { ...request, headers: { 'x-csrf-token': `${browser.csrf.slice(0, -2)}xx` } }, false))
    t.equal(r.json().code, 'WEB_CSRF_INVALID', `${request.method} ${request.url} with a wrong token`)
    r = await served.app.inject(as(browser, { ...request, headers: { 'csrf-token': browser.csrf } }, false))
    t.equal(r.json().code, 'WEB_CSRF_INVALID', `${request.method} ${request.url}: only the x-csrf-token header counts`)
  }
  t.same(served.service.calls, [], 'the service saw none of them')
  const other = await servedBrowser(t)
  const stranger = await setUp(other)
  const r = await served.app.inject(as({ cookie: browser.cookie, csrf: stranger.csrf }, { method: 'POST', url: '/v1/pairing', payload: {} }))
  t.equal(r.json().code, 'WEB_CSRF_INVALID', 'another session\'s token is refused')
  const ok = await served.app.inject(as(browser, { method: 'POST', url: '/v1/pairing', payload: {} }))
  t.equal(ok.statusCode, 200, 'with its token the request is served')
  const get = await served.app.inject(as(browser, { method: 'GET', url: '/v1/peers' }, false))
  t.equal(get.statusCode, 200, 'a GET needs no token')
})

t.test('login and setup need no CSRF token, and refuse another site\'s Origin', async t => {
  const served = await servedBrowser(t)
  let r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode, password: 'correct horse battery' }, headers: { origin: 'https://evil.example' } })
  t.equal(r.statusCode, 403)
  t.equal(r.json().code, 'WEB_ORIGIN_INVALID')
  r = await served.app.inject({ method: 'POST', url: '/v1/auth/login', payload: { password: 'correct horse battery' }, headers: { origin: 'null' } })
  t.equal(r.json().code, 'WEB_ORIGIN_INVALID', 'an opaque origin is refused')
  r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode, password: 'correct horse battery' }, headers: { host: 'box-a.example:8443', origin: 'https://box-a.example:8443' } })
  t.equal(r.json().code, 'WEB_ORIGIN_INVALID', 'the right host but another scheme (this server is plain HTTP)')
  r = await served.app.inject({ method: 'POST', url: '/v1/auth/setup', payload: { code: served.setupCode, password: 'correct horse battery' }, headers: { host: 'box-a.example:8443', origin: 'http://box-a.example:8443' } })
  t.equal(r.statusCode, 200, 'its own origin is served')
})

t.test('a Host that is not the box\'s is WEB_HOST_INVALID (421); its names and addresses are served, with a port, in any case, IPv6 in brackets', async t => {
  const served = await servedBrowser(t)
  const wrong = ['evil.example', 'box-a.example.evil.example', 'localhost@evil.example', '192.0.2.8', '[fd00::8]', 'fd00::7', '[fd00::7', 'localhost:80/x']
  for (const host of wrong) {
    const r = await served.app.inject({ method: 'GET', url: '/v1/auth/state', headers: { host } })
    t.equal(r.statusCode, 421, `Host ${JSON.stringify(host)}: 421`)
    t.equal(r.json().code, 'WEB_HOST_INVALID')
  }
  const right = ['localhost', 'LOCALHOST:8443', 'box-a.example', 'Box-A.Example.:443', '192.0.2.7:8443', '[fd00::7]', '[FD00:0:0::7]:8443']
  for (const host of right) {
    const r = await served.app.inject({ method: 'GET', url: '/v1/auth/state', headers: { host } })
    t.equal(r.statusCode, 200, `Host ${host}: served`)
  }
  t.ok(HOSTS.includes('fd00::7'))
  const dynamic = new Set(['localhost'])
  const later = await servedBrowser(t, { allowedHosts: () => dynamic })
  t.equal((await later.app.inject({ method: 'GET', url: '/v1/auth/state', headers: { host: 'new-name.example' } })).statusCode, 421)
  dynamic.add('new-name.example')
  t.equal((await later.app.inject({ method: 'GET', url: '/v1/auth/state', headers: { host: 'new-name.example' } })).statusCode, 200, 'the names are asked on each request')
})

t.test('plain HTTP needs loopbackOnly; script hashes must be sha256 ones', async t => {
  const served = await servedBrowser(t)
  t.throws(() => buildServer(served.service, { webDir: served.webDir, allowedHosts: () => [] }), TypeError)
  t.throws(() => buildServer(served.service, { webDir: served.webDir, allowedHosts: () => [], loopbackOnly: true, scriptHashes: ["'unsafe-inline'"] }), TypeError)
})
