/**
 * QmpClient against fake QMP servers on unix sockets in the test: a silent
 * server, garbage, oversized lines (refused without buffering them all),
 * replies out of order, late replies, events before the wait, and a socket
 * that is not there.
 */
import t from 'tap'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { AppErrorCode } from '../../../../../appliance/errors.ts'
import { MAX_QMP_LINE_BYTES, QmpClient } from '../../../../../appliance/drivers/qemu/qmp/index.ts'
import { tempDir, type Teardown } from '../../../../helpers/fixtures.ts'
import { serveUnixSocket } from '../../../../helpers/unix-server.ts'

const GREETING = JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake' }, capabilities: [] } }) + '\n'

/** A unix-socket server in the test's directory running `onConnection` for each client; closed (with its clients) at teardown. */
async function fakeServer (t: Teardown, onConnection: (socket: Socket) => void): Promise<string> {
  const path = join(await tempDir(t), 'qmp.sock')
  await serveUnixSocket(t, path, onConnection)
  return path
}

/** Reads the client's commands line by line and hands each, parsed, to `onCommand`. */
function onCommands (socket: Socket, onCommand: (cmd: { execute: string, arguments?: Record<string, unknown>, id: string }) => void): void {
  let buf = ''
  socket.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8')
    for (let i = buf.indexOf('\n'); i !== -1; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      onCommand(JSON.parse(line))
    }
  })
}

/** A QMP server that greets, accepts capabilities, and hands every later command to `handler`. */
async function fakeQmp (t: Teardown, handler: (socket: Socket, cmd: { execute: string, arguments?: Record<string, unknown>, id: string }) => void): Promise<string> {
  return await fakeServer(t, socket => {
    socket.write(GREETING)
    onCommands(socket, cmd => {
      if (cmd.execute === 'qmp_capabilities') socket.write(JSON.stringify({ return: {}, id: cmd.id }) + '\n')
      else handler(socket, cmd)
    })
  })
}

/** Writes `total` bytes of 'x' without a newline, respecting backpressure, until done or the peer goes away; resolves with the bytes accepted. */
async function flood (socket: Socket, total: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 'x')
  let written = 0
  let gone = false
  socket.once('close', () => { gone = true })
  while (!gone && written < total) {
    const ok = socket.write(chunk)
    written += chunk.length
    if (!ok) {
      await new Promise<void>(resolve => {
        const done = (): void => { socket.off('drain', done); socket.off('close', done); resolve() }
        socket.on('drain', done)
        socket.on('close', done)
      })
    }
  }
  return written
}

t.test('no greeting within the timeout: APP_QMP_TIMEOUT', async t => {
  const path = await fakeServer(t, () => {})
  await t.rejects(QmpClient.connect(path, { timeoutMs: 200 }), { code: AppErrorCode.APP_QMP_TIMEOUT })
})

t.test('no socket at the path: APP_QMP_DISCONNECTED', async t => {
  const path = join(await tempDir(t), 'absent.sock')
  await t.rejects(QmpClient.connect(path), { code: AppErrorCode.APP_QMP_DISCONNECTED })
})

t.test('a garbage greeting: APP_QMP_PROTOCOL', async t => {
  const path = await fakeServer(t, socket => { socket.write('SSH-2.0-OpenSSH_9.2\r\n') })
  await t.rejects(QmpClient.connect(path), { code: AppErrorCode.APP_QMP_PROTOCOL })
})

t.test('a JSON greeting that is not QMP: APP_QMP_PROTOCOL', async t => {
  const path = await fakeServer(t, socket => { socket.write('{"hello": 1}\n') })
  await t.rejects(QmpClient.connect(path), { code: AppErrorCode.APP_QMP_PROTOCOL })
})

t.test('a garbage line after connecting fails the pending command and the connection with APP_QMP_PROTOCOL', async t => {
  const path = await fakeQmp(t, socket => { socket.write('not json at all\n') })
  const qmp = await QmpClient.connect(path)
  await t.rejects(qmp.execute('query-status'), { code: AppErrorCode.APP_QMP_PROTOCOL })
  t.match(await qmp.closed, { code: AppErrorCode.APP_QMP_PROTOCOL })
  await t.rejects(qmp.execute('query-status'), { code: AppErrorCode.APP_QMP_DISCONNECTED })
})

t.test('an oversized greeting: APP_QMP_PROTOCOL, and the client stops reading instead of buffering it all', async t => {
  const total = 64 * MAX_QMP_LINE_BYTES
  let accepted: Promise<number> | undefined
  const path = await fakeServer(t, socket => { accepted = flood(socket, total) })
  await t.rejects(QmpClient.connect(path), { code: AppErrorCode.APP_QMP_PROTOCOL })
  t.ok(await accepted! < total, 'the server could not send the whole line: the client closed the connection')
})

t.test('an oversized reply: APP_QMP_PROTOCOL', async t => {
  let accepted: Promise<number> | undefined
  const total = 64 * MAX_QMP_LINE_BYTES
  const path = await fakeQmp(t, socket => { socket.write('{"return": "'); accepted = flood(socket, total) })
  const qmp = await QmpClient.connect(path)
  await t.rejects(qmp.execute('query-status'), { code: AppErrorCode.APP_QMP_PROTOCOL })
  t.ok(await accepted! < total, 'the client closed the connection')
})

t.test('replies in reverse order reach their own commands; a late reply after a timeout is dropped', async t => {
  const held: Array<{ socket: Socket, id: string, n: number }> = []
  const path = await fakeQmp(t, (socket, cmd) => {
    if (cmd.execute === 'slow') return // never answered until 'flush'
    if (cmd.execute === 'flush') {
      for (const h of held.reverse()) h.socket.write(JSON.stringify({ return: { n: h.n }, id: h.id }) + '\n')
      held.length = 0
      socket.write(JSON.stringify({ return: {}, id: cmd.id }) + '\n')
      return
    }
    held.push({ socket, id: cmd.id, n: Number(cmd.arguments?.n) })
  })
  const qmp = await QmpClient.connect(path)
  await t.rejects(qmp.execute('slow', undefined, { timeoutMs: 100 }), { code: AppErrorCode.APP_QMP_TIMEOUT })
  const calls = Array.from({ length: 5 }, async (_, n) => await qmp.execute<{ n: number }>('echo', { n }))
  await qmp.execute('flush')
  t.same(await Promise.all(calls), [0, 1, 2, 3, 4].map(n => ({ n })))
  t.equal(await Promise.race([qmp.closed, 'open']), 'open', 'a reply with an unknown id does not fail the connection')
})

t.test('an event sent before the reply is found with since; an aborted wait rejects CORE_ABORTED', async t => {
  const path = await fakeQmp(t, (socket, cmd) => {
    socket.write(JSON.stringify({ event: 'THING_DONE', data: { which: cmd.arguments?.which }, timestamp: { seconds: 1, microseconds: 2 } }) + '\n')
    socket.write(JSON.stringify({ return: {}, id: cmd.id }) + '\n')
  })
  const qmp = await QmpClient.connect(path)
  const mark = qmp.lastEventSeq
  await qmp.execute('do-thing', { which: 'a' })
  await qmp.execute('do-thing', { which: 'b' })
  const e = await qmp.waitForEvent('THING_DONE', e => e.data.which === 'a', { since: mark })
  t.same(e, { event: 'THING_DONE', data: { which: 'a' }, timestamp: { seconds: 1, microseconds: 2 }, seq: mark + 1 })
  const ac = new AbortController()
  const waiting = qmp.waitForEvent('NEVER', undefined, { signal: ac.signal })
  ac.abort()
  await t.rejects(waiting, { code: 'CORE_ABORTED' })
  await t.rejects(qmp.execute('do-thing', {}, { signal: AbortSignal.abort() }), { code: 'CORE_ABORTED' })
  await qmp.close()
})
