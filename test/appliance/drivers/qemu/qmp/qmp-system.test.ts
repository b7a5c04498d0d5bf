/**
 * QmpClient against a real qemu-system-x86_64 (TCG, no disk: it sits in
 * the BIOS): run state, stop/cont with their STOP/RESUME events, and quit
 * ending the process with the client reporting closed.
 */
import t from 'tap'
import { AppErrorCode } from '../../../../../appliance/errors.ts'
import { QmpClient } from '../../../../../appliance/drivers/qemu/qmp/index.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'
import { startDisklessVm } from './qemu-processes.ts'
import { requireTools } from '../../../../helpers/tools.ts'

requireTools(t, ['qemu-system-x86_64'])

t.test('query-status, stop/cont events, quit', async t => {
  const vm = await startDisklessVm(t, await tempDir(t))
  const qmp = await QmpClient.connect(vm.qmpSocket)
  t.teardown(async () => { await qmp.close() })

  t.match(await qmp.execute('query-status'), { status: 'running', running: true })

  const stopped = qmp.waitForEvent('STOP', undefined, { timeoutMs: 10_000 })
  t.same(await qmp.execute('stop'), {})
  await stopped
  t.match(await qmp.execute('query-status'), { status: 'paused', running: false })

  const mark = qmp.lastEventSeq
  await qmp.execute('cont')
  await qmp.waitForEvent('RESUME', undefined, { since: mark, timeoutMs: 10_000 })
  t.match(await qmp.execute('query-status'), { status: 'running', running: true })

  const mark2 = qmp.lastEventSeq
  t.same(await qmp.execute('quit'), {}, 'quit is answered before QEMU exits')
  const reason = await qmp.closed
  t.match(reason, { code: AppErrorCode.APP_QMP_DISCONNECTED }, 'the client reports the end')
  t.match(await qmp.waitForEvent('SHUTDOWN', undefined, { since: mark2 }), { data: { guest: false, reason: 'host-qmp-quit' } }, 'the SHUTDOWN event is still found after the end')
  t.equal(await vm.exited, 0)
  await t.rejects(qmp.execute('query-status'), { code: AppErrorCode.APP_QMP_DISCONNECTED })
})

t.test('a second client of the same monitor waits unanswered: APP_QMP_TIMEOUT', async t => {
  const vm = await startDisklessVm(t, await tempDir(t))
  const first = await QmpClient.connect(vm.qmpSocket)
  t.teardown(async () => { await first.close() })
  await t.rejects(QmpClient.connect(vm.qmpSocket, { timeoutMs: 300 }), { code: AppErrorCode.APP_QMP_TIMEOUT })
  t.match(await first.execute('query-status'), { running: true }, 'the first client is unaffected')
})
