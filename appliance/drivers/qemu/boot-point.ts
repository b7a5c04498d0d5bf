import { mkdir, rm } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { AppError, AppErrorCode } from '../../errors.ts'
import { qemuImg } from './tracking/qemu-img.ts'
import type { Accel } from './qemu-args.ts'
import type { QemuDriver, VmStatus } from './qemu-driver.ts'
import type { VmBoot, VmNic } from './vm-definition.ts'

export interface BootRecoveryPointInit {
  driver: QemuDriver
  /** Absolute path of a materialized replica image (raw), e.g. from restore. */
  image: string
  name: string
  vcpus: number
  memoryMiB: number
  /** `none`: no NIC; `isolated`: one NIC with no host or outside access (test failovers); or the VM's own NICs. */
  network: 'none' | 'isolated' | { nics: VmNic[] }
  /** Absolute directory for the VM's sockets, logs and the overlay. */
  runDir: string
  /**
   * true (default): the image is never written; the guest writes to a
   * qcow2 overlay in `runDir`, removed when the handle stops the VM (test
   * failover). false: the guest runs on the image itself (real failover).
   */
  snapshot?: boolean
  guestAgent?: boolean
  /** Direct kernel boot (tests); otherwise the image boots. */
  boot?: VmBoot
  accel?: 'auto' | Accel
  signal?: AbortSignal
}

export interface BootedRecoveryPoint {
  name: string
  status: VmStatus
  /** The overlay receiving the guest's writes (snapshot mode). */
  overlay: string | undefined
  /** Stops the VM (driver.stop) and removes the overlay: the test failover's changes are discarded. Idempotent. */
  stop: (options?: { timeoutMs?: number }) => Promise<VmStatus>
}

/** Name of the throw-away overlay in the run directory. */
export const OVERLAY_FILE = 'overlay.qcow2'

/**
 * Starts a VM from a replica image. In snapshot mode (the default) the
 * image is the read-only backing file of a fresh qcow2 overlay
 * (`qemu-img create -f qcow2 -b IMAGE -F raw`), so QEMU never opens the
 * image for writing and a recovery point cannot be altered by a test
 * failover. A leftover overlay from an earlier run is replaced (it is
 * throw-away by definition). Errors: APP_VM_INVALID (bad fields),
 * APP_QEMU_IMG_FAILED (overlay), and those of QemuDriver.start.
 */
export async function bootRecoveryPoint (init: BootRecoveryPointInit): Promise<BootedRecoveryPoint> {
  if (!isAbsolute(init.image)) throw new AppError(AppErrorCode.APP_VM_INVALID, `VM definition: image must be an absolute path, got ${init.image}`, { details: { field: 'image' } })
  const snapshot = init.snapshot ?? true
  // checked before the overlay is touched: a running VM of that name may be using it
  const current = init.driver.status(init.name).state
  if (current !== 'stopped' && current !== 'crashed') {
    throw new AppError(AppErrorCode.APP_VM_ALREADY_RUNNING, `VM ${init.name} is already ${current}`, { details: { name: init.name, state: current } })
  }
  await mkdir(init.runDir, { recursive: true })
  let overlay: string | undefined
  if (snapshot) {
    overlay = join(init.runDir, OVERLAY_FILE)
    await rm(overlay, { force: true })
    await qemuImg(['create', '-q', '-f', 'qcow2', '-b', init.image, '-F', 'raw', overlay], init.signal)
  }
  const nics: VmNic[] = init.network === 'none'
    ? []
    : init.network === 'isolated' ? [{ id: 'net0', mode: 'isolated' }] : init.network.nics
  const removeOverlay = async (): Promise<void> => { if (overlay !== undefined) await rm(overlay, { force: true }) }
  let status: VmStatus
  try {
    status = await init.driver.start({
      name: init.name,
      vcpus: init.vcpus,
      memoryMiB: init.memoryMiB,
      disks: [overlay === undefined ? { name: 'disk0', path: init.image, format: 'raw' } : { name: 'disk0', path: overlay, format: 'qcow2' }],
      nics,
      guestAgent: init.guestAgent ?? false,
      ...init.boot === undefined ? {} : { boot: init.boot }
    }, { runDir: init.runDir, accel: init.accel ?? 'auto', ...init.signal === undefined ? {} : { signal: init.signal } })
  } catch (err) {
    await removeOverlay()
    throw err
  }
  return {
    name: init.name,
    status,
    overlay,
    stop: async (options = {}) => {
      const stopped = await init.driver.stop(init.name, options)
      await removeOverlay()
      return stopped
    }
  }
}
