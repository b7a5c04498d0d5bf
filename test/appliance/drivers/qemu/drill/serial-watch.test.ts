/**
 * waitForSerialMatch on a real growing file: a line written before or
 * after the call is found, also when it arrives in pieces and after many
 * megabytes of output; an abort ends the wait (CORE_ABORTED), also while
 * a backtracking pattern runs, which never blocks this thread (it runs in
 * the watcher's worker); a missing log is APP_UNEXPECTED.
 */
import t from 'tap'
import { appendFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CoreErrorCode } from '../../../../../core/errors.ts'
import { AppErrorCode } from '../../../../../appliance/errors.ts'
import { waitForSerialMatch } from '../../../../../appliance/drivers/qemu/drill/index.ts'
import { tempDir } from '../../../../helpers/fixtures.ts'

const never = new AbortController().signal

t.test('a line already in the log', async t => {
  const log = join(await tempDir(t), 'serial.log')
  await writeFile(log, 'SeaBIOS\r\nTANDEM-GUEST-READY pages=8192\r\nTANDEM-GUEST-WRITES 4\r\n')
  t.equal(await waitForSerialMatch(log, /^TANDEM-GUEST-READY pages=\d+$/u, never), 'TANDEM-GUEST-READY pages=8192')
})

t.test('a line written later, in pieces, after megabytes of output', async t => {
  const log = join(await tempDir(t), 'serial.log')
  await writeFile(log, '')
  const found = waitForSerialMatch(log, /^web-1 login: $/u, never)
  const noise = ('[    0.000000] Linux version 6.1.0 (debian-kernel@lists.debian.org)\n').repeat(40_000) // 2.8 MB
  await appendFile(log, noise)
  await appendFile(log, 'Debian GNU/Linux 12 web-1 ttyS0\n\nweb-1 lo')
  await appendFile(log, 'gin: ')
  t.equal(await found, 'web-1 login: ')
})

t.test('an abort ends the wait', async t => {
  const log = join(await tempDir(t), 'serial.log')
  await writeFile(log, 'nothing to see\n')
  const ac = new AbortController()
  const waiting = waitForSerialMatch(log, /READY/u, ac.signal)
  await appendFile(log, 'still nothing\n')
  ac.abort()
  await t.rejects(waiting, { code: CoreErrorCode.CORE_ABORTED })
  await t.rejects(waitForSerialMatch(log, /READY/u, ac.signal), { code: CoreErrorCode.CORE_ABORTED }, 'an aborted signal before the call')
})

t.test('a backtracking pattern runs beside this thread and is ended by the abort', async t => {
  const log = join(await tempDir(t), 'serial.log')
  await writeFile(log, 'a'.repeat(3000) + '\n') // .*.*.*x takes minutes on this line
  const ac = new AbortController()
  let ticks = 0
  const waiting = waitForSerialMatch(log, /.*.*.*x/u, ac.signal)
  await new Promise<void>(resolve => {
    const timer = setInterval(() => { if (++ticks === 5) { clearInterval(timer); resolve() } }, 20)
  })
  t.equal(ticks, 5, 'this thread kept running meanwhile')
  ac.abort()
  await t.rejects(waiting, { code: CoreErrorCode.CORE_ABORTED })
})

t.test('a missing log is APP_UNEXPECTED', async t => {
  const dir = await tempDir(t)
  await t.rejects(waitForSerialMatch(join(dir, 'none.log'), /x/u, never), { code: AppErrorCode.APP_UNEXPECTED })
})
