/**
 * The replication routes (web/routes/replication.ts) through fastify's
 * inject() and through the client over a real socket: each reaches its
 * service method with the request's values, the schemas refuse bad input,
 * and errors travel with their code and web/errors.ts' status.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { ApiClient, buildApiServer, listenOnSocket } from '../../../web/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { FakeService, MEASURE, REPLICATION } from '../fixtures/fake-service.ts'

function setup (t: Test): { service: FakeService, app: ReturnType<typeof buildApiServer> } {
  const service = new FakeService()
  const app = buildApiServer(service)
  t.teardown(async () => { await app.close() })
  return { service, app }
}

t.test('each replication route calls its method and answers its JSON', async t => {
  const { service, app } = setup(t)
  let r = await app.inject({ method: 'PUT', url: '/v1/replication/vm1', payload: { to: 'box-b', frequency: '30s', bandwidth: '10M' } })
  t.equal(r.statusCode, 200)
  t.same(r.json(), REPLICATION)
  r = await app.inject({ method: 'GET', url: '/v1/replication' })
  t.same(r.json(), [REPLICATION])
  r = await app.inject({ method: 'GET', url: '/v1/replication/vm1' })
  t.same(r.json(), [REPLICATION])
  r = await app.inject({ method: 'GET', url: '/v1/replication/vm1/measure' })
  t.same(r.json(), MEASURE)
  for (const action of ['suspend', 'resume', 'resync']) {
    r = await app.inject({ method: 'POST', url: `/v1/replication/vm1/${action}` })
    t.equal(r.statusCode, 200, action)
  }
  r = await app.inject({ method: 'DELETE', url: '/v1/replication/vm1' })
  t.same(r.json(), { relationship: 'vm1', vm: 'vm1', removed: true, replicaTold: true })
  t.same(service.calls, [
    ['replicationEnable', { name: 'vm1', to: 'box-b', frequency: '30s', bandwidth: '10M' }],
    ['replicationStatus', undefined],
    ['replicationStatus', 'vm1'],
    ['replicationMeasure', 'vm1'],
    ['replicationSuspend', 'vm1'],
    ['replicationResume', 'vm1'],
    ['replicationResync', 'vm1'],
    ['replicationRemove', 'vm1']
  ])
})

t.test('unknown pending bytes travel as null (not serialized as 0)', async t => {
  const { service, app } = setup(t)
  const unknown = { ...REPLICATION, dataAtRisk: { bytes: null, seconds: 1 } }
  service.replicationStatus = async () => [unknown]
  service.replicationMeasure = async () => ({ ...MEASURE, pendingSizeBytes: null })
  t.same((await app.inject({ method: 'GET', url: '/v1/replication' })).json(), [unknown])
  t.equal((await app.inject({ method: 'GET', url: '/v1/replication/vm1/measure' })).json().pendingSizeBytes, null)
  service.replicationMeasure = async () => ({ ...MEASURE, pendingSizeBytes: 3_145_728 })
  t.equal((await app.inject({ method: 'GET', url: '/v1/replication/vm1/measure' })).json().pendingSizeBytes, 3_145_728, 'a count as it is')
})

t.test('the enable schema refuses bad requests before the service is called', async t => {
  const { service, app } = setup(t)
  for (const [what, payload] of [
    ['no peer', { frequency: '30s' }],
    ['an unknown setting', { to: 'b', colour: 'red' }],
    ['a number where text is expected (no coercion)', { to: 'b', recoveryPoints: 4 }],
    ['an empty setting', { to: 'b', frequency: '' }]
  ] as const) {
    const r = await app.inject({ method: 'PUT', url: '/v1/replication/vm1', payload })
    t.equal(r.statusCode, 400, what)
    t.equal(r.json().code, 'WEB_BAD_REQUEST', what)
  }
  t.same(service.calls, [])
})

t.test('errors keep their code; the status comes from web/errors.ts', async t => {
  const { service, app } = setup(t)
  for (const [code, status] of [['APP_RELATIONSHIP_NOT_FOUND', 404], ['APP_INVALID_STATE', 409], ['APP_SETTING_INVALID', 400], ['P2P_RELATIONSHIP_REFUSED', 409]] as const) {
    service.failWith = { code, message: 'no' }
    const r = await app.inject({ method: 'POST', url: '/v1/replication/vm1/resume' })
    t.equal(r.statusCode, status, code)
    t.same(r.json(), { code, message: 'no' })
  }
})

/** The API server over the fake, listening on a socket, and a client of it. */
async function overSocket (t: Test): Promise<{ service: FakeService, app: ReturnType<typeof buildApiServer>, client: ApiClient }> {
  const service = new FakeService()
  const socketPath = join(await tempDir(t), 'api.sock')
  const app = buildApiServer(service)
  await listenOnSocket(app, socketPath)
  t.teardown(async () => { await app.close() })
  return { service, app, client: new ApiClient({ socketPath }) }
}

t.test('the client calls the routes over the socket', async t => {
  const { service, client } = await overSocket(t)
  t.same(await client.replicationEnable('vm 1', { to: 'b', initial: 'now' }), REPLICATION)
  t.same(await client.replicationStatus(), [REPLICATION])
  t.same(await client.replicationMeasure('vm1'), MEASURE)
  t.same(await client.replicationSuspend('vm1'), REPLICATION)
  t.same(await client.replicationRemove('vm1'), { relationship: 'vm1', vm: 'vm1', removed: true, replicaTold: true })
  t.same(service.calls[0], ['replicationEnable', { name: 'vm 1', to: 'b', initial: 'now' }], 'the name is carried exactly (encoded in the path)')
  service.failWith = { code: 'APP_INVALID_STATE', message: 'cannot resume: replicating' }
  await t.rejects(client.replicationResume('vm1'), { code: 'APP_INVALID_STATE' })
})

t.test('PATCH /v1/replication/:name changes settings, through the client; its schema refuses bad requests', async t => {
  const { service, app, client } = await overSocket(t)
  const changed = await client.replicationUpdate('vm1', { frequency: '30s', bandwidth: '10M' })
  t.same(changed.settings, { ...REPLICATION.settings, frequency: 30_000, bandwidth: 10_000_000 })
  t.same(service.calls[0], ['replicationUpdate', { name: 'vm1', frequency: '30s', bandwidth: '10M' }])
  await t.rejects(client.replicationUpdate('vm1', {}), { code: 'APP_USAGE' }, 'an empty change is the service\'s APP_USAGE')
  await t.rejects(client.replicationUpdate('vm1', { bandwidth: 'fast' }), { code: 'APP_SETTING_INVALID' })
  service.calls.length = 0
  for (const [what, payload] of [
    ['initial cannot change', { initial: 'now' }],
    ['the peer cannot change', { to: 'c' }],
    ['a number where text is expected (no coercion)', { recoveryPoints: 4 }],
    ['an empty setting', { bandwidth: '' }]
  ] as const) {
    const r = await app.inject({ method: 'PATCH', url: '/v1/replication/vm1', payload })
    t.equal(r.statusCode, 400, what)
    t.equal(r.json().code, 'WEB_BAD_REQUEST', what)
  }
  t.same(service.calls, [], 'refused before the service')
  service.failWith = { code: 'APP_RELATIONSHIP_NOT_FOUND', message: 'Replica side' }
  await t.rejects(client.replicationUpdate('vm1', { frequency: '5m' }), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
})
