/**
 * The ApplianceService over the socket: results and error codes come back
 * as the service gave them; no daemon is APP_DAEMON_NOT_RUNNING; an answer
 * too large, not JSON, without a code, or late is APP_API_FAILED.
 */
import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { ApiClient, buildApiServer, listenOnSocket } from '../../web/index.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { FakeService, PAIR_STATUS, PEER, PEER_ID, STATUS, VM } from './fixtures/fake-service.ts'

async function served (t: Test): Promise<{ service: FakeService, client: ApiClient }> {
  const path = join(await tempDir(t), 'api.sock')
  const service = new FakeService()
  const app = buildApiServer(service)
  t.teardown(async () => { await app.close() })
  await listenOnSocket(app, path)
  return { service, client: new ApiClient({ socketPath: path }) }
}

/** A raw HTTP server on a socket that answers every request with `handler`. */
async function rawServer (t: Test, handler: Parameters<typeof createServer>[1]): Promise<string> {
  const path = join(await tempDir(t), 'raw.sock')
  const server: Server = createServer(handler)
  await new Promise<void>(resolve => { server.listen(path, resolve) })
  t.teardown(async () => { server.closeAllConnections(); await new Promise(resolve => { server.close(resolve) }) })
  return path
}

t.test('every method returns what the service returned', async t => {
  const { service, client } = await served(t)
  t.same(await client.status(), STATUS)
  t.equal((await client.pairOpen({ ttl: 5000 })).pin, '12345678')
  t.same(await client.pairJoin({ pin: '12345678', addr: '/ip4/127.0.0.1/tcp/1' }), { peer: PEER, confirmationCode: '123456' })
  t.same(await client.pairStatus(), PAIR_STATUS)
  t.same(await client.pairList(), [PEER])
  t.same(await client.pairRemove(PEER_ID), { peerId: PEER_ID, removed: true })
  t.same(service.calls.map(c => c[0]), ['status', 'pairOpen', 'pairJoin', 'pairStatus', 'pairList', 'pairRemove'])
})

t.test('the VM methods reach their routes, names escaped', async t => {
  const { service, client } = await served(t)
  t.same(await client.vmAdd({ name: 'web', disks: ['/vms/web.qcow2'], cpus: 2 }), VM)
  t.same(await client.vmList(), [VM])
  t.same(await client.vmStart('web'), VM)
  t.same(await client.vmStop('web'), VM)
  t.same(await client.vmStop('web', { force: true, timeoutMs: 1000 }), VM)
  t.same(await client.vmRemove('web.1'), { name: 'web.1', removed: true })
  await t.rejects(client.vmStart('../x'), { code: 'WEB_BAD_REQUEST' }, 'a name that is not one never reaches another route')
  t.same(service.calls, [
    ['vmAdd', { name: 'web', disks: ['/vms/web.qcow2'], cpus: 2 }],
    ['vmList', undefined],
    ['vmStart', 'web'],
    ['vmStop', ['web', {}]],
    ['vmStop', ['web', { force: true, timeoutMs: 1000 }]],
    ['vmRemove', 'web.1']
  ])
  service.failWith = { code: 'APP_VM_PROTECTED', message: 'protected' }
  await t.rejects(client.vmRemove('web'), { code: 'APP_VM_PROTECTED' })
})

t.test('an error comes back with its code and message', async t => {
  const { service, client } = await served(t)
  service.failWith = { code: 'P2P_PAIRING_FAILED', message: 'wrong PIN' }
  await t.rejects(client.pairJoin({ pin: '12345678', addr: '/ip4/127.0.0.1/tcp/1' }), { code: 'P2P_PAIRING_FAILED', message: 'wrong PIN', name: 'ServiceError' })
  service.failWith = undefined
  await t.rejects(client.pairRemove('not-a-peer'), { code: 'WEB_BAD_REQUEST' })
})

t.test('no daemon on the socket is APP_DAEMON_NOT_RUNNING', async t => {
  const client = new ApiClient({ socketPath: join(await tempDir(t), 'api.sock') })
  await t.rejects(client.status(), { code: 'APP_DAEMON_NOT_RUNNING' })
})

t.test('a bad answer is APP_API_FAILED', async t => {
  const big = await rawServer(t, (_req, res) => { res.end(JSON.stringify({ pad: 'x'.repeat(4096) })) })
  await t.rejects(new ApiClient({ socketPath: big, maxResponseBytes: 1024 }).status(), { code: 'APP_API_FAILED' }, 'larger than the limit')
  const notJson = await rawServer(t, (_req, res) => { res.end('<html>') })
  await t.rejects(new ApiClient({ socketPath: notJson }).status(), { code: 'APP_API_FAILED' }, 'not JSON')
  const noCode = await rawServer(t, (_req, res) => { res.statusCode = 500; res.end('{"message":"x"}') })
  await t.rejects(new ApiClient({ socketPath: noCode }).status(), { code: 'APP_API_FAILED' }, 'an error without a code')
  const foreignCode = await rawServer(t, (_req, res) => { res.statusCode = 500; res.end('{"code":"EVIL code","message":"x"}') })
  await t.rejects(new ApiClient({ socketPath: foreignCode }).status(), { code: 'APP_API_FAILED' }, 'a code that is not one of ours')
  let answered = false
  const silent = await rawServer(t, () => { answered = true })
  await t.rejects(new ApiClient({ socketPath: silent, timeoutMs: 50 }).status(), { code: 'APP_API_FAILED' }, 'no answer in time')
  t.ok(answered, 'the silent server got the request')
})
