/**
 * Manual disks (VMs Tandem does not run): a disk held read-write by a
 * running qemu-storage-daemon is in use (qcow2 through qemu-img's lock
 * error, raw through QEMU's lock in /proc/locks); free again once it
 * stops; openManualDisk refuses an in-use disk; a guard whose disk is
 * opened before release fails the release (and aborts its signal).
 */
import t from 'tap'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AppErrorCode } from '../../../../appliance/errors.ts'
import { diskInUse, openManualDisk } from '../../../../appliance/drivers/manual/index.ts'
import { sparseFile, tempDir, type Teardown } from '../../../helpers/fixtures.ts'
import { startStorageDaemon, type StorageDaemon } from '../../../helpers/storage-daemon.ts'
import { requireTools } from '../../../helpers/tools.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-storage-daemon'])

const run = promisify(execFile)

async function daemon (t: Teardown, dir: string, disk: string, format: 'raw' | 'qcow2', tag: string): Promise<StorageDaemon> {
  const d = await startStorageDaemon({ dir, disk, format, tag })
  t.teardown(d.stop)
  return d
}

t.test('a qcow2 open in a running daemon is in use, and free after it stops', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'd.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M'])
  t.match(await diskInUse(disk, 'qcow2'), { inUse: false })
  const d = await daemon(t, dir, disk, 'qcow2', 'a')
  const use = await diskInUse(disk, 'qcow2')
  t.equal(use.inUse, true)
  t.match(use.reason, /lock/)
  await t.rejects(openManualDisk(disk, 'qcow2'), { code: AppErrorCode.APP_DISK_IN_USE }, 'openManualDisk refuses it')
  await d.stop()
  t.match(await diskInUse(disk, 'qcow2'), { inUse: false })
})

t.test('a raw disk open read-write is in use (QEMU lets raw readers share write: /proc/locks tells)', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'd.raw')
  await sparseFile(disk, 16 * 1024 * 1024)
  t.match(await diskInUse(disk, 'raw'), { inUse: false })
  const d = await daemon(t, dir, disk, 'raw', 'b')
  t.match(await diskInUse(disk, 'raw'), { inUse: true })
  await d.stop()
  t.match(await diskInUse(disk, 'raw'), { inUse: false })
})

t.test('a guard released with nothing else touching the disk', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'd.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M'])
  const guard = await openManualDisk(disk, 'qcow2', { intervalMs: 20 })
  await run('qemu-img', ['info', '-U', disk]) // a read-only look does not count
  await guard.release()
  t.equal(guard.signal.aborted, false)
  await t.rejects(guard.release(), TypeError, 'release is called once')
})

t.test('a guard whose disk is opened by a new daemon before release: APP_DISK_IN_USE', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'd.qcow2')
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M'])
  const guard = await openManualDisk(disk, 'qcow2', { intervalMs: 60_000 })
  await daemon(t, dir, disk, 'qcow2', 'c')
  await t.rejects(guard.release(), { code: AppErrorCode.APP_DISK_IN_USE })
})

t.test('the background check aborts the guard\'s signal, and release fails even after the other process is gone', async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'd.raw')
  await sparseFile(disk, 16 * 1024 * 1024)
  const guard = await openManualDisk(disk, 'raw', { intervalMs: 20 })
  const aborted = once(guard.signal, 'abort')
  const d = await daemon(t, dir, disk, 'raw', 'd')
  await aborted
  t.match(guard.signal.reason, { code: AppErrorCode.APP_DISK_IN_USE })
  await d.stop()
  await t.rejects(guard.release(), { code: AppErrorCode.APP_DISK_IN_USE })
})

t.test('a missing file is an error, not "free"', async t => {
  const dir = await tempDir(t)
  await t.rejects(diskInUse(join(dir, 'none.qcow2'), 'qcow2'), { code: AppErrorCode.APP_QEMU_IMG_FAILED })
})
