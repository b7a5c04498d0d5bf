/**
 * QemuDriver with the tiny real guest under TCG (accel 'auto' falls back
 * here): start to running, pause/resume, the guest writing its qcow2 disk,
 * stop falling through to quit/kill (the guest ignores the ACPI power
 * button), a harmless second stop, a kill -9 seen as a crash, a missing
 * disk as APP_VM_START_FAILED, a second start as APP_VM_ALREADY_RUNNING, an
 * unforced stop refused (APP_VM_STOP_TIMEOUT) with the VM left running.
 * Only pids the driver started are signalled.
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AppErrorCode } from '../../../../appliance/errors.ts'
import { QemuDriver, vmRunPaths } from '../../../../appliance/drivers/qemu/index.ts'
import { tempDir } from '../../../helpers/fixtures.ts'
import { processExists, sha256File, testGuestDefinition, waitForSerial } from './vm-helpers.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../../helpers/tools.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])

const run = promisify(execFile)

t.test('start, pause, writes, stop, stop again', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'system.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M'])
  const before = await sha256File(disk)
  const driver = new QemuDriver()
  const def = await testGuestDefinition('guest-a', { path: disk, format: 'qcow2' })
  const runDir = join(dir, 'run')
  t.teardown(async () => { await driver.stop(def.name, { timeoutMs: 1000 }) })

  const started = await driver.start(def, { runDir, accel: 'auto' })
  t.equal(started.state, 'running')
  t.ok(started.pid !== undefined && started.pid > 0, 'a pid')
  t.ok(started.accel === 'kvm' || started.accel === 'tcg', 'an accelerator is reported')
  if (started.accel === 'tcg') t.match(started.accelReason, /\S/, 'with the reason KVM was not used')
  const pid = started.pid!
  t.equal((await readFile(vmRunPaths(runDir).pidFile, 'utf8')).trim(), String(pid), 'qemu.pid holds the pid')

  await t.rejects(driver.start(def, { runDir: join(dir, 'run2'), accel: 'tcg' }), { code: AppErrorCode.APP_VM_ALREADY_RUNNING }, 'the same name cannot start twice')
  t.equal(driver.status(def.name).pid, pid, 'the refused start left the VM alone')

  const qmp = driver.qmp(def.name)
  const stopped = qmp.waitForEvent('STOP')
  await qmp.execute('stop')
  await stopped
  t.equal(driver.status(def.name).state, 'paused')
  const resumed = qmp.waitForEvent('RESUME')
  await qmp.execute('cont')
  await resumed
  t.equal(driver.status(def.name).state, 'running')

  await waitForSerial(vmRunPaths(runDir).serialLog, /^TANDEM-GUEST-WRITES \d+/, () => processExists(pid))
  t.not(await sha256File(disk), before, 'the guest wrote to its qcow2 disk')

  const end = await driver.stop(def.name, { timeoutMs: 1500 })
  t.equal(end.state, 'stopped')
  t.match(end.reason, /quit|kill/, 'the guest ignored the power button: quit or kill ended it')
  t.equal(end.pid, undefined)
  t.notOk(processExists(pid), 'the QEMU process is gone')
  t.notOk(await stat(vmRunPaths(runDir).pidFile).then(() => true, () => false), 'the pid file is removed')

  t.same(await driver.stop(def.name, { timeoutMs: 1000 }), end, 'a second stop is a no-op returning the status')
  t.throws(() => driver.qmp(def.name), { code: AppErrorCode.APP_VM_NOT_RUNNING })
  t.throws(() => driver.guestAgentSocket(def.name), { code: AppErrorCode.APP_VM_NOT_RUNNING })
  t.same(await driver.stop('never-started'), { name: 'never-started', state: 'stopped', since: driver.status('never-started').since, reason: 'not started by this driver' })
})

t.test('kill -9 of QEMU is a crash', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'system.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M'])
  const driver = new QemuDriver()
  const def = await testGuestDefinition('guest-b', { path: disk, format: 'qcow2' })
  t.teardown(async () => { await driver.stop(def.name, { timeoutMs: 1000 }) })
  const started = await driver.start(def, { runDir: join(dir, 'run'), accel: 'tcg' })
  process.kill(started.pid!, 'SIGKILL')
  const after = await driver.exited(def.name)
  t.equal(after.state, 'crashed')
  t.match(after.reason, /SIGKILL/)
  t.equal(after.pid, undefined)
  t.equal((await driver.stop(def.name)).state, 'crashed', 'stop of a crashed VM is a no-op')

  const again = await driver.start(def, { runDir: join(dir, 'run'), accel: 'tcg' })
  t.equal(again.state, 'running', 'a crashed VM can be started again (a stale socket does not matter)')
  t.equal((await driver.stop(def.name, { timeoutMs: 500 })).state, 'stopped')
})

t.test('a missing disk file: APP_VM_START_FAILED with QEMU\'s message', async t => {
  const dir = await tempDir(t)
  const missing = join(dir, 'missing.qcow2')
  const driver = new QemuDriver()
  const def = await testGuestDefinition('guest-c', { path: missing, format: 'qcow2' })
  const err = await driver.start(def, { runDir: join(dir, 'run'), accel: 'tcg' }).catch((e: unknown) => e)
  t.match(err, { code: AppErrorCode.APP_VM_START_FAILED })
  t.match((err as { details: { stderr: string } }).details.stderr, missing, 'QEMU\'s stderr names the file')
  const status = driver.status(def.name)
  t.equal(status.state, 'stopped')
  t.equal(status.pid, undefined)
})

t.test('an unforced stop is refused and leaves the VM running; a forced one arriving meanwhile waits, then forces', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'system.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M'])
  const driver = new QemuDriver()
  const def = await testGuestDefinition('guest-refuse', { path: disk, format: 'qcow2' })
  t.teardown(async () => { await driver.stop(def.name, { timeoutMs: 1000 }) })
  const started = await driver.start(def, { runDir: join(dir, 'run'), accel: 'tcg' })

  await t.rejects(driver.stop(def.name, { timeoutMs: 300, force: false }), { code: AppErrorCode.APP_VM_STOP_TIMEOUT }, 'the guest ignores the power button')
  t.match(driver.status(def.name), { state: 'running', pid: started.pid }, 'the VM runs on, as before')
  t.ok(processExists(started.pid!))

  const unforced = driver.stop(def.name, { timeoutMs: 300, force: false })
  const forced = driver.stop(def.name, { timeoutMs: 300 })
  await t.rejects(unforced, { code: AppErrorCode.APP_VM_STOP_TIMEOUT }, 'the unforced stop is still refused')
  t.match(await forced, { state: 'stopped' }, 'the forced stop then ends it')
  t.notOk(processExists(started.pid!))

  const second = await driver.start(def, { runDir: join(dir, 'run'), accel: 'tcg' })
  await t.rejects(driver.stop(def.name, { timeoutMs: 300, force: false }), { code: AppErrorCode.APP_VM_STOP_TIMEOUT })
  process.kill(second.pid!, 'SIGKILL')
  t.equal((await driver.exited(def.name)).state, 'crashed', 'after a refused stop, an unasked end is a crash again')
})
