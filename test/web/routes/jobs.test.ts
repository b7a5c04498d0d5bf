/**
 * The job routes through fastify's inject(): seed export and import start
 * jobs with the request's values, jobs are read and cancelled by id, the
 * schemas refuse bad input before the service sees it, and the job codes
 * travel with their status.
 */
import t, { type Test } from 'tap'
import type { InjectOptions } from 'fastify'
import { buildApiServer } from '../../../web/index.ts'
import { FakeService, JOB } from '../fixtures/fake-service.ts'

function setup (t: Test): { service: FakeService, app: ReturnType<typeof buildApiServer> } {
  const service = new FakeService()
  const app = buildApiServer(service)
  t.teardown(async () => { await app.close() })
  return { service, app }
}

t.test('each job route calls its method and answers the job', async t => {
  const { service, app } = setup(t)
  let r = await app.inject({ method: 'POST', url: '/v1/seeds/export/vm1', payload: { to: '/mnt/usb/vm1.seed' } })
  t.equal(r.statusCode, 200)
  t.same(r.json(), JOB)
  r = await app.inject({ method: 'POST', url: '/v1/seeds/export/vm1', payload: { to: '/mnt/usb/vm1.seed', force: true } })
  t.equal(r.statusCode, 200)
  r = await app.inject({ method: 'POST', url: '/v1/seeds/import', payload: { from: '/media/usb/vm1.seed' } })
  t.same(r.json(), JOB)
  r = await app.inject({ method: 'GET', url: '/v1/jobs' })
  t.same(r.json(), [JOB])
  r = await app.inject({ method: 'GET', url: `/v1/jobs/${JOB.id}` })
  t.same(r.json(), JOB)
  r = await app.inject({ method: 'DELETE', url: `/v1/jobs/${JOB.id}` })
  t.same(r.json(), JOB)
  t.same(service.calls, [
    ['seedExport', { name: 'vm1', to: '/mnt/usb/vm1.seed' }],
    ['seedExport', { name: 'vm1', to: '/mnt/usb/vm1.seed', force: true }],
    ['seedImport', { from: '/media/usb/vm1.seed' }],
    ['jobs', undefined],
    ['job', JOB.id],
    ['jobCancel', JOB.id]
  ])
})

t.test('the job schemas refuse bad requests with WEB_BAD_REQUEST before the service is called', async t => {
  const { service, app } = setup(t)
  const bad: Array<[string, InjectOptions]> = [
    ['an export without a path', { method: 'POST', url: '/v1/seeds/export/vm1', payload: {} }],
    ['an export with an empty path', { method: 'POST', url: '/v1/seeds/export/vm1', payload: { to: '' } }],
    ['an export with an unknown property', { method: 'POST', url: '/v1/seeds/export/vm1', payload: { to: '/a', colour: 'red' } }],
    ['force as a string (no coercion)', { method: 'POST', url: '/v1/seeds/export/vm1', payload: { to: '/a', force: 'yes' } }],
    ['a path longer than PATH_MAX', { method: 'POST', url: '/v1/seeds/export/vm1', payload: { to: `/${'a'.repeat(4096)}` } }],
    ['an import without a path', { method: 'POST', url: '/v1/seeds/import', payload: {} }],
    ['an import path that is a number', { method: 'POST', url: '/v1/seeds/import', payload: { from: 7 } }],
    ['a job id of 65 characters', { method: 'GET', url: `/v1/jobs/${'a'.repeat(65)}` }]
  ]
  for (const [what, request] of bad) {
    const r = await app.inject(request)
    t.equal(r.statusCode, 400, what)
    t.equal(r.json().code, 'WEB_BAD_REQUEST', what)
  }
  t.same(service.calls, [], 'the service saw none of them')
})

t.test('job errors travel as { code, message } with their status', async t => {
  const { service, app } = setup(t)
  for (const [code, status] of [['APP_JOB_NOT_FOUND', 404], ['APP_SEED_MISMATCH', 409], ['APP_SEED_NO_ORIGIN', 400], ['APP_INVALID_STATE', 409], ['CORE_SEED_INVALID', 400], ['CORE_SEED_CORRUPT', 500]] as const) {
    service.failWith = { code, message: 'no' }
    const r = await app.inject({ method: 'GET', url: '/v1/jobs/abc' })
    t.equal(r.statusCode, status, code)
    t.same(r.json(), { code, message: 'no' })
  }
})
