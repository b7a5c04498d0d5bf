/**
 * bootRecoveryPoint in snapshot mode (test failover): the tiny guest boots
 * on an isolated network from a raw "replica image" with known content,
 * writes to its disk, and after stop the image's sha256 is unchanged (the
 * writes went to the overlay, which is removed). With snapshot false the
 * guest writes the image itself.
 */
import t from 'tap'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { AppErrorCode } from '../../../../appliance/errors.ts'
import { bootRecoveryPoint, QemuDriver, vmRunPaths } from '../../../../appliance/drivers/qemu/index.ts'
import { ensureTestGuest } from '../../../helpers/guest/build-guest.ts'
import { sparseFile, tempDir, writePatches } from '../../../helpers/fixtures.ts'
import { processExists, sha256File, waitForSerial } from './vm-helpers.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../../helpers/tools.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])

t.test('a test failover leaves the replica image unchanged', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'replica.raw')
  await sparseFile(image, 32 * 1024 * 1024)
  await writePatches(image, [{ offset: 0, length: 1024 * 1024 }, { offset: 20 * 1024 * 1024, length: 65536, fill: 0x5a }])
  const before = await sha256File(image)
  const guest = await ensureTestGuest()
  const driver = new QemuDriver()
  const runDir = join(dir, 'run')
  t.teardown(async () => { await driver.stop('failover-test', { timeoutMs: 1000 }) })

  const booted = await bootRecoveryPoint({
    driver,
    image,
    name: 'failover-test',
    vcpus: 1,
    memoryMiB: 128,
    network: 'isolated',
    runDir,
    snapshot: true,
    accel: 'tcg',
    boot: { kernel: guest.kernel, initrd: guest.initrd, append: 'console=ttyS0 panic=-1 tandem.every=4' }
  })
  t.equal(booted.status.state, 'running')
  const overlay = booted.overlay!
  t.ok(overlay.startsWith(runDir), 'the overlay lives in the run directory')
  const overlayBefore = await sha256File(overlay)
  const pid = booted.status.pid!
  await t.rejects(bootRecoveryPoint({ driver, image, name: 'failover-test', vcpus: 1, memoryMiB: 128, network: 'none', runDir }),
    { code: AppErrorCode.APP_VM_ALREADY_RUNNING }, 'a second boot of the same name is refused before touching the overlay')
  t.ok(await stat(overlay).then(() => true, () => false), 'the running VM\'s overlay is still there')

  await waitForSerial(vmRunPaths(runDir).serialLog, /^TANDEM-GUEST-WRITES \d+/, () => processExists(pid))
  t.not(await sha256File(overlay), overlayBefore, 'the guest\'s writes went to the overlay')

  const end = await booted.stop({ timeoutMs: 1000 })
  t.equal(end.state, 'stopped')
  t.equal(await sha256File(image), before, 'the replica image is byte for byte unchanged')
  t.notOk(await stat(overlay).then(() => true, () => false), 'the overlay is discarded')
})

t.test('a real failover (snapshot false) runs on the image itself', async t => {
  const dir = await tempDir(t)
  const image = join(dir, 'replica.raw')
  await sparseFile(image, 16 * 1024 * 1024)
  const before = await sha256File(image)
  const guest = await ensureTestGuest()
  const driver = new QemuDriver()
  const runDir = join(dir, 'run')
  t.teardown(async () => { await driver.stop('failover-real', { timeoutMs: 1000 }) })
  const booted = await bootRecoveryPoint({
    driver, image, name: 'failover-real', vcpus: 1, memoryMiB: 128, network: 'none', runDir, snapshot: false, accel: 'tcg',
    boot: { kernel: guest.kernel, initrd: guest.initrd, append: 'console=ttyS0 panic=-1 tandem.every=4' }
  })
  t.equal(booted.overlay, undefined)
  const pid = booted.status.pid!
  await waitForSerial(vmRunPaths(runDir).serialLog, /^TANDEM-GUEST-WRITES \d+/, () => processExists(pid))
  t.equal((await booted.stop({ timeoutMs: 500 })).state, 'stopped')
  t.not(await sha256File(image), before, 'the guest wrote to the image')
})

t.test('a relative image path is APP_VM_INVALID', async t => {
  await t.rejects(bootRecoveryPoint({ driver: new QemuDriver(), image: 'replica.raw', name: 'x', vcpus: 1, memoryMiB: 64, network: 'none', runDir: await tempDir(t) }),
    { code: AppErrorCode.APP_VM_INVALID })
})
