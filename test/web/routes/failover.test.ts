/**
 * The failover routes through the API client over a real socket: each
 * method reaches its route and its service method with the request's
 * values and comes back whole (the response schemas keep every field: a
 * test, a plan, a drill job, drill settings, a Replica status with its
 * test and proof); bad input is WEB_BAD_REQUEST before the service is
 * called; the failover codes travel with their status; a drill screenshot
 * is the PNG a proof names, a missing one or a traversal refused.
 */
import t from 'tap'
import type { InjectOptions } from 'fastify'
import { rm, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { tempDir } from '../../helpers/fixtures.ts'
import { DRILL_JOB, DRILL_SETTINGS, POINTS, PROOF, REPLICA_STATUS, TEST, TEST_PLAN, TEST_STOP_PLAN } from '../fixtures/fake-service.ts'
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

t.test('a drill screenshot: the PNG its proof names, nothing else', async t => {
  const { service, client, app } = await served(t)
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3])
  const path = join(await tempDir(t), 'abababababab-20260102T000000Z.png')
  await writeFile(path, png)
  service.points_ = { ...POINTS, points: [{ ...POINTS.points[0]!, proven: { ...PROOF, screenshot: path } }] }
  const shot = await client.drillScreenshot('web', basename(path))
  t.same(Buffer.from(shot.png), png, 'the bytes, through the client')
  const r = await app.inject({ method: 'GET', url: `/v1/drills/web/screenshots/${basename(path)}` })
  t.equal(r.headers['content-type'], 'image/png', 'served as a PNG')
  t.same(r.rawPayload, png)

  await t.rejects(client.drillScreenshot('web', 'other.png'), { code: 'APP_SCREENSHOT_NOT_FOUND' }, 'a name no proof holds')
  await rm(path)
  await t.rejects(client.drillScreenshot('web', basename(path)), { code: 'APP_SCREENSHOT_NOT_FOUND' }, 'a missing file')
  const missing = await app.inject({ method: 'GET', url: `/v1/drills/web/screenshots/${basename(path)}` })
  t.equal(missing.statusCode, 404)

  service.calls.length = 0
  const traversal: Array<[string, InjectOptions]> = ['..%2F..%2Fetc%2Fpasswd.png', '%2Fetc%2Fx.png', '..%5Cx.png', '.hidden.png', '..png', 'x.png%00', 'notes.txt', 'a%2F..%2F..%2Fb.png']
    .map(file => [`traversal: ${file}`, { method: 'GET', url: `/v1/drills/web/screenshots/${file}` }])
  await refusedBeforeService(t, { service, app }, traversal)
  for (const url of ['/v1/drills/web/screenshots/../../etc/passwd', '/v1/drills/web/screenshots/a/b.png']) {
    t.equal((await app.inject({ method: 'GET', url })).json().code, 'WEB_NOT_FOUND', `${url}: no such route`)
  }
})
