/**
 * The Replica routes through inject() and through the API client over a
 * real socket: each reaches its service method with the request's values,
 * bad input is WEB_BAD_REQUEST before the service is called, and
 * APP_RELATIONSHIP_NOT_FOUND travels as 404 with its code.
 */
import t from 'tap'
import { join } from 'node:path'
import { ApiClient, buildApiServer } from '../../../web/index.ts'
import { listenOnSocket } from '../../../web/socket.ts'
import { EVENTS, FakeService, POINTS, REPLICA_STATUS } from '../fixtures/fake-service.ts'
import { tempDir } from '../../helpers/fixtures.ts'

t.test('routes', async t => {
  const service = new FakeService()
  const app = buildApiServer(service)
  t.teardown(async () => { await app.close() })
  let r = await app.inject({ method: 'GET', url: '/v1/points/web' })
  t.equal(r.statusCode, 200)
  t.same(r.json(), POINTS)
  r = await app.inject({ method: 'GET', url: `/v1/points/${encodeURIComponent('12D3KooWx/web-1')}` })
  t.equal(r.statusCode, 200, 'PEER/RELATIONSHIP, encoded')
  t.same(service.calls.at(-1), ['points', '12D3KooWx/web-1'])
  r = await app.inject({ method: 'GET', url: '/v1/events' })
  t.same(r.json(), EVENTS)
  t.same(service.calls.at(-1), ['listEvents', {}])
  r = await app.inject({ method: 'GET', url: '/v1/events?name=web&last=20' })
  t.same(service.calls.at(-1), ['listEvents', { name: 'web', last: 20 }])
  r = await app.inject({ method: 'GET', url: '/v1/events?after=1&last=5' })
  t.same(service.calls.at(-1), ['listEvents', { after: 1, last: 5 }])
  t.same(r.json(), { ...EVENTS, events: [EVENTS.events[1]] }, 'only the events after seq 1')
  r = await app.inject({ method: 'GET', url: '/v1/events?cursor=f1&last=5' })
  t.same(service.calls.at(-1), ['listEvents', { last: 5, cursor: 'f1' }])
  t.same(r.json(), { events: [EVENTS.events[1]], problems: 0, cursor: 'f2', more: false, reset: false }, 'after a cursor: what follows it, and the next cursor')
  r = await app.inject({ method: 'GET', url: '/v1/events?cursor=' })
  t.same(service.calls.at(-1), ['listEvents', { cursor: '' }], 'an empty cursor: the log\'s beginning')
  r = await app.inject({ method: 'GET', url: '/v1/replica/relationships' })
  t.same(r.json(), [REPLICA_STATUS])

  const before = service.calls.length
  for (const url of ['/v1/events?last=abc', '/v1/events?bogus=1', '/v1/events?last=12345', '/v1/events?after=-1', '/v1/events?after=1.5', `/v1/events?after=${'9'.repeat(16)}`, '/v1/events?cursor=a/b', `/v1/events?cursor=${'a'.repeat(121)}`]) {
    r = await app.inject({ method: 'GET', url })
    t.equal(r.json().code, 'WEB_BAD_REQUEST', url)
  }
  t.equal(service.calls.length, before, 'the service was not called')

  service.failWith = { code: 'APP_RELATIONSHIP_NOT_FOUND', message: 'none' }
  r = await app.inject({ method: 'GET', url: '/v1/points/nope' })
  t.equal(r.statusCode, 404)
  t.equal(r.json().code, 'APP_RELATIONSHIP_NOT_FOUND')
})

t.test('the client', async t => {
  const service = new FakeService()
  const app = buildApiServer(service)
  const socketPath = join(await tempDir(t), 'api.sock')
  await listenOnSocket(app, socketPath)
  t.teardown(async () => { await app.close() })
  const client = new ApiClient({ socketPath })
  t.same(await client.points('peer/web-1'), POINTS)
  t.same(service.calls.at(-1), ['points', 'peer/web-1'])
  t.same(await client.listEvents({ name: 'web', last: 5 }), EVENTS)
  t.same(service.calls.at(-1), ['listEvents', { name: 'web', last: 5 }])
  t.same((await client.listEvents({ after: 1 })).events, [EVENTS.events[1]])
  t.same(service.calls.at(-1), ['listEvents', { after: 1 }])
  const page = await client.listEvents({ cursor: '', last: 1 })
  t.same([page.events, page.more], [[EVENTS.events[0]], true], 'from the beginning, a page')
  t.same((await client.listEvents({ cursor: page.cursor })).events, [EVENTS.events[1]], 'then from its cursor')
  t.same(service.calls.at(-1), ['listEvents', { cursor: page.cursor }])
  t.same(await client.replicaStatus(), [REPLICA_STATUS])
  service.failWith = { code: 'APP_RELATIONSHIP_NOT_FOUND', message: 'none' }
  await t.rejects(client.points('x'), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
})
