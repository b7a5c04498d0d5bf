/**
 * The API's routes through fastify's inject(): each route reaches its
 * service method with the request's values, every schema refuses bad input
 * (unknown properties, wrong types, missing fields: nothing removed or
 * coerced), and errors travel as { code, message } with web/errors.ts'
 * status.
 */
import t, { type Test } from 'tap'
import type { InjectOptions } from 'fastify'
import { buildApiServer } from '../../web/index.ts'
import { FakeService, PEER, PEER_ID, STATUS } from './fixtures/fake-service.ts'

function setup (t: Test): { service: FakeService, app: ReturnType<typeof buildApiServer> } {
  const service = new FakeService()
  const app = buildApiServer(service)
  t.teardown(async () => { await app.close() })
  return { service, app }
}

t.test('the status carries the web server\'s part whole over the local socket, setup code included', async t => {
  const { service, app } = setup(t)
  service.status_ = { ...STATUS, httpsApi: '0.0.0.0:7443', web: { url: 'https://box-a:7443/', fingerprint: `SHA256 ${'AB:'.repeat(31)}AB`, setupCode: 'ABCD-EFGH-JKLM', passwordSet: false } }
  const r = await app.inject({ method: 'GET', url: '/v1/status' })
  t.equal(r.statusCode, 200)
  t.same(r.json(), service.status_)
})

t.test('each route calls its method and answers its JSON', async t => {
  const { service, app } = setup(t)
  let r = await app.inject({ method: 'GET', url: '/v1/status' })
  t.equal(r.statusCode, 200)
  t.same(r.json(), STATUS)
  r = await app.inject({ method: 'POST', url: '/v1/pairing', payload: { ttl: 60_000 } })
  t.equal(r.statusCode, 200)
  t.same(r.json().pin, '12345678')
  r = await app.inject({ method: 'POST', url: '/v1/pairing', payload: {} })
  t.equal(r.statusCode, 200, 'ttl is optional')
  r = await app.inject({ method: 'POST', url: '/v1/pairing', payload: { mode: 'invite' } })
  t.equal(r.statusCode, 200, 'a mode')
  r = await app.inject({ method: 'POST', url: '/v1/pairing/join', payload: { pin: '12345678', addr: '/ip4/127.0.0.1/tcp/1' } })
  t.equal(r.statusCode, 200)
  t.same(r.json(), { peer: PEER, confirmationCode: '123456' })
  r = await app.inject({ method: 'POST', url: '/v1/pairing/join', payload: { invite: 'tandem-pair:1:abc' } })
  t.equal(r.statusCode, 200)
  r = await app.inject({ method: 'GET', url: '/v1/peers' })
  t.same(r.json(), [PEER])
  r = await app.inject({ method: 'DELETE', url: `/v1/peers/${PEER_ID}` })
  t.same(r.json(), { peerId: PEER_ID, removed: true })
  t.same(service.calls, [
    ['status', undefined],
    ['pairOpen', { ttl: 60_000 }],
    ['pairOpen', {}],
    ['pairOpen', { mode: 'invite' }],
    ['pairJoin', { pin: '12345678', addr: '/ip4/127.0.0.1/tcp/1' }],
    ['pairJoin', { invite: 'tandem-pair:1:abc' }],
    ['pairList', undefined],
    ['pairRemove', PEER_ID]
  ])
})

t.test('schemas refuse bad requests with WEB_BAD_REQUEST (400) before the service is called', async t => {
  const { service, app } = setup(t)
  const bad: Array<[string, InjectOptions]> = [
    ['an unknown property', { method: 'POST', url: '/v1/pairing', payload: { ttl: 60_000, colour: 'red' } }],
    ['an unknown mode', { method: 'POST', url: '/v1/pairing', payload: { mode: 'qr' } }],
    ['a ttl given as a string (no coercion)', { method: 'POST', url: '/v1/pairing', payload: { ttl: '60000' } }],
    ['a ttl below a second', { method: 'POST', url: '/v1/pairing', payload: { ttl: 10 } }],
    ['a ttl above a day', { method: 'POST', url: '/v1/pairing', payload: { ttl: 86_400_001 } }],
    ['a join with neither pin nor invite', { method: 'POST', url: '/v1/pairing/join', payload: {} }],
    ['a join with a pin and no address', { method: 'POST', url: '/v1/pairing/join', payload: { pin: '12345678' } }],
    ['a join with a pin and an invite', { method: 'POST', url: '/v1/pairing/join', payload: { pin: '12345678', addr: '/ip4/1.2.3.4/tcp/1', invite: 'x' } }],
    ['a PIN that is not 8 digits', { method: 'POST', url: '/v1/pairing/join', payload: { pin: '1234', addr: '/ip4/1.2.3.4/tcp/1' } }],
    ['a PIN given as a number', { method: 'POST', url: '/v1/pairing/join', payload: { pin: 12345678, addr: '/ip4/1.2.3.4/tcp/1' } }],
    ['an invite longer than an invite can be', { method: 'POST', url: '/v1/pairing/join', payload: { invite: 'x'.repeat(2049) } }],
    ['a body that is not JSON', { method: 'POST', url: '/v1/pairing', payload: '{nope', headers: { 'content-type': 'application/json' } }],
    ['a body larger than the limit', { method: 'POST', url: '/v1/pairing/join', payload: { invite: 'x'.repeat(20_000) } }],
    ['a peer id that is not one', { method: 'DELETE', url: '/v1/peers/not-a-peer' }],
    ['a path traversal as peer id', { method: 'DELETE', url: '/v1/peers/..%2F..%2Fetc' }]
  ]
  for (const [what, request] of bad) {
    const r = await app.inject(request)
    t.equal(r.statusCode, 400, `${what}: 400`)
    t.equal(r.json().code, 'WEB_BAD_REQUEST', `${what}: WEB_BAD_REQUEST`)
    t.type(r.json().message, 'string')
  }
  t.same(service.calls, [], 'the service saw none of them')
})

t.test('an unknown route is WEB_NOT_FOUND (404)', async t => {
  const { app } = setup(t)
  for (const [method, url] of [['GET', '/v1/nothing'], ['PUT', '/v1/status'], ['GET', '/']] as const) {
    const r = await app.inject({ method, url })
    t.equal(r.statusCode, 404, `${method} ${url}`)
    t.equal(r.json().code, 'WEB_NOT_FOUND')
  }
})

t.test('service errors travel as { code, message } with their status', async t => {
  const { service, app } = setup(t)
  const cases: Array<[string, number]> = [
    ['P2P_PAIRING_FAILED', 403],
    ['APP_PEER_NOT_FOUND', 404],
    ['P2P_PAIRING_CLOSED', 409],
    ['P2P_PAIRING_UNREACHABLE', 502],
    ['APP_USAGE', 400],
    ['CORE_WRITE_FAILED', 500]
  ]
  for (const [code, status] of cases) {
    service.failWith = { code, message: `failed with ${code}` }
    const r = await app.inject({ method: 'POST', url: '/v1/pairing/join', payload: { pin: '12345678', addr: '/ip4/127.0.0.1/tcp/1' } })
    t.equal(r.statusCode, status, `${code}: ${status}`)
    t.same(r.json(), { code, message: `failed with ${code}` }, `${code} travels with its message`)
  }
})

t.test('an error without one of our codes is APP_UNEXPECTED (500)', async t => {
  const { service, app } = setup(t)
  service.pairList = async () => { throw new TypeError('a bug') }
  const r = await app.inject({ method: 'GET', url: '/v1/peers' })
  t.equal(r.statusCode, 500)
  t.equal(r.json().code, 'APP_UNEXPECTED')
})

t.test('responses carry only their schema\'s properties', async t => {
  const { service, app } = setup(t)
  service.status_ = { ...STATUS, secret: 'not for the wire' } as typeof STATUS
  const r = await app.inject({ method: 'GET', url: '/v1/status' })
  t.same(r.json(), STATUS)
})
