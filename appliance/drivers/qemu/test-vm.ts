import { mkdir, rm } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { AppError, AppErrorCode } from '../../errors.ts'
import { TEST_VM_STOP_WINDOW_MS } from './constants.ts'
import { createNbdOverlay, type NbdDiskBacking } from './nbd-overlay.ts'
import type { Accel } from './qemu-args.ts'
import type { QemuDriver, VmStatus } from './qemu-driver.ts'
import { checkVmDefinition, type CheckedVmDefinition, type VmDefinition } from './vm-definition.ts'

/** How a test VM differs from the VM it copies. */
export interface TestVmShape {
  /** `<vm>-test` by default; must differ from the protected VM's name (both may run at once). */
  name?: string
  /** `isolated` (default): each of the VM's NICs on restricted user networking; `none`: no NIC. */
  network?: 'isolated' | 'none'
  /** A VGA device for screenshots (default true). */
  display?: boolean
}

export interface TestVmInit extends TestVmShape {
  driver: QemuDriver
  /** The protected VM's definition: the test VM takes its shape. */
  vm: VmDefinition
  /** Where each disk of the recovery point is served, by disk name; every disk of `vm` needs one. */
  backing: Readonly<Record<string, NbdDiskBacking>>
  /** Absolute directory owned by this test VM alone: overlays and QEMU's run files. Removed when it stops. */
  runDir: string
  accel?: 'auto' | Accel
  /** QemuDriver.start's time limit. */
  timeoutMs?: number
  signal?: AbortSignal
  /** Milliseconds on a monotonic clock (performance.now by default); tests inject one. */
  clock?: () => number
}

/** A running test VM. */
export interface TestVm {
  name: string
  runDir: string
  definition: CheckedVmDefinition
  /** The status QemuDriver.start resolved with. */
  status: VmStatus
  /** `clock()` just before the VM's start command (QemuDriver.start): drills count from it. */
  startedAt: number
  clock: () => number
  /** stopTestVm: the VM stopped, its run directory (overlays included) removed. Idempotent. */
  stop: (options?: { timeoutMs?: number }) => Promise<VmStatus>
}

/** The overlay of disk `disk` in a test VM's run directory. */
export function testVmOverlay (runDir: string, disk: string): string {
  return join(runDir, `${disk}.overlay.qcow2`)
}

/**
 * The definition of the test VM of `vm` (checked: APP_VM_INVALID). Pure,
 * so a restarted daemon rebuilds the same definition to adopt the VM
 * (QemuDriver.adopt with `runDir`). It keeps the VM's vCPUs, memory, boot,
 * guest agent, and disks by name and node; each disk is its qcow2 overlay
 * in `runDir` (testVmOverlay). NICs keep their id and MAC (a guest's
 * network setup often follows the MAC) but are `isolated`, or dropped with
 * `network: 'none'`; a display is added unless `display: false`.
 */
export function testVmDefinition (vm: VmDefinition, runDir: string, shape: TestVmShape = {}): CheckedVmDefinition {
  const def = checkVmDefinition(vm)
  if (!isAbsolute(runDir)) throw new TypeError(`runDir must be an absolute path, got ${runDir}`)
  const name = shape.name ?? `${def.name}-test`
  if (name === def.name) throw new AppError(AppErrorCode.APP_VM_INVALID, `VM definition: name of the test VM must differ from ${def.name}`, { details: { field: 'name' } })
  const network = shape.network ?? 'isolated'
  if (network !== 'isolated' && network !== 'none') throw new TypeError(`network must be 'isolated' or 'none', got ${String(network)}`)
  return checkVmDefinition({
    name,
    vcpus: def.vcpus,
    memoryMiB: def.memoryMiB,
    disks: def.disks.map(d => ({ name: d.name, node: d.node, path: testVmOverlay(runDir, d.name), format: 'qcow2' })),
    nics: network === 'none'
      ? []
      : def.nics.filter(n => n.mode !== 'none').map(n => ({ id: n.id, mode: 'isolated', ...n.mac === undefined ? {} : { mac: n.mac } })),
    guestAgent: def.guestAgent,
    display: shape.display ?? true,
    ...def.boot === undefined ? {} : { boot: def.boot }
  })
}

/**
 * Starts a throw-away VM on a recovery point served over NBD (test
 * failover, drills): one qcow2 overlay per disk over that disk's export
 * (createNbdOverlay), then QemuDriver.start like any VM, so status, qmp,
 * stop and adopt work. The exports are never written. A name already
 * starting, running or stopping is refused (APP_VM_ALREADY_RUNNING) before
 * the run directory is touched; leftover overlays are replaced. If any
 * step fails the run directory is removed again. Errors: APP_VM_INVALID
 * (the definition, or a disk with no backing: `details.field`),
 * APP_QEMU_IMG_FAILED, and those of QemuDriver.start.
 */
export async function startTestVm (init: TestVmInit): Promise<TestVm> {
  const def = testVmDefinition(init.vm, init.runDir, init)
  const clock = init.clock ?? (() => performance.now())
  for (const d of def.disks) {
    if (!Object.hasOwn(init.backing, d.name)) {
      throw new AppError(AppErrorCode.APP_VM_INVALID, `VM definition: disk ${d.name} has no NBD backing (the recovery point does not serve it)`, { details: { field: `backing.${d.name}` } })
    }
  }
  const current = init.driver.status(def.name).state
  if (current !== 'stopped' && current !== 'crashed') {
    throw new AppError(AppErrorCode.APP_VM_ALREADY_RUNNING, `VM ${def.name} is already ${current}`, { details: { name: def.name, state: current } })
  }
  await mkdir(init.runDir, { recursive: true })
  let startedAt: number
  let status: VmStatus
  try {
    for (const d of def.disks) await createNbdOverlay(d.path, init.backing[d.name]!, init.signal)
    startedAt = clock()
    status = await init.driver.start(def, { runDir: init.runDir, accel: init.accel ?? 'auto', timeoutMs: init.timeoutMs, signal: init.signal })
  } catch (err) {
    await rm(init.runDir, { recursive: true, force: true })
    throw err
  }
  return {
    name: def.name,
    runDir: init.runDir,
    definition: def,
    status,
    startedAt,
    clock,
    stop: async (options = {}) => await stopTestVm(init.driver, def.name, init.runDir, options)
  }
}

/**
 * Stops a test VM (QemuDriver.stop, forced after `timeoutMs`,
 * TEST_VM_STOP_WINDOW_MS by default: its writes are discarded anyway), then
 * removes its run directory: overlays, serial log, sockets, pid file. No
 * trace is left. Idempotent; also for an adopted test VM. If the stop
 * fails the directory is kept (QEMU may still have it open).
 */
export async function stopTestVm (driver: QemuDriver, name: string, runDir: string, options: { timeoutMs?: number } = {}): Promise<VmStatus> {
  if (!isAbsolute(runDir)) throw new TypeError(`runDir must be an absolute path, got ${runDir}`)
  const status = await driver.stop(name, { timeoutMs: options.timeoutMs ?? TEST_VM_STOP_WINDOW_MS })
  await rm(runDir, { recursive: true, force: true })
  return status
}
