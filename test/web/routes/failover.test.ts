/**
 * The failover routes through the API client over a real socket: each
 * method reaches its route and its service method with the request's
 * values and comes back whole (the response schemas keep every field: a
 * test, a plan, a drill job, drill settings, a Replica status with its
 * test and proof); bad input is WEB_BAD_REQUEST before the service is
 * called; the failover codes travel with their status.
 */
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { DRILL_JOB, DRILL_SETTINGS, PROOF, REPLICA_STATUS, TEST, TEST_PLAN, TEST_STOP_PLAN } from '../fixtures/fake-service.ts'
import { refusedBeforeService, servedFake } from '../fixtures/served.ts'

const served = servedFake

t.test('each failover method reaches its route and comes back whole', async t => {
  const { service, client } = await served(t)
  t.same(await client.failoverTest('web', { point: 3 }), TEST)
  t.same(await client.failoverTest('web'), TEST)
  t.same(await client.failoverTestPlan('web', { point: 3, check: true, sign: { kind: 'serial', pattern: 'login: ' }, timeoutMs: 60_000 }), TEST_PLAN)
  t.same(await client.failoverStopTest('web.1'), { relationship: 'web-1', vm: 'web', point: 3, testVm: 'web-test', stopped: true })
  t.same(await client.failoverStopTestPlan('web.1'), TEST_STOP_PLAN)
  t.same(await client.failoverTests(), [TEST])
  t.same(await client.failoverDrill('web', { sign: { kind: 'agent' } }), DRILL_JOB)
  t.same(await client.failoverDrillSchedule('web', { every: '7d', sign: { kind: 'agent' }, timeout: '5m' }), DRILL_SETTINGS)
  t.same(service.calls, [
    ['failoverTest', { name: 'web', point: 3 }],
    ['failoverTest', { name: 'web' }],
    ['failoverTestPlan', { name: 'web', point: 3, check: true, sign: { kind: 'serial', pattern: 'login: ' }, timeoutMs: 60_000 }],
    ['failoverStopTest', 'web.1'],
    ['failoverStopTestPlan', 'web.1'],
    ['failoverTests', undefined],
    ['failoverDrill', { name: 'web', sign: { kind: 'agent' } }],
    ['failoverDrillSchedule', { name: 'web', every: '7d', sign: { kind: 'agent' }, timeout: '5m' }]
  ])
})

t.test('a Replica status and a job carry their failover fields', async t => {
  const { service, client } = await served(t)
  const status = { ...REPLICA_STATUS, test: TEST, lastProvenPoint: PROOF, drill: DRILL_SETTINGS }
  service.replicaStatus = async () => [status]
  t.same(await client.replicaStatus(), [status])
  service.job = async () => DRILL_JOB
  t.same(await client.job(DRILL_JOB.id), DRILL_JOB)
})

t.test('bad requests are refused before the service', async t => {
  const { service, app } = await served(t)
  const bad: Array<[string, InjectOptions]> = [
    ['point 0', { method: 'POST', url: '/v1/failover/web/test', payload: { point: 0 } }],
    ['point as a string', { method: 'POST', url: '/v1/failover/web/test', payload: { point: '3' } }],
    ['an unknown field', { method: 'POST', url: '/v1/failover/web/test', payload: { point: 3, network: 'bridge' } }],
    ['a name of 65 characters', { method: 'DELETE', url: `/v1/failover/${'w'.repeat(65)}/test` }],
    ['a stop plan of a name of 65 characters', { method: 'GET', url: `/v1/failover/${'w'.repeat(65)}/test/stop-plan` }],
    ['an unknown sign', { method: 'POST', url: '/v1/failover/web/drill', payload: { sign: { kind: 'ping' } } }],
    ['a serial sign without a pattern', { method: 'POST', url: '/v1/failover/web/drill', payload: { sign: { kind: 'serial' } } }],
    ['a pattern over 256 characters', { method: 'POST', url: '/v1/failover/web/drill', payload: { sign: { kind: 'serial', pattern: 'x'.repeat(257) } } }],
    ['a time limit under a second', { method: 'POST', url: '/v1/failover/web/drill', payload: { timeoutMs: 999 } }],
    ['a schedule without every', { method: 'PUT', url: '/v1/failover/web/drill-schedule', payload: { timeout: '5m' } }],
    ['check as a string', { method: 'POST', url: '/v1/failover/web/test/plan', payload: { check: 'yes' } }]
  ]
  await refusedBeforeService(t, { service, app }, bad)
})

t.test('failover codes travel with their status', async t => {
  const { service, client, app } = await served(t)
  for (const [code, status] of [['APP_INVALID_STATE', 409], ['APP_POINT_NOT_FOUND', 404], ['APP_RELATIONSHIP_NOT_FOUND', 404], ['APP_BOOT_FILE_MISSING', 409], ['APP_VM_NOT_MANAGED', 409]] as const) {
    service.failWith = { code, message: 'no' }
    const r = await app.inject({ method: 'POST', url: '/v1/failover/web/test', payload: {} })
    t.equal(r.statusCode, status, code)
    await t.rejects(client.failoverStopTest('web'), { code })
    await t.rejects(client.failoverStopTestPlan('web'), { code })
  }
})
