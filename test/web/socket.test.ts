/**
 * The API on its unix socket: mode 0600; a socket file left by a dead
 * server is replaced, a live one is refused (APP_DAEMON_RUNNING), a path
 * that is not a socket is left alone (WEB_SOCKET_PATH_INVALID); closing
 * removes the file.
 */
import t from 'tap'
import { stat, writeFile } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { buildApiServer, listenOnSocket, socketIsLive } from '../../web/index.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { FakeService } from './fixtures/fake-service.ts'

t.test('the socket is 0600 and removed on close', async t => {
  const path = join(await tempDir(t), 'api.sock')
  const app = buildApiServer(new FakeService())
  await listenOnSocket(app, path)
  const s = await stat(path)
  t.ok(s.isSocket())
  t.equal(s.mode & 0o777, 0o600)
  t.ok(await socketIsLive(path))
  await app.close()
  await t.rejects(stat(path), { code: 'ENOENT' })
})

t.test('a stale socket file is replaced', async t => {
  const stale = join(await tempDir(t), 'api.sock')
  // A server killed without removing its socket file: what kill -9 of a daemon leaves.
  const killed = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`])
  t.equal(killed.signal, 'SIGKILL')
  t.ok((await stat(stale)).isSocket(), 'the killed process left its socket file')
  t.notOk(await socketIsLive(stale), 'nobody answers on it')
  const app = buildApiServer(new FakeService())
  t.teardown(async () => { await app.close() })
  await listenOnSocket(app, stale)
  t.ok(await socketIsLive(stale), 'the API serves there now')
  t.equal((await stat(stale)).mode & 0o777, 0o600)
})

t.test('a live socket is not replaced', async t => {
  const path = join(await tempDir(t), 'api.sock')
  const first = buildApiServer(new FakeService())
  t.teardown(async () => { await first.close() })
  await listenOnSocket(first, path)
  const second = buildApiServer(new FakeService())
  t.teardown(async () => { await second.close() })
  await t.rejects(listenOnSocket(second, path), { code: 'APP_DAEMON_RUNNING' })
  t.ok(await socketIsLive(path), 'the first server still answers')
})

t.test('a path holding a file is left alone', async t => {
  const path = join(await tempDir(t), 'api.sock')
  await writeFile(path, 'not a socket')
  const app = buildApiServer(new FakeService())
  t.teardown(async () => { await app.close() })
  await t.rejects(listenOnSocket(app, path), { code: 'WEB_SOCKET_PATH_INVALID' })
  t.ok((await stat(path)).isFile())
})
