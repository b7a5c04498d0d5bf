/**
 * QmpClient against a real qemu-storage-daemon (the same QMP block API as
 * a VM): commands and their replies, QEMU's refusals as APP_QMP_ERROR with
 * the class, concurrent commands matched by id, events, and the daemon
 * killed with a command pending.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AppErrorCode } from '../../../../../appliance/errors.ts'
import { QmpClient, type QmpEvent } from '../../../../../appliance/drivers/qemu/qmp/index.ts'
import { tempDir, type Teardown } from '../../../../helpers/fixtures.ts'
import { startStorageDaemon } from './qemu-processes.ts'
import { requireTools } from '../../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-storage-daemon'])

const run = promisify(execFile)

interface NamedNode { 'node-name': string, drv: string, 'dirty-bitmaps'?: Array<{ name: string, persistent: boolean, granularity: number }> }

async function daemonWithDisk (t: Teardown): Promise<{ qmp: QmpClient, dir: string, pid: number, exited: Promise<number | string> }> {
  const dir = await tempDir(t)
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'disk.qcow2'), '64M'])
  const qsd = await startStorageDaemon(t, dir)
  const qmp = await QmpClient.connect(qsd.qmpSocket)
  t.teardown(async () => { await qmp.close() })
  await qmp.execute('blockdev-add', { driver: 'file', 'node-name': 'disk0-file', filename: join(dir, 'disk.qcow2') })
  await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'disk0', file: 'disk0-file' })
  return { qmp, dir, pid: qsd.pid, exited: qsd.exited }
}

t.test('connect, query-version, block nodes and a persistent dirty bitmap', async t => {
  const { qmp } = await daemonWithDisk(t)
  t.equal(typeof qmp.greeting.version.qemu.major, 'number', 'the greeting carries the version')
  const version = await qmp.execute<{ qemu: { major: number } }>('query-version')
  t.equal(version.qemu.major, qmp.greeting.version.qemu.major)

  t.same(await qmp.execute('block-dirty-bitmap-add', { node: 'disk0', name: 'tandem-1', persistent: true, granularity: 65536 }), {})
  const nodes = await qmp.execute<NamedNode[]>('query-named-block-nodes', { flat: true })
  t.same(nodes.map(n => [n['node-name'], n.drv]).sort(), [['disk0', 'qcow2'], ['disk0-file', 'file']])
  const disk = nodes.find(n => n['node-name'] === 'disk0')!
  t.match(disk['dirty-bitmaps'], [{ name: 'tandem-1', persistent: true, granularity: 65536 }])
})

t.test('a command QEMU refuses rejects with APP_QMP_ERROR and its class', async t => {
  const { qmp } = await daemonWithDisk(t)
  await t.rejects(qmp.execute('no-such-command'), { code: AppErrorCode.APP_QMP_ERROR, details: { command: 'no-such-command', class: 'CommandNotFound' } })
  await t.rejects(qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'disk0', file: 'disk0-file' }), { code: AppErrorCode.APP_QMP_ERROR, details: { class: 'GenericError' } }, 'a duplicate node name')
  await t.rejects(qmp.execute('block-dirty-bitmap-add', { node: 'missing', name: 'b' }), { code: AppErrorCode.APP_QMP_ERROR, details: { class: 'GenericError' } }, 'a missing node')
  t.same(await qmp.execute('query-block-jobs'), [], 'the connection is still usable')
})

t.test('several commands in flight each get their own reply', async t => {
  const { qmp } = await daemonWithDisk(t)
  const calls = Array.from({ length: 30 }, async (_, i) => {
    switch (i % 3) {
      case 0: return await qmp.execute('block-dirty-bitmap-add', { node: 'disk0', name: `b${i}` }).then(r => ['added', r])
      case 1: return await qmp.execute<NamedNode[]>('query-named-block-nodes', { flat: true }).then(r => ['nodes', r.length])
      default: return await qmp.execute('block-dirty-bitmap-add', { node: `missing${i}`, name: 'b' }).then(r => ['unexpected', r], (err: { code: string, message: string }) => ['refused', err.code, err.message.includes(`missing${i}`)])
    }
  })
  const results = await Promise.all(calls)
  results.forEach((r, i) => {
    const expected = i % 3 === 0 ? ['added', {}] : i % 3 === 1 ? ['nodes', 2] : ['refused', AppErrorCode.APP_QMP_ERROR, true]
    t.same(r, expected, `call ${i}`)
  })
})

t.test('events: BLOCK_EXPORT_DELETED after block-export-del, caught with since and with an early wait', async t => {
  const { qmp, dir } = await daemonWithDisk(t)
  const seen: QmpEvent[] = []
  const stopListening = qmp.onEvent(e => { seen.push(e) })
  await qmp.execute('nbd-server-start', { addr: { type: 'unix', data: { path: join(dir, 'nbd.sock') } } })
  await qmp.execute('block-export-add', { type: 'nbd', id: 'exp0', 'node-name': 'disk0', name: 'disk0', writable: false })
  await qmp.execute('block-export-add', { type: 'nbd', id: 'exp1', 'node-name': 'disk0', name: 'disk0-again', writable: false })

  // style 1: note the sequence number, trigger, then wait: an event that came first is still found
  const mark = qmp.lastEventSeq
  await qmp.execute('block-export-del', { id: 'exp0' })
  const deleted = await qmp.waitForEvent('BLOCK_EXPORT_DELETED', e => e.data.id === 'exp0', { since: mark, timeoutMs: 10_000 })
  t.same(deleted.data, { id: 'exp0' })
  t.ok(deleted.seq > mark)
  t.equal(typeof deleted.timestamp.seconds, 'number')

  // style 2: start the wait, then trigger
  const waiting = qmp.waitForEvent('BLOCK_EXPORT_DELETED', e => e.data.id === 'exp1', { timeoutMs: 10_000 })
  await qmp.execute('block-export-del', { id: 'exp1' })
  t.same((await waiting).data, { id: 'exp1' })

  stopListening()
  t.same(seen.filter(e => e.event === 'BLOCK_EXPORT_DELETED').map(e => e.data.id), ['exp0', 'exp1'], 'the listener saw both')
  await t.rejects(qmp.waitForEvent('BLOCK_EXPORT_DELETED', e => e.data.id === 'exp0', { timeoutMs: 50 }), { code: AppErrorCode.APP_QMP_TIMEOUT }, 'without since, an old event does not match')
})

t.test('JOB_STATUS_CHANGE events of a blockdev-backup job, to its end', async t => {
  const { qmp, dir } = await daemonWithDisk(t)
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'target.qcow2'), '64M'])
  await qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'target', file: { driver: 'file', filename: join(dir, 'target.qcow2') } })
  const statuses: string[] = []
  qmp.onEvent(e => { if (e.event === 'JOB_STATUS_CHANGE' && e.data.id === 'job0') statuses.push(String(e.data.status)) })
  const concluded = qmp.waitForEvent('JOB_STATUS_CHANGE', e => e.data.id === 'job0' && e.data.status === 'concluded', { timeoutMs: 20_000 })
  await qmp.execute('blockdev-backup', { 'job-id': 'job0', device: 'disk0', target: 'target', sync: 'full', 'auto-dismiss': false })
  await concluded
  const jobs = await qmp.execute<Array<{ id: string, status: string, error?: string }>>('query-jobs')
  t.match(jobs, [{ id: 'job0', status: 'concluded' }])
  t.notOk(jobs[0]!.error, 'the job succeeded')
  await qmp.execute('job-dismiss', { id: 'job0' })
  await qmp.waitForEvent('JOB_STATUS_CHANGE', e => e.data.id === 'job0' && e.data.status === 'null', { since: 0, timeoutMs: 10_000 })
  t.same(statuses.slice(0, 1), ['created'])
  t.same(statuses.slice(-2), ['concluded', 'null'])
  t.ok(statuses.includes('running'))
})

t.test('the daemon killed with a command and a wait pending: both reject APP_QMP_DISCONNECTED, closed tells why', async t => {
  const { qmp, pid, exited } = await daemonWithDisk(t)
  // stopped, the daemon cannot answer: the command is certainly pending when it dies
  process.kill(pid, 'SIGSTOP')
  const pending = qmp.execute('query-named-block-nodes', { flat: true }, { timeoutMs: 60_000 })
  const waiting = qmp.waitForEvent('SHUTDOWN', undefined, { timeoutMs: 60_000 })
  process.kill(pid, 'SIGKILL')
  await t.rejects(pending, { code: AppErrorCode.APP_QMP_DISCONNECTED })
  await t.rejects(waiting, { code: AppErrorCode.APP_QMP_DISCONNECTED })
  t.match(await qmp.closed, { code: AppErrorCode.APP_QMP_DISCONNECTED })
  await t.rejects(qmp.execute('query-version'), { code: AppErrorCode.APP_QMP_DISCONNECTED }, 'later calls too')
  t.equal(await exited, 'SIGKILL')
  await qmp.close()
  await qmp.close()
  t.pass('close after the end is harmless, and idempotent')
})

t.test('close() rejects what is pending and resolves closed with undefined', async t => {
  const { qmp, pid } = await daemonWithDisk(t)
  process.kill(pid, 'SIGSTOP')
  t.teardown(() => { process.kill(pid, 'SIGCONT') })
  const pending = qmp.execute('query-version', undefined, { timeoutMs: 60_000 })
  const closing = qmp.close()
  await t.rejects(pending, { code: AppErrorCode.APP_QMP_DISCONNECTED })
  await closing
  t.equal(await qmp.closed, undefined)
})
