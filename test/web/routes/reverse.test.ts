/**
 * The planned failover, reverse replication and salvage routes (web/routes/reverse.ts)
 * through the API client over a real socket: each method reaches its
 * route with the request's values and comes back whole; bad input is
 * WEB_BAD_REQUEST before the service is called; the codes travel with
 * their status.
 */
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { PLANNED_JOB, PLANNED_PLAN, REVERSE_JOB, REVERSE_PLAN, SALVAGE, SALVAGE_JOB } from '../fixtures/fake-service.ts'
import { refusedBeforeService, servedFake } from '../fixtures/served.ts'

t.test('each planned, reverse and salvage method reaches its route and comes back whole', async t => {
  const { service, client } = await servedFake(t)
  t.same(await client.failoverPlanned('web', { force: true, timeoutMs: 60_000 }), PLANNED_JOB)
  t.same(await client.failoverPlannedPlan('web', { action: 'cancel' }), PLANNED_PLAN)
  t.same(await client.replicationReverse('web', { force: true }), REVERSE_JOB)
  t.same(await client.replicationReversePlan('web'), REVERSE_PLAN)
  t.same(await client.salvageList(), [SALVAGE])
  t.same(await client.salvageList('web'), [SALVAGE])
  t.same(await client.salvageRestore(SALVAGE.id, { out: '/tmp/web.raw', disk: 'disk0' }), SALVAGE_JOB)
  t.same(await client.salvageDelete(SALVAGE.id, { yes: true }), { id: SALVAGE.id, deleted: true, pointDropped: false })
  t.same(service.calls, [
    ['failoverPlanned', { name: 'web', force: true, timeoutMs: 60_000 }],
    ['failoverPlannedPlan', { name: 'web', action: 'cancel' }],
    ['replicationReverse', { name: 'web', force: true }],
    ['replicationReversePlan', { name: 'web' }],
    ['salvageList', undefined],
    ['salvageList', 'web'],
    ['salvageRestore', { id: SALVAGE.id, out: '/tmp/web.raw', disk: 'disk0' }],
    ['salvageDelete', { id: SALVAGE.id, yes: true }]
  ])
})

t.test('bad requests are refused before the service', async t => {
  const { service, app } = await servedFake(t)
  const bad: Array<[string, InjectOptions]> = [
    ['a window under a second', { method: 'POST', url: '/v1/failover/web/planned', payload: { timeoutMs: 999 } }],
    ['an unknown planned action', { method: 'POST', url: '/v1/failover/web/planned/plan', payload: { action: 'unplanned' } }],
    ['force as a string', { method: 'POST', url: '/v1/replication/web/reverse', payload: { force: 'yes' } }],
    ['an unknown field', { method: 'POST', url: '/v1/replication/web/reverse', payload: { point: 3 } }],
    ['a restore without out', { method: 'POST', url: `/v1/salvage/${SALVAGE.id}/restore`, payload: {} }],
    ['an empty out', { method: 'POST', url: `/v1/salvage/${SALVAGE.id}/restore`, payload: { out: '' } }],
    ['yes as a string', { method: 'DELETE', url: `/v1/salvage/${SALVAGE.id}`, payload: { yes: 'yes' } }],
    ['an id with a space', { method: 'DELETE', url: '/v1/salvage/web%201', payload: { yes: true } }]
  ]
  await refusedBeforeService(t, { service, app }, bad)
})

t.test('the codes travel with their status', async t => {
  const { service, app } = await servedFake(t)
  for (const [code, status] of [['APP_SALVAGE_NOT_FOUND', 404], ['APP_CONFIRMATION_REQUIRED', 400], ['P2P_VM_RUNNING', 409]] as const) {
    service.failWith = { code, message: 'no' }
    const r = await app.inject({ method: 'DELETE', url: `/v1/salvage/${SALVAGE.id}`, payload: { yes: true } })
    t.equal(r.statusCode, status, code)
    t.equal(r.json().code, code)
  }
})
