/**
 * The unplanned failover routes through the API client over a real
 * socket: unplanned, its plan, complete and cancel each reach their service
 * method with the request's values and come back whole (a failover job, a
 * plan, a cancel, a Replica status with its failover); bad input is
 * WEB_BAD_REQUEST before the service is called; the codes travel with
 * their status.
 */
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { FAILOVER, FAILOVER_JOB, FAILOVER_PLAN, REPLICA_STATUS } from '../fixtures/fake-service.ts'
import { refusedBeforeService, servedFake } from '../fixtures/served.ts'

const served = servedFake

t.test('each unplanned failover method reaches its route and comes back whole', async t => {
  const { service, client } = await served(t)
  t.same(await client.failoverUnplanned('web', { point: 3, yes: true }), FAILOVER_JOB)
  t.same(await client.failoverUnplanned('web'), FAILOVER_JOB)
  t.same(await client.failoverPlan('web', { action: 'unplanned', point: 3 }), FAILOVER_PLAN)
  t.same(await client.failoverPlan('web', { action: 'cancel' }), FAILOVER_PLAN)
  t.same(await client.failoverComplete('web', { yes: true, bandwidth: '50M' }), { ...FAILOVER_JOB, kind: 'failover-complete' })
  t.same(await client.failoverCancel('web'), { relationship: 'web-1', vm: 'web', point: 3, term: 1, kind: 'vm', cancelled: true, vmStarted: null })
  t.same(service.calls, [
    ['failoverUnplanned', { name: 'web', point: 3, yes: true }],
    ['failoverUnplanned', { name: 'web' }],
    ['failoverPlan', { name: 'web', action: 'unplanned', point: 3 }],
    ['failoverPlan', { name: 'web', action: 'cancel' }],
    ['failoverComplete', { name: 'web', yes: true, bandwidth: '50M' }],
    ['failoverCancel', 'web']
  ])
})

t.test('a Replica status carries its failover', async t => {
  const { service, client } = await served(t)
  const status = { ...REPLICA_STATUS, state: 'failed-over-waiting-completion', term: 2, failover: FAILOVER }
  service.replicaStatus = async () => [status]
  t.same(await client.replicaStatus(), [status])
})

t.test('bad requests are refused before the service', async t => {
  const { service, app } = await served(t)
  const bad: Array<[string, InjectOptions]> = [
    ['point 0', { method: 'POST', url: '/v1/failover/web/unplanned', payload: { point: 0 } }],
    ['yes as a string', { method: 'POST', url: '/v1/failover/web/unplanned', payload: { yes: 'yes' } }],
    ['an unknown field', { method: 'POST', url: '/v1/failover/web/unplanned', payload: { force: true } }],
    ['a plan without its action', { method: 'POST', url: '/v1/failover/web/plan', payload: { point: 3 } }],
    ['an unknown action', { method: 'POST', url: '/v1/failover/web/plan', payload: { action: 'planned' } }],
    ['an empty bandwidth', { method: 'POST', url: '/v1/failover/web/complete', payload: { yes: true, bandwidth: '' } }],
    ['a name of 65 characters', { method: 'POST', url: `/v1/failover/${'w'.repeat(65)}/cancel` }]
  ]
  await refusedBeforeService(t, { service, app }, bad)
})

t.test('the codes travel with their status', async t => {
  const { service, client, app } = await served(t)
  const codes = [['APP_CONFIRMATION_REQUIRED', 400], ['APP_INVALID_STATE', 409], ['APP_VM_NOT_RUNNING', 409], ['APP_FAILOVER_COPY_FAILED', 409], ['APP_POINT_NOT_FOUND', 404]] as const
  for (const [code, status] of codes) {
    service.failWith = { code, message: 'no' }
    const r = await app.inject({ method: 'POST', url: '/v1/failover/web/complete', payload: { yes: true } })
    t.equal(r.statusCode, status, code)
    await t.rejects(client.failoverCancel('web'), { code })
  }
})
