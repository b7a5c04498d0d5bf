/**
 * QemuDriver.start against a fake QEMU (fault injection through
 * `qemuBinary`): QEMU creates its QMP socket file when it binds, a moment
 * before it listens, and a connect in between is refused. The fake makes
 * that moment long: its socket file first refuses (a bound socket nobody
 * listens on), then a listening socket is renamed over it. The start must
 * wait through the refusals and succeed; a QEMU that exits meanwhile still
 * fails the start with APP_VM_START_FAILED.
 */
import t from 'tap'
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { AppErrorCode } from '../../../../appliance/errors.ts'
import { QemuDriver } from '../../../../appliance/drivers/qemu/index.ts'
import { tempDir } from '../../../helpers/fixtures.ts'

/** How long the fake's socket refuses: many of the driver's socket polls (QMP_SOCKET_POLL_MS), so its first connect lands in it. */
const REFUSING_MS = 400

/** A fake qemu-system-x86_64: refuses on its QMP socket for REFUSING_MS, then speaks enough QMP to run and to power off. `exitEarly`: exits while refusing. */
function fakeQemu (exitEarly: boolean): string {
  return `#!${process.execPath}
const net = require('node:net')
const fs = require('node:fs')
const args = process.argv.slice(2)
const qmp = args[args.indexOf('-qmp') + 1].replace(/^unix:/, '').replace(/,server=on,wait=off$/, '').replaceAll(',,', ',')
const serve = (socket) => {
  socket.write(JSON.stringify({ QMP: { version: { qemu: { major: 7, minor: 2, micro: 0 }, package: 'fake' }, capabilities: [] } }) + '\\n')
  let buf = ''
  socket.on('data', d => {
    buf += d
    for (let i = buf.indexOf('\\n'); i !== -1; i = buf.indexOf('\\n')) {
      const cmd = JSON.parse(buf.slice(0, i)); buf = buf.slice(i + 1)
      const ret = cmd.execute === 'query-status' ? { status: 'running', running: true } : {}
      socket.write(JSON.stringify({ return: ret, id: cmd.id }) + '\\n')
      if (cmd.execute === 'system_powerdown' || cmd.execute === 'quit') setImmediate(() => process.exit(0))
    }
  })
}
// a bound socket nobody listens on: listen on a side name, hard-link it to the QMP path, close (Node unlinks the side name only)
const stale = net.createServer().listen(qmp + '.stale', () => {
  fs.linkSync(qmp + '.stale', qmp)
  stale.close(() => {
    setTimeout(() => {
      if (${exitEarly}) process.exit(3)
      const real = net.createServer(serve).listen(qmp + '.real', () => { fs.renameSync(qmp + '.real', qmp) })
    }, ${REFUSING_MS})
  })
})
`
}

async function driverWithFake (t: Parameters<typeof tempDir>[0], exitEarly: boolean): Promise<{ driver: QemuDriver, dir: string }> {
  const dir = await tempDir(t)
  const binary = join(dir, 'fake-qemu')
  await writeFile(binary, fakeQemu(exitEarly))
  await chmod(binary, 0o755)
  return { driver: new QemuDriver({ qemuBinary: binary }), dir }
}

const def = { name: 'fake-vm', vcpus: 1, memoryMiB: 64, disks: [], nics: [], guestAgent: false, boot: { kernel: '/nonexistent/vmlinux' } }

t.test('a QMP socket that refuses for a moment: the start waits for it', async t => {
  const { driver, dir } = await driverWithFake(t, false)
  t.teardown(async () => { await driver.stop(def.name, { timeoutMs: 1000 }) })
  const started = await driver.start(def, { runDir: join(dir, 'run'), accel: 'tcg' })
  t.equal(started.state, 'running')
  const stopped = await driver.stop(def.name, { timeoutMs: 5000 })
  t.equal(stopped.state, 'stopped')
})

t.test('a QEMU that exits while its socket refuses: APP_VM_START_FAILED', async t => {
  const { driver, dir } = await driverWithFake(t, true)
  await t.rejects(driver.start(def, { runDir: join(dir, 'run'), accel: 'tcg' }), { code: AppErrorCode.APP_VM_START_FAILED })
  t.equal(driver.status(def.name).state, 'stopped')
})
