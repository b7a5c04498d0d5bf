/**
 * The VmDriver compliance suite (appliance/drivers/vm-driver.ts): what the
 * daemon and the scheduler may rely on whatever a VM's driver. A test file
 * calls `vmDriverCompliance(t, factory)`; the factory makes a driver, a VM
 * definition whose disk files exist, and "a restart" (a fresh driver over
 * the same state, as after the daemon restarted).
 *
 * Checked:
 * - a VM never started is `stopped` (lifecycle drivers) or `unmanaged`,
 *   with a reason; adopt agrees and changes nothing;
 * - without `lifecycle`, start and stop are APP_VM_NOT_MANAGED; with it,
 *   start runs the VM (a pid), a second start is APP_VM_ALREADY_RUNNING,
 *   checkOfflineEdits never distrusts the disks its own VM holds, a cycle
 *   of the running VM is `live` with one source per disk, a restarted
 *   driver finds the VM again by adopt (same pid) and stops it, a
 *   second stop is a no-op, and `exited` resolves with the end;
 * - a cycle of a VM that does not run reads the disk files exactly, one
 *   source per disk in the definition's order;
 * - a point is labelled app-consistent only when the driver can quiesce;
 * - a disk another process holds is refused with APP_DISK_IN_USE;
 * - one cycle per VM at a time (TypeError), and `complete` ends it;
 * - pendingBytes of a VM (stopped, unknown or running) is null or a count
 *   of bytes, never a failure;
 * - an aborted signal: CORE_ABORTED.
 */
import type { Test } from 'tap'
import { readFile } from 'node:fs/promises'
import type { VmDefinition } from '../../../appliance/drivers/qemu/index.ts'
import type { VmCycle, VmDriver, VmStartOpts } from '../../../appliance/drivers/index.ts'
import { AppErrorCode } from '../../../appliance/errors.ts'
import { CoreErrorCode } from '../../../core/errors.ts'
import { tempDir } from '../fixtures.ts'
import { startStorageDaemon } from '../storage-daemon.ts'

export interface DriverUnderTest {
  driver: VmDriver
  /** A VM for the driver; its disk files exist (the first one raw). */
  vm: VmDefinition
  /** The virtual content of a disk of `vm` as it is now (a qcow2's guest-visible bytes, not the file). */
  content: (disk: string) => Promise<Uint8Array>
  /**
   * A fresh driver over the same state: the daemon after a restart. The
   * factory lets go of what the old driver's process would have lost in
   * dying (e.g. its QMP connection: QEMU serves one client at a time).
   */
  restart: () => Promise<VmDriver>
}

export interface VmDriverFactory {
  make: (t: Test) => Promise<DriverUnderTest>
  /** Options of start for lifecycle drivers (e.g. TCG for the test guest). */
  startOpts?: VmStartOpts
  /** The graceful stop window: short, the test guest ignores the power button. */
  stopTimeoutMs?: number
}

/** Reads one whole view of each source and closes them: what the cycle would scan. */
async function readCycle (cycle: VmCycle): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>()
  for (const { name, source } of cycle.disks) {
    const view = await source.open()
    try {
      const bytes = new Uint8Array(view.size)
      await view.read(0, view.size, bytes)
      out.set(name, bytes)
    } finally {
      await view.close()
    }
  }
  return out
}

const pidAlive = async (pid: number): Promise<boolean> => (await readFile(`/proc/${pid}/cmdline`).catch(() => Buffer.alloc(0))).length > 0
const fakeRoot = (i: number): string => i.toString(16).padStart(64, '0')
const isPending = (v: number | null): boolean => v === null || (Number.isSafeInteger(v) && v >= 0)

export async function vmDriverCompliance (t: Test, factory: VmDriverFactory): Promise<void> {
  await t.test('a VM never started: its status, adopt, and the offline-edit check', async t => {
    const { driver, vm } = await factory.make(t)
    t.ok(driver.kind === 'qemu' || driver.kind === 'manual', `kind ${driver.kind}`)
    const caps = driver.capabilities(vm)
    t.same(Object.keys(caps).sort(), ['appConsistent', 'changeTracking', 'lifecycle'])
    const status = await driver.status(vm)
    t.equal(status.name, vm.name)
    t.equal(status.state, caps.lifecycle ? 'stopped' : 'unmanaged')
    t.match(status.reason, /\S/, 'with a reason')
    t.equal(status.pid, undefined)
    const adopted = await driver.adopt(vm)
    t.equal(adopted.state, status.state, 'adopt finds nothing running')
    t.equal((await factory.make(t).then(async u => await (await u.restart()).adopt(u.vm))).state, status.state, 'nor does a restarted driver')
    t.same(await driver.checkOfflineEdits(vm), [], 'nothing to distrust')
    const pending = await driver.pendingBytes(vm)
    t.ok(isPending(pending), `pendingBytes is null or a count of bytes: ${pending}`)
    t.ok(isPending(await driver.pendingBytes({ ...vm, name: `${vm.name}-unknown` })), 'also for a VM the driver never heard of')
    if (caps.lifecycle) t.equal((await driver.exited(vm)).state, 'stopped', 'exited resolves at once for a VM that does not run')
  })

  await t.test('start and stop, or APP_VM_NOT_MANAGED', async t => {
    const { driver, vm, restart, content } = await factory.make(t)
    if (!driver.capabilities(vm).lifecycle) {
      await t.rejects(driver.start(vm, factory.startOpts), { code: AppErrorCode.APP_VM_NOT_MANAGED }, 'start')
      await t.rejects(driver.stop(vm), { code: AppErrorCode.APP_VM_NOT_MANAGED }, 'stop')
      t.equal((await driver.status(vm)).state, 'unmanaged')
      return
    }
    const stopOpts = { timeoutMs: factory.stopTimeoutMs ?? 1000 }
    let restarted: VmDriver | undefined
    t.teardown(async () => { await (restarted ?? driver).stop(vm, stopOpts).catch(() => undefined); await driver.stop(vm, stopOpts).catch(() => undefined) })
    const started = await driver.start(vm, factory.startOpts)
    t.equal(started.state, 'running')
    t.ok(started.pid !== undefined && started.pid > 0, 'a pid')
    const pid = started.pid!
    await t.rejects(driver.start(vm, factory.startOpts), { code: AppErrorCode.APP_VM_ALREADY_RUNNING }, 'a second start')
    t.equal((await driver.status(vm)).pid, pid, 'the refused start left the VM alone')
    t.same(await driver.checkOfflineEdits(vm), [], 'the running VM\'s own writes are not offline edits')

    const cycle = await driver.diskSources(vm)
    try {
      t.equal(cycle.mode, 'live')
      t.same(cycle.disks.map(d => d.name), vm.disks.map(d => d.name), 'one source per disk, in order')
      await t.rejects(driver.diskSources(vm), TypeError, 'one cycle per VM at a time')
      const read = await readCycle(cycle)
      for (const d of vm.disks) t.equal(read.get(d.name)!.length, (await content(d.name)).length, `disk ${d.name} has its size`)
    } finally {
      await cycle.complete({ ok: false })
    }
    t.equal((await driver.status(vm)).state, 'running', 'the VM runs on after the cycle')
    t.ok(isPending(await driver.pendingBytes(vm)), 'pendingBytes of the running VM is null or a count of bytes')

    restarted = await restart()
    const found = await restarted.adopt(vm)
    t.equal(found.state, 'running', 'a restarted driver finds the VM again')
    t.equal(found.pid, pid, 'the same process')
    t.same(await restarted.adopt(vm), found, 'adopt again changes nothing')
    const stopped = await restarted.stop(vm, stopOpts)
    t.equal(stopped.state, 'stopped', 'and stops it')
    t.notOk(await pidAlive(pid), 'the process is gone')
    t.equal((await restarted.stop(vm, stopOpts)).state, 'stopped', 'a second stop is a no-op')
    t.equal((await restarted.exited(vm)).state, 'stopped', 'exited resolves with how the run ended')
  })

  await t.test('a cycle of a VM that does not run reads its disk files exactly', async t => {
    const { driver, vm, content } = await factory.make(t)
    const caps = driver.capabilities(vm)
    const cycle = await driver.diskSources(vm, { appConsistent: true })
    let read: Map<string, Uint8Array>
    try {
      t.equal(cycle.mode, 'offline')
      t.same(cycle.disks.map(d => d.name), vm.disks.map(d => d.name), 'one source per disk, in order')
      await t.rejects(driver.diskSources(vm), TypeError, 'one cycle per VM at a time')
      t.equal(cycle.consistency, 'crash', 'nothing quiesced a VM that does not run')
      if (!caps.appConsistent) t.match(cycle.consistencyNote, /\S/, 'and the note says why')
      read = await readCycle(cycle)
    } catch (err) {
      await cycle.complete({ ok: false })
      throw err
    }
    await cycle.complete({ ok: true, roots: Object.fromEntries(vm.disks.map((d, i) => [d.name, fakeRoot(i)])) })
    for (const d of vm.disks) t.ok(Buffer.from(read.get(d.name)!).equals(Buffer.from(await content(d.name))), `disk ${d.name} read exactly`)
    await cycle.complete({ ok: false })
    const again = await driver.diskSources(vm)
    t.pass('complete ended the cycle: another may start')
    await again.complete({ ok: false })
  })

  await t.test('a disk another process holds is not read', async t => {
    const { driver, vm } = await factory.make(t)
    const first = vm.disks[0]!
    const holder = await startStorageDaemon({ dir: await tempDir(t), disk: first.path, format: 'raw', tag: 'holder' })
    t.teardown(holder.stop)
    const cycle = await driver.diskSources(vm)
    try {
      await t.rejects(cycle.disks[0]!.source.open(), { code: AppErrorCode.APP_DISK_IN_USE })
    } finally {
      await cycle.complete({ ok: false })
    }
  })

  await t.test('an aborted signal', async t => {
    const { driver, vm } = await factory.make(t)
    await t.rejects(driver.diskSources(vm, { signal: AbortSignal.abort() }), { code: CoreErrorCode.CORE_ABORTED })
    await t.rejects(driver.pendingBytes(vm, AbortSignal.abort()), { code: CoreErrorCode.CORE_ABORTED }, 'pendingBytes too')
    const cycle = await driver.diskSources(vm)
    t.pass('an aborted call left no cycle behind')
    await cycle.complete({ ok: false })
  })
}
