/**
 * Test VMs and drills for real: a recovery point of the test guest's disk
 * in a core store, served by core's NbdServer, booted by QEMU (TCG) from
 * qcow2 overlays over the export.
 *
 * - The guest sees the point's disk; its writes (a known byte) land in the
 *   overlay only: the VM's disk reads as the point except where the guest
 *   wrote, and the export still reads as the point.
 * - A drill finds the guest's serial line, takes a PNG, records a time,
 *   and stops the VM.
 * - A point that does not boot fails its drill within the limit.
 * After each: no run directory, no QEMU of ours, no NBD connection.
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { drillTestVm, nbdUnixUri, QemuDriver, startTestVm, testVmOverlay, vmRunPaths, type TestVm, type VmDefinition } from '../../../../appliance/drivers/qemu/index.ts'
import { pngSize } from '../../../../appliance/drivers/qemu/drill/index.ts'
import { NbdServer } from '../../../../core/nbd/index.ts'
import { openPointExport } from '../../../../core/point-export.ts'
import { materializePoint } from '../../../../core/restore.ts'
import type { RecoveryPointStore } from '../../../../core/store/index.ts'
import { sparseFile, tempDir, writePatches, type Teardown } from '../../../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../../../helpers/engine.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../../helpers/tools.ts'
import { processExists, sha256File, testGuestDefinition } from './vm-helpers.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])
const run = promisify(execFile)

const MiB = 1024 * 1024
const PAGE = 4096
const DISK_SIZE = 32 * MiB

interface Served {
  dir: string
  store: RecoveryPointStore
  server: NbdServer
  /** sha256 of materializePoint's image of the point. */
  pointSha: string
  ref: string
}

/** Point `pointId` of disk `system` (a copy of `src`) served on its own socket. */
async function serve (t: Teardown, dir: string, store: RecoveryPointStore, pointId: number, socketName: string): Promise<Served> {
  const ref = join(dir, `point-${pointId}.raw`)
  await materializePoint(store, pointId, 'system', ref)
  const server = new NbdServer({ socketPath: join(dir, socketName), exports: [await openPointExport(store, pointId, 'system')] })
  await server.start()
  t.teardown(async () => { await server.stop() })
  return { dir, store, server, pointSha: await sha256File(ref), ref }
}

/** A store with point 1: a disk with random data at both ends and a 0x5a run in the middle. */
async function pointOfGuestDisk (t: Teardown): Promise<Served> {
  const dir = await tempDir(t)
  const src = join(dir, 'system.raw')
  await sparseFile(src, DISK_SIZE)
  await writePatches(src, [{ offset: 0, length: MiB }, { offset: 12 * MiB, length: 3 * MiB, fill: 0x5a }, { offset: DISK_SIZE - MiB, length: MiB }])
  const store = await openStore(t, join(dir, 'store'))
  await cycle(store, scanPool(t), src, { name: 'system' })
  return await serve(t, dir, store, 1, 'p1.sock')
}

/** The protected VM: the test guest on `system`, with a bridged NIC (a test VM must never use it). */
async function protectedVm (append = ''): Promise<VmDefinition> {
  const def = await testGuestDefinition('web', { path: '/vms/web/system.raw', format: 'raw' })
  return { ...def, nics: [{ id: 'net0', mode: 'bridge', bridge: 'br-prod', mac: '52:54:00:12:34:56' }], boot: { ...def.boot!, append: `${def.boot!.append ?? ''} ${append}`.trim() } }
}

/** The export read again through NBD, hashed. */
async function exportSha (p: Served): Promise<string> {
  const out = join(p.dir, `reread-${Date.now()}.raw`)
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', nbdUnixUri({ socket: p.server.socketPath, export: 'system' }), out])
  return await sha256File(out)
}

/** What a stopped test VM must leave: nothing. Its NBD connection closes as QEMU's process goes, a moment after. */
async function nothingLeft (t: Test, vm: TestVm, server: NbdServer): Promise<void> {
  t.notOk(await stat(vm.runDir).then(() => true, () => false), 'the run directory is gone (overlays, serial log, sockets)')
  t.notOk(processExists(vm.status.pid!), 'the QEMU process is gone')
  for (let i = 0; i < 200 && server.connections > 0; i++) await sleep(10)
  t.equal(server.connections, 0, 'no NBD connection is left')
}

t.test('a test VM runs on the point: the guest\'s writes stay in its overlay, the point is unchanged', async t => {
  const p = await pointOfGuestDisk(t)
  const driver = new QemuDriver()
  // the guest writes 12 runs of 0xab pages, then powers off by itself
  const vm = await startTestVm({ driver, vm: await protectedVm('tandem.pattern=ab tandem.writes=12'), backing: { system: { socket: p.server.socketPath, export: 'system' } }, runDir: join(p.dir, 'run'), accel: 'tcg' })
  t.teardown(async () => { await vm.stop() })
  t.equal(vm.name, 'web-test')
  t.same(vm.definition.nics, [{ id: 'net0', mode: 'isolated', mac: '52:54:00:12:34:56' }], 'the bridged NIC is isolated')
  const end = await driver.exited(vm.name)
  t.equal(end.state, 'stopped', end.reason)
  const serial = await readFile(vmRunPaths(vm.runDir).serialLog, 'latin1')
  t.match(serial, `TANDEM-GUEST-READY pages=${DISK_SIZE / PAGE}`, 'the guest saw a disk of the point\'s size')
  t.match(serial, 'TANDEM-GUEST-DONE 12')

  // the VM's disk: its overlay over the export, read with QEMU's own code
  const seen = join(p.dir, 'seen.raw')
  await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', testVmOverlay(vm.runDir, 'system'), seen])
  const [disk, point] = [await readFile(seen), await readFile(p.ref)]
  t.equal(disk.length, point.length)
  let written = 0
  let other = 0
  for (let at = 0; at < point.length; at += PAGE) {
    const page = disk.subarray(at, at + PAGE)
    if (page.equals(point.subarray(at, at + PAGE))) continue
    if (page.every(b => b === 0xab)) written++
    else other++
  }
  t.ok(written > 0, `the guest's writes are in the VM's disk (${written} pages)`)
  t.equal(other, 0, 'every other page reads as the point')
  t.equal(await exportSha(p), p.pointSha, 'the export still reads as the point')

  await vm.stop()
  await nothingLeft(t, vm, p.server)
})

t.test('a drill: the serial sign, a PNG, a time, and nothing left', async t => {
  const p = await pointOfGuestDisk(t)
  const driver = new QemuDriver()
  const vm = await startTestVm({ driver, vm: await protectedVm(), backing: { system: { socket: p.server.socketPath, export: 'system' } }, runDir: join(p.dir, 'run'), accel: 'tcg' })
  t.teardown(async () => { await vm.stop() })
  const screenshot = join(p.dir, 'drill.png')
  const result = await drillTestVm(driver, vm, { sign: { kind: 'serial', pattern: '^TANDEM-GUEST-READY pages=\\d+$' }, screenshot })
  t.match(result, { ok: true, sign: 'serial', screenshot }, result.reason)
  t.ok(result.signOfLifeMs !== null && result.signOfLifeMs > 0, 'a time to the sign')
  const png = pngSize(await readFile(screenshot))
  t.ok(png.width > 0 && png.height > 0, `a PNG of the screen (${png.width}x${png.height})`)
  t.equal(driver.status(vm.name).state, 'stopped')
  await nothingLeft(t, vm, p.server)
  t.equal(await exportSha(p), p.pointSha, 'the export still reads as the point')
})

t.test('a point that does not boot fails its drill within the limit', async t => {
  const dir = await tempDir(t)
  const blank = join(dir, 'blank.raw')
  await sparseFile(blank, 8 * MiB)
  const store = await openStore(t, join(dir, 'store'))
  await cycle(store, scanPool(t), blank, { name: 'system' })
  const p = await serve(t, dir, store, 1, 'p1.sock')
  const driver = new QemuDriver()
  // no kernel to boot directly: the BIOS finds a zeroed disk and nothing prints the pattern
  const { boot: _boot, ...noKernel } = await protectedVm()
  const vm = await startTestVm({ driver, vm: noKernel, backing: { system: { socket: p.server.socketPath, export: 'system' } }, runDir: join(dir, 'run'), accel: 'tcg' })
  t.teardown(async () => { await vm.stop() })
  const screenshot = join(dir, 'drill.png')
  const result = await drillTestVm(driver, vm, { sign: { kind: 'serial', pattern: 'login:' }, screenshot, timeoutMs: 3_000 })
  t.match(result, { ok: false, sign: 'serial', signOfLifeMs: null }, result.reason)
  t.equal(result.screenshot, screenshot, 'a screenshot of where the boot stopped')
  t.equal(driver.status(vm.name).state, 'stopped')
  await nothingLeft(t, vm, p.server)
})
