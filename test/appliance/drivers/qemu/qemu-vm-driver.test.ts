/**
 * QemuVmDriver: the VmDriver compliance suite with the tiny test guest
 * under TCG (a raw system disk the guest keeps writing, with its sidecar,
 * and a qcow2 data disk: two disks, so live points are taken with the vCPUs
 * paused); then what only a driver that runs VMs does: finding its VM again
 * after the daemon that started it died (adopt by pid file, /proc cmdline
 * and QMP), reporting a VM that ended unseen or whose pid was reused as
 * crashed without signalling anything, and distrusting the change tracking
 * of a raw disk edited while the VM was stopped, an app-consistent cycle
 * without an answering agent labelled crash-consistent, and two cycles
 * through the interface into a store (the second tracked on both disks).
 * Pending bytes: known once a cycle completed ok while the VM runs,
 * unknown before, while it is stopped, and while tracking is distrusted.
 */
import t, { type Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { open, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { QemuVmDriver, type VmDriverStatus } from '../../../../appliance/drivers/index.ts'
import { vmRunPaths, type VmDefinition } from '../../../../appliance/drivers/qemu/index.ts'
import { vmDriverCompliance } from '../../../helpers/compliance/vm-driver.ts'
import { openStore, scanPool } from '../../../helpers/engine.ts'
import { replicateOnce } from '../../../../core/replicate.ts'
import { materializePoint } from '../../../../core/restore.ts'
import { diskRoot } from '../../../../core/manifest.ts'
import { tempDir } from '../../../helpers/fixtures.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../../helpers/tools.ts'
import { testGuestDefinition } from './vm-helpers.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'qemu-nbd', 'qemu-storage-daemon', ...TEST_GUEST_TOOLS])

const run = promisify(execFile)
const MiB = 2 ** 20
const STOP = { timeoutMs: 500 }
const child = fileURLToPath(new URL('./fixtures/start-vm-child.ts', import.meta.url))

interface Rig { dir: string, vm: VmDefinition, system: string, data: string }

async function rig (t: Test, name: string): Promise<Rig> {
  const dir = await tempDir(t)
  const system = join(dir, 'system.raw')
  const data = join(dir, 'data.qcow2')
  await writeFile(system, randomBytes(16 * MiB))
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', data, String(4 * MiB)])
  await run('qemu-io', ['-f', 'qcow2', data, '-c', 'write -P 0x5a 64k 300k'])
  const vm = await testGuestDefinition(name, { path: system, format: 'raw' }, {
    disks: [{ name: 'system', path: system, format: 'raw' }, { name: 'data', path: data, format: 'qcow2' }]
  })
  return { dir, vm, system, data }
}

/** Kills a QEMU this test started through a child, by its pid, once the test knows it is that VM's QEMU. */
const killQemu = (pid: number): void => { try { process.kill(pid, 'SIGKILL') } catch {} }
const gone = async (pid: number): Promise<boolean> => (await readFile(`/proc/${pid}/cmdline`).catch(() => Buffer.alloc(0))).length === 0

t.test('compliance', async t => {
  let n = 0
  await vmDriverCompliance(t, {
    startOpts: { accel: 'tcg' },
    stopTimeoutMs: STOP.timeoutMs,
    make: async t => {
      const r = await rig(t, `guest-${++n}`)
      const vmsDir = join(r.dir, 'vms')
      const driver = new QemuVmDriver({ dir: vmsDir, guardIntervalMs: 50 })
      return {
        driver,
        vm: r.vm,
        restart: async () => {
          // the old daemon lets go of its VMs as it stops (its QMP connection closed: QEMU serves one client at a time); its QEMU runs on
          driver.release()
          return new QemuVmDriver({ dir: vmsDir, guardIntervalMs: 50 })
        },
        content: async disk => {
          if (disk === 'system') return await readFile(r.system)
          const out = join(r.dir, `content-${randomBytes(4).toString('hex')}.raw`)
          await run('qemu-img', ['convert', '-q', '-U', '-f', 'qcow2', '-O', 'raw', r.data, out])
          return await readFile(out)
        }
      }
    }
  })
})

/** Starts the VM from a child process that then exits: QEMU outlives the daemon that started it. */
async function startFromDyingDaemon (t: Test, vmsDir: string, vm: VmDefinition): Promise<VmDriverStatus> {
  const p = spawn(process.execPath, [child, vmsDir, JSON.stringify(vm)], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  p.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>(resolve => { p.once('close', c => { resolve(c) }) })
  t.equal(code, 0, 'the first daemon started the VM and exited')
  const status = JSON.parse(out) as VmDriverStatus
  t.teardown(() => { killQemu(status.pid!) })
  return status
}

t.test('a restarted daemon finds its running VM again, cycles it, and sees it crash', async t => {
  const r = await rig(t, 'guest-adopt')
  const vmsDir = join(r.dir, 'vms')
  const first = await startFromDyingDaemon(t, vmsDir, r.vm)
  t.equal(first.state, 'running')
  const driver = new QemuVmDriver({ dir: vmsDir })
  t.equal((await driver.status(r.vm)).state, 'stopped', 'before adopt, the new driver knows nothing')
  const [found, twin] = await Promise.all([driver.adopt(r.vm), driver.adopt(r.vm)])
  t.same(twin, found, 'two adopts at once share one')
  t.equal(found.state, 'running')
  t.equal(found.pid, first.pid, 'the same QEMU, found by its pid and QMP socket')
  t.equal(found.accel, 'tcg', 'its accelerator read from its command line')
  const cycle = await driver.diskSources(r.vm)
  t.equal(cycle.mode, 'live', 'the adopted VM replicates live')
  await cycle.complete({ ok: false })
  // not our child, so no exit event: its end shows through QMP and /proc
  killQemu(first.pid!)
  const after = await driver.driver.exited(r.vm.name)
  t.equal(after.state, 'crashed', 'killed without being asked: crashed')
  t.equal(after.pid, undefined)
  t.notOk(await stat(vmRunPaths(driver.vmDir(r.vm.name)).pidFile).then(() => true, () => false), 'its pid file removed')
  t.equal((await driver.stop(r.vm, STOP)).state, 'crashed', 'stop of the crashed VM is a no-op')
})

t.test('a VM that ended while no daemon watched is crashed; a reused pid is not taken for it', async t => {
  const r = await rig(t, 'guest-gone')
  const vmsDir = join(r.dir, 'vms')
  const first = await startFromDyingDaemon(t, vmsDir, r.vm)
  killQemu(first.pid!)
  while (!await gone(first.pid!)) await sleep(20)
  const driver = new QemuVmDriver({ dir: vmsDir })
  const pidFile = vmRunPaths(driver.vmDir(r.vm.name)).pidFile
  const after = await driver.adopt(r.vm)
  t.equal(after.state, 'crashed', 'QEMU ended unseen')
  t.equal(after.pid, undefined)
  t.notOk(await stat(pidFile).then(() => true, () => false), 'the stale pid file is removed')

  // the pid file names a live process that is not this VM's QEMU: this test's own process
  await writeFile(pidFile, `${process.pid}\n`)
  const reused = await new QemuVmDriver({ dir: vmsDir }).adopt(r.vm)
  t.equal(reused.state, 'crashed', 'a reused pid is not this VM')
  t.equal(reused.pid, undefined, 'and nothing was signalled (this process still runs)')

  const again = await driver.start(r.vm, { accel: 'tcg' })
  t.equal(again.state, 'running', 'the crashed VM starts again')
  await driver.stop(r.vm, STOP)
})

t.test('a raw disk written while the VM was stopped: tracking distrusted before the next cycle', async t => {
  const r = await rig(t, 'guest-edit')
  const driver = new QemuVmDriver({ dir: join(r.dir, 'vms') })
  t.teardown(async () => { await driver.stop(r.vm, STOP) })
  await driver.start(r.vm, { accel: 'tcg' })
  t.equal(await driver.pendingBytes(r.vm), null, 'pending bytes unknown before the first cycle: no tracking yet')
  const roots = { system: 'a'.repeat(64), data: 'b'.repeat(64) }
  const first = await driver.diskSources(r.vm)
  await first.complete({ ok: true, roots })
  const pending = await driver.pendingBytes(r.vm)
  t.ok(pending !== null && pending >= 0, `the running VM's pending bytes once a cycle completed ok: ${pending}`)
  await driver.stop(r.vm, STOP)
  t.equal(await driver.pendingBytes(r.vm), null, 'unknown while the VM does not run')
  t.same(await driver.checkOfflineEdits(r.vm), [], 'stopped cleanly, untouched: nothing to distrust')

  const h = await open(r.system, 'r+')
  await h.write(Buffer.from('offline edit'), 0, 12, 5 * MiB)
  await h.close()
  const edits = await driver.checkOfflineEdits(r.vm)
  t.same(edits.map(e => e.disk), ['system'], 'the edited raw disk is reported')
  t.match(edits[0]?.reason, /\S/)

  await driver.start(r.vm, { accel: 'tcg' })
  t.equal(await driver.pendingBytes(r.vm), null, 'unknown while a disk\'s tracking is distrusted: the next cycle compares it whole')
  const next = await driver.diskSources(r.vm)
  try {
    const views = await Promise.all(next.disks.map(async d => await d.source.open()))
    const [system, data] = await Promise.all(views.map(async (v, i) => await v.changedSince!(Object.values(roots)[i]!)))
    t.ok(!Array.isArray(system), `the edited disk is hashed whole: ${JSON.stringify(system)}`)
    t.ok(Array.isArray(data), 'the other disk stays tracked')
    for (const v of views) await v.close()
  } finally {
    await next.complete({ ok: false })
  }
})

t.test('an app-consistent cycle asked of a guest whose agent does not answer is crash-consistent, saying why', async t => {
  const r = await rig(t, 'guest-agentless')
  const vm: VmDefinition = { ...r.vm, guestAgent: true }
  const driver = new QemuVmDriver({ dir: join(r.dir, 'vms') })
  t.teardown(async () => { await driver.stop(vm, STOP) })
  t.equal(driver.capabilities(vm).appConsistent, true, 'a definition with an agent can ask')
  await driver.start(vm, { accel: 'tcg' })
  const cycle = await driver.diskSources(vm, { appConsistent: true })
  try {
    t.equal(cycle.mode, 'live')
    t.equal(cycle.consistency, 'crash', 'never labelled app-consistent without a freeze')
    t.match(cycle.consistencyNote, /APP_AGENT_UNAVAILABLE/, 'the note names why')
  } finally {
    await cycle.complete({ ok: false })
  }
  t.equal((await driver.status(vm)).state, 'running', 'the VM runs on')
})

t.test('cycles through the interface into a store: the second is tracked on every disk', async t => {
  const r = await rig(t, 'guest-cycles')
  const driver = new QemuVmDriver({ dir: join(r.dir, 'vms') })
  t.teardown(async () => { await driver.stop(r.vm, STOP) })
  const store = await openStore(t, join(r.dir, 'store'))
  const pool = scanPool(t)
  await driver.start(r.vm, { accel: 'tcg' })
  const reports = []
  for (let i = 0; i < 2; i++) {
    const cycle = await driver.diskSources(r.vm)
    try {
      const report = await replicateOnce(store, { pool, disks: [...cycle.disks], consistency: cycle.consistency })
      const roots = Object.fromEntries(await Promise.all(r.vm.disks.map(async d => [d.name, diskRoot(await store.manifest(report.point.id, d.name))] as const)))
      await cycle.complete({ ok: true, roots })
      reports.push(report)
    } catch (err) {
      await cycle.complete({ ok: false })
      throw err
    }
  }
  t.same(reports[0]!.disks.map(d => d.tracked), [false, false], 'the first cycle hashes every block')
  t.same(reports[1]!.disks.map(d => d.tracked), [true, true], 'the second reads only what the bitmaps name')
  const pending = await driver.pendingBytes(r.vm)
  t.ok(pending !== null && pending >= 0, `tracked on both disks: the pending bytes are known (${pending})`)
  const out = join(r.dir, 'data.out')
  await materializePoint(store, reports[1]!.point.id, 'data', out)
  const expected = join(r.dir, 'data.expected')
  await run('qemu-img', ['convert', '-q', '-U', '-f', 'qcow2', '-O', 'raw', r.data, expected])
  t.ok((await readFile(out)).equals(await readFile(expected)), 'the disk the guest leaves alone restores byte-exact')
})
