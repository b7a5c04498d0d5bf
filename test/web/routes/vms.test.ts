/**
 * The VM routes through fastify's inject(): each reaches its VmApi method
 * with the request's values, the schemas refuse bad input before the
 * service sees it, and the VM codes travel with their status.
 */
import t, { type Test } from 'tap'
import type { InjectOptions } from 'fastify'
import { buildApiServer } from '../../../web/index.ts'
import { FakeService, VM } from '../fixtures/fake-service.ts'

function setup (t: Test): { service: FakeService, app: ReturnType<typeof buildApiServer> } {
  const service = new FakeService()
  const app = buildApiServer(service)
  t.teardown(async () => { await app.close() })
  return { service, app }
}

t.test('each VM route calls its method and answers its JSON', async t => {
  const { service, app } = setup(t)
  const add = { name: 'web', disks: ['/vms/web.qcow2'], cpus: 2, memoryMiB: 2048, driver: 'qemu', guestAgent: true, nics: [{ mode: 'bridge', bridge: 'br0' }], boot: { kernel: '/boot/vmlinuz', append: 'console=ttyS0' } }
  let r = await app.inject({ method: 'POST', url: '/v1/vms', payload: add })
  t.equal(r.statusCode, 200)
  t.same(r.json(), VM)
  r = await app.inject({ method: 'POST', url: '/v1/vms', payload: { name: 'files', disks: ['/srv/a.raw', '/srv/b.raw'], driver: 'manual' } })
  t.equal(r.statusCode, 200, 'only name and disks are required')
  r = await app.inject({ method: 'GET', url: '/v1/vms' })
  t.same(r.json(), [VM])
  r = await app.inject({ method: 'POST', url: '/v1/vms/web/start' })
  t.same(r.json(), VM)
  r = await app.inject({ method: 'POST', url: '/v1/vms/web/stop', payload: {} })
  t.equal(r.statusCode, 200)
  r = await app.inject({ method: 'POST', url: '/v1/vms/web/stop', payload: { force: true, timeoutMs: 5000 } })
  t.equal(r.statusCode, 200)
  r = await app.inject({ method: 'DELETE', url: '/v1/vms/web' })
  t.same(r.json(), { name: 'web', removed: true })
  t.same(service.calls, [
    ['vmAdd', add],
    ['vmAdd', { name: 'files', disks: ['/srv/a.raw', '/srv/b.raw'], driver: 'manual' }],
    ['vmList', undefined],
    ['vmStart', 'web'],
    ['vmStop', ['web', {}]],
    ['vmStop', ['web', { force: true, timeoutMs: 5000 }]],
    ['vmRemove', 'web']
  ])
})

t.test('the VM schemas refuse bad requests with WEB_BAD_REQUEST before the service is called', async t => {
  const { service, app } = setup(t)
  const bad: Array<[string, InjectOptions]> = [
    ['an add without disks', { method: 'POST', url: '/v1/vms', payload: { name: 'web' } }],
    ['an add with no disk', { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: [] } }],
    ['an add with an unknown property', { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: ['/a'], colour: 'red' } }],
    ['a name that is not a VM name', { method: 'POST', url: '/v1/vms', payload: { name: '../etc', disks: ['/a'] } }],
    ['cpus as a string (no coercion)', { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: ['/a'], cpus: '2' } }],
    ['an unknown driver', { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: ['/a'], driver: 'xen' } }],
    ['17 disks', { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: Array.from({ length: 17 }, (_, i) => `/d${i}`) } }],
    ['a NIC of an unknown mode', { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: ['/a'], nics: [{ mode: 'tap' }] } }],
    ['a boot without a kernel', { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: ['/a'], boot: { initrd: '/i' } } }],
    ['a stop window above 90 s', { method: 'POST', url: '/v1/vms/web/stop', payload: { timeoutMs: 90_001 } }],
    ['force as a string', { method: 'POST', url: '/v1/vms/web/stop', payload: { force: 'yes' } }],
    ['a path traversal as VM name', { method: 'DELETE', url: '/v1/vms/..%2F..%2Fetc' }],
    ['a VM name starting with a dot', { method: 'POST', url: '/v1/vms/.hidden/start' }]
  ]
  for (const [what, request] of bad) {
    const r = await app.inject(request)
    t.equal(r.statusCode, 400, `${what}: 400`)
    t.equal(r.json().code, 'WEB_BAD_REQUEST', `${what}: WEB_BAD_REQUEST`)
  }
  t.same(service.calls, [], 'the service saw none of them')
})

t.test('VM codes travel as { code, message } with their status', async t => {
  const { service, app } = setup(t)
  const cases: Array<[string, number, InjectOptions]> = [
    ['APP_VM_NOT_FOUND', 404, { method: 'POST', url: '/v1/vms/web/start' }],
    ['APP_VM_EXISTS', 409, { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: ['/a'] } }],
    ['APP_DISK_TAKEN', 409, { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: ['/a'] } }],
    ['APP_DISK_NOT_FOUND', 400, { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: ['/a'] } }],
    ['APP_VM_INVALID', 400, { method: 'POST', url: '/v1/vms', payload: { name: 'web', disks: ['relative'] } }],
    ['APP_VM_NOT_MANAGED', 409, { method: 'POST', url: '/v1/vms/web/stop', payload: {} }],
    ['APP_VM_STOP_TIMEOUT', 409, { method: 'POST', url: '/v1/vms/web/stop', payload: {} }],
    ['APP_VM_RUNNING', 409, { method: 'DELETE', url: '/v1/vms/web' }],
    ['APP_VM_PROTECTED', 409, { method: 'DELETE', url: '/v1/vms/web' }],
    ['APP_VM_START_FAILED', 500, { method: 'POST', url: '/v1/vms/web/start' }]
  ]
  for (const [code, status, request] of cases) {
    service.failWith = { code, message: 'no' }
    const r = await app.inject(request)
    t.equal(r.statusCode, status, `${code}: ${status}`)
    t.same(r.json(), { code, message: 'no' })
  }
})
