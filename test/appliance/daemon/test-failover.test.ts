/**
 * Test failovers and drills in-process: two Appliances on loopback, the
 * primary protecting a manual-driver VM whose disk the busybox test guest
 * boots (its definition names the guest's kernel and initrd, which reach
 * the Replica in the relationship's description), with recoveryPoints 0.
 *
 * - A test of a point while cycles keep committing: the point stays (it is
 *   pinned although retention keeps only the latest), the test VM's disk
 *   is an overlay over the served point, which reads as the disk did at
 *   that point; the relationship's state does not change; one test per VM.
 * - stop-test leaves nothing: no run directory, no socket, no QEMU; the
 *   next cycle prunes the point.
 * - The drill schedule on a clock the test moves: a drill due while a test
 *   runs waits for it; then it boots the latest point, records a PNG and a
 *   time, and marks the point proven (points and status show it); the
 *   service serves that screenshot, and no other file.
 * - A VM whose boot is not known here only has its point served; a kernel
 *   this box lacks is APP_BOOT_FILE_MISSING; wrong names and points give
 *   their codes; a daemon stop stops a running test VM.
 */
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { PassThrough } from 'node:stream'
import { promisify } from 'node:util'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { readEventLog, type CycleRecord } from '../../../appliance/events/index.ts'
import { pngSize } from '../../../appliance/drivers/qemu/drill/index.ts'
import { testVmOverlay } from '../../../appliance/drivers/qemu/index.ts'
import { fileHash, freePort, scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { ManualClock } from '../../helpers/manual-clock.ts'
import { enableReplication, runCycle } from '../../helpers/paired-daemons.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { processExists } from '../drivers/qemu/vm-helpers.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])
const run = promisify(execFile)

const MiB = 1024 * 1024
const DISK_BYTES = 16 * MiB
const READY = '^TANDEM-GUEST-READY pages=\\d+$'

async function startBox (t: Test, dir: string, clock?: ManualClock): Promise<Appliance> {
  const app = await Appliance.start({ dataDir: dir, log: new PassThrough().resume(), ...(clock === undefined ? {} : { clock }) })
  t.teardown(async () => { await app.stop() })
  return app
}

const cycle = runCycle
const enable = async (primary: Appliance, vm: string): Promise<CycleRecord> => await enableReplication(primary, vm, { to: 'replica-box', frequency: '1h', recoveryPoints: '0' })

const exists = async (path: string): Promise<boolean> => await readdir(path).then(() => true, () => false)

t.test('test failover of a point while cycles commit, stop-test, a scheduled drill, and the codes', async t => {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const primaryDir = join(root, 'p')
  const replicaDir = join(root, 'r')
  await initDataDir(primaryDir, { name: 'primary-box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  await initDataDir(replicaDir, { name: 'replica-box', listen: [`/ip4/127.0.0.1/tcp/${await freePort()}`] })
  const clock = new ManualClock(Date.now())
  const primary = await startBox(t, primaryDir)
  const replica = await startBox(t, replicaDir, clock)
  const open = await replica.pairOpen()
  await primary.pairJoin({ pin: open.pin!, addr: open.addresses[0]! })

  const disk = join(root, 'tiny.raw')
  await sparseFile(disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(1, DISK_BYTES, 12, MiB))
  const manual = (name: string, path: string, boot?: { kernel: string, initrd?: string, append?: string }): Parameters<typeof primary.inventory.add>[0] => ({
    driver: 'manual',
    definition: { name, vcpus: 1, memoryMiB: 128, disks: [{ name: 'disk0', path, format: 'raw', node: 'disk0' }], nics: [], guestAgent: false, ...(boot === undefined ? {} : { boot }) },
    addedAt: Date.now()
  })
  await primary.inventory.add(manual('tiny', disk, { kernel: guest.kernel, initrd: guest.initrd, append: 'console=ttyS0 panic=-1 tandem.every=4' }))

  // Point A: the disk as it is now. recoveryPoints 0: retention keeps only the latest.
  const hashA = await fileHash(disk)
  t.equal((await enable(primary, 'tiny')).outcome, 'ok')
  t.match(replica.relationships.get('tiny')?.protectedVm, { boot: 'kernel', kernelBoot: { kernel: guest.kernel, initrd: guest.initrd } }, 'the Replica learned what the VM boots')
  const [pointA] = (await replica.points('tiny')).points
  t.ok(pointA)

  // Codes, before anything runs.
  await t.rejects(replica.failoverTest('nope'), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
  await t.rejects(replica.failoverTest('../x'), { code: 'APP_USAGE' })
  await t.rejects(primary.failoverTest('tiny'), { code: 'APP_RELATIONSHIP_NOT_FOUND' }, 'the primary runs no test of its own VM')
  await t.rejects(replica.failoverTest('tiny', { point: pointA!.id + 100 }), { code: 'APP_POINT_NOT_FOUND' })
  await t.rejects(replica.failoverTest('tiny', { point: 0 }), { code: 'APP_USAGE' })
  await t.rejects(replica.failoverStopTest('tiny'), { code: 'APP_INVALID_STATE' }, 'no test runs')
  const plan = await replica.failoverTestPlan('tiny', { check: true, sign: { kind: 'serial', pattern: READY } })
  t.match(plan, { vm: 'tiny', point: { id: pointA!.id }, latest: true, newerPoints: 0, testVm: 'tiny-test', boot: 'kernel', nics: 0, check: { sign: { kind: 'serial' } } }, 'the dry run')
  t.same(await readdir(join(replicaDir, 'failover')), [], 'a dry run starts nothing')

  // The drill schedule: due in an hour.
  const schedule = await replica.failoverDrillSchedule('tiny', { every: '1h', sign: { kind: 'serial', pattern: READY }, timeout: '2m' })
  t.equal(schedule.nextAt, new Date(clock.now() + 3_600_000).toISOString())
  await clock.sleeping()

  // The test of point A.
  const test = await replica.failoverTest('tiny', { point: pointA!.id })
  t.match(test, { relationship: 'tiny', testVm: 'tiny-test', state: 'running', point: { id: pointA!.id }, note: null, drillJob: null })
  t.ok(test.timings.serveMs >= 0 && test.timings.overlayMs !== null && test.timings.startMs !== null, 'each step timed')
  await t.rejects(replica.failoverTest('tiny'), { code: 'APP_INVALID_STATE' }, 'one test per VM')
  await t.rejects(replica.failoverDrill('tiny'), { code: 'APP_INVALID_STATE' }, 'nor a drill beside it')
  t.match(await replica.replicaStatus(), [{ relationship: 'tiny', state: 'replicating', test: { point: { id: pointA!.id }, testVm: 'tiny-test' } }], 'the state is unchanged; the status shows the test')

  // A drill due while the test runs waits: no job.
  clock.advance(3_600_000)
  await clock.sleeping()
  t.same((await replica.jobs()).filter(j => j.kind === 'drill'), [], 'the scheduled drill waited for the test')

  // Cycles keep committing; point A stays while the test runs.
  await writePatches(disk, scatteredPatches(2, DISK_BYTES, 6, MiB))
  t.equal((await cycle(primary, 'tiny')).outcome, 'ok')
  await writePatches(disk, scatteredPatches(3, DISK_BYTES, 6, MiB))
  t.equal((await cycle(primary, 'tiny')).outcome, 'ok')
  const held = (await replica.points('tiny')).points.map(p => p.id)
  t.equal(held[0], pointA!.id, 'point A is kept: it is pinned')
  t.equal(held.length, 2, 'A and the latest (retention pruned the one between)')

  // The test VM's disk: an overlay whose backing is the served point, which reads as the disk did at A.
  const runDir = join(replicaDir, 'failover', 'tiny', 'test')
  const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', testVmOverlay(runDir, 'disk0')])).stdout) as { 'backing-filename': string }
  t.equal(info['backing-filename'], test.disks[0]!.uri, 'the overlay is backed by the serving')
  const copy = join(root, 'a.raw')
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', test.disks[0]!.uri, copy])
  t.equal(await fileHash(copy), hashA, 'the served point reads as the disk at A')

  // stop-test: nothing left.
  const qemuPid = Number(await readFile(join(runDir, 'qemu.pid'), 'utf8'))
  t.ok(processExists(qemuPid), 'the test VM runs')
  t.match(await replica.failoverStopTest('tiny'), { point: pointA!.id, testVm: 'tiny-test', stopped: true })
  t.notOk(processExists(qemuPid), 'no QEMU left')
  t.same(await readdir(join(replicaDir, 'failover')), [], 'no run directory, overlay or record left')
  t.same(await readdir(join(replicaDir, 'exports')), [], 'no socket left')
  t.same(await replica.failoverTests(), [])
  t.equal((await cycle(primary, 'tiny')).outcome, 'ok')
  const after = (await replica.points('tiny')).points
  t.equal(after.length, 1, 'unpinned, point A is pruned by the next cycle')
  const latest = after[0]!

  // The waiting drill runs now: the latest point boots, a PNG and a time, the point proven.
  clock.advance(10 * 60_000)
  await clock.sleeping()
  const [drill] = (await replica.jobs()).filter(j => j.kind === 'drill')
  t.match(drill, { state: 'ok', vm: 'tiny', drill: { point: latest.id, root: latest.root, proof: { point: latest.id, sign: 'serial' } } }, drill?.error?.message ?? 'the drill job')
  const proof = drill!.drill!.proof
  t.ok(proof.signOfLifeMs > 0, `a time to the sign (${proof.signOfLifeMs} ms)`)
  t.ok(proof.screenshot.startsWith(join(replicaDir, 'drills', 'tiny', latest.root.slice(0, 12))), proof.screenshot)
  const png = pngSize(await readFile(proof.screenshot))
  t.ok(png.width > 0 && png.height > 0, `a PNG (${png.width}x${png.height})`)
  t.same((await replica.points('tiny')).points.map(p => p.proven), [proof], 'points shows the proof')
  const shot = await replica.drillScreenshot('tiny', basename(proof.screenshot))
  t.same(Buffer.from(shot.png), await readFile(proof.screenshot), 'the service serves the screenshot the proof names')
  await t.rejects(replica.drillScreenshot('tiny', 'drill.json'), { code: 'APP_SCREENSHOT_NOT_FOUND' }, 'and no other file of its folder')
  await t.rejects(replica.drillScreenshot('nothing', basename(proof.screenshot)), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
  const [status] = await replica.replicaStatus()
  t.same(status!.lastProvenPoint, proof, 'the status shows the last proven point')
  t.equal(status!.test, null)
  t.same(await readdir(join(replicaDir, 'failover')), [], 'the drill left no run directory')

  // The events: each step with its timings.
  const events = (await readEventLog(join(replicaDir, 'events'), { relationship: 'tiny' })).events
  const started = events.filter(e => e.kind === 'test-failover' && e.phase === 'end' && e.outcome === 'ok')
  t.equal(started.length, 2, 'the test and the drill\'s test')
  t.match(started[0]!.data, { point: pointA!.id, serveMs: Number, overlayMs: Number, startMs: Number })
  t.ok(events.some(e => e.kind === 'test-failover-stop' && e.phase === 'end' && e.outcome === 'ok'))
  t.match(events.find(e => e.kind === 'drill' && e.phase === 'end'), { outcome: 'ok', data: { point: latest.id, signOfLifeMs: proof.signOfLifeMs, screenshot: proof.screenshot } })

  // A drill that sees no sign of life fails with its reason and marks nothing.
  const failing = await replica.failoverDrill('tiny', { sign: { kind: 'serial', pattern: '^NEVER PRINTED$' }, timeoutMs: 1000 })
  const failed = await replica.jobRegistry.wait(failing.id)
  t.match(failed, { state: 'failed', error: { code: 'APP_DRILL_FAILED', message: /no sign of life within 1000 ms/ }, drill: null })
  t.same((await replica.points('tiny')).points.map(p => p.proven), [proof], 'no new proof')
  t.match((await readEventLog(join(replicaDir, 'events'), { relationship: 'tiny' })).events.at(-1), { kind: 'drill', phase: 'end', outcome: 'failed', code: 'APP_DRILL_FAILED', reason: /no sign of life/ })
  t.same(await readdir(join(replicaDir, 'failover')), [], 'the failed drill left no run directory')

  // A manual VM that names no kernel: its point is only served. A kernel this box lacks: APP_BOOT_FILE_MISSING.
  const plainDisk = join(root, 'plain.raw')
  await sparseFile(plainDisk, MiB)
  await primary.inventory.add(manual('plain', plainDisk))
  await primary.inventory.add(manual('lost', join(root, 'lost.raw'), { kernel: join(root, 'no-such-vmlinux') }))
  await sparseFile(join(root, 'lost.raw'), MiB)
  t.equal((await enable(primary, 'plain')).outcome, 'ok')
  t.equal((await enable(primary, 'lost')).outcome, 'ok')
  const served = await replica.failoverTest('plain')
  t.match(served, { testVm: null, state: null, note: /does not know how plain boots/, disks: [{ name: 'disk0', size: MiB }] })
  const plainCopy = join(root, 'plain-copy.raw')
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', served.disks[0]!.uri, plainCopy])
  t.equal(await fileHash(plainCopy), await fileHash(plainDisk), 'its NBD address serves the point')
  await t.rejects(replica.failoverDrill('plain'), { code: 'APP_INVALID_STATE' }, 'its test runs')
  await replica.failoverStopTest('plain')
  await t.rejects(replica.failoverDrill('plain'), { code: 'APP_VM_NOT_MANAGED' }, 'no VM to drill here')
  await t.rejects(replica.failoverTest('lost'), { code: 'APP_BOOT_FILE_MISSING', details: { file: join(root, 'no-such-vmlinux') } })
  t.same(await readdir(join(replicaDir, 'exports')), [], 'the refused test served nothing')

  // A daemon stop stops a running test VM and leaves nothing.
  await replica.failoverTest('tiny')
  const pid2 = Number(await readFile(join(runDir, 'qemu.pid'), 'utf8'))
  await replica.stop()
  t.notOk(processExists(pid2), 'the daemon\'s stop stopped the test VM')
  t.notOk(await exists(join(replicaDir, 'failover', 'tiny')), 'and removed its files')
})
