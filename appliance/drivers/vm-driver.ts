import type { DiskSource } from '../../core/disk-view/index.ts'
import type { Consistency } from '../../core/types.ts'
import type { Accel, VmDefinition, VmState } from './qemu/index.ts'

/*
 * What the daemon and the scheduler know of a hypervisor: one interface
 * over every way a VM's disks reach Tandem (docs/vms.md, "Drivers"), so
 * they never ask which driver a VM has. A VM is described by its
 * definition (name, disks and, for VMs Tandem runs, the rest of
 * checkVmDefinition's fields); a driver keeps no inventory of its own.
 */

/** 'qemu': Tandem runs the VM. 'manual': Tandem does not; it only reads the disk files. */
export type VmDriverKind = 'qemu' | 'manual'

/** A VM's state under its driver: the QEMU driver's states, or `unmanaged` (the manual driver: Tandem does not run it, so it cannot say). */
export type VmDriverState = VmState | 'unmanaged'

export interface VmDriverStatus {
  name: string
  state: VmDriverState
  /** When the VM entered `state` (for `unmanaged`: when the driver was made). */
  since: Date
  /** Why, in a line an operator understands: how it started, stopped or crashed, or why Tandem does not run it. */
  reason: string
  /** The hypervisor's pid while the VM runs. */
  pid?: number
  accel?: Accel
  accelReason?: string
}

/** What a driver can do for one VM. */
export interface VmCapabilities {
  /** start() and stop() work (else they fail with APP_VM_NOT_MANAGED). */
  lifecycle: boolean
  /** While the VM runs, cycles read only the blocks change tracking names (else every block is hashed). */
  changeTracking: boolean
  /** A cycle can quiesce the guest for an app-consistent point (a guest agent). */
  appConsistent: boolean
}

export interface VmStartOpts {
  /** QEMU: 'auto' (default) uses KVM when the probe says usable, else TCG. */
  accel?: 'auto' | Accel
  timeoutMs?: number
  signal?: AbortSignal
}

export interface VmStopOpts {
  /** The graceful window before the driver forces the VM off. */
  timeoutMs?: number
  /**
   * true (default): a guest still running after the window is forced off
   * (QEMU: QMP `quit`, then SIGKILL). false: the stop is refused instead
   * (APP_VM_STOP_TIMEOUT) and the VM keeps running.
   */
  force?: boolean
}

export interface DiskSourcesOpts {
  /** Ask for an app-consistent point: honoured only when `capabilities(vm).appConsistent`, and labelled so only when the freeze worked. */
  appConsistent?: boolean
  signal?: AbortSignal
}

/** Where a driver reports a disk whose change tracking it stopped trusting. */
export interface OfflineEdit {
  disk: string
  reason: string
}

/**
 * The disks of one VM for one cycle. Open the sources' views together
 * (appliance/replication/cycle-source.ts), close them, then call
 * `complete` exactly once with the cycle's outcome.
 */
export interface VmCycle {
  /** One source per disk of the definition, in its order, under the disk's name. */
  readonly disks: ReadonlyArray<{ name: string, source: DiskSource }>
  /** 'live': point-in-time views of a running VM; 'offline': the disk files of a VM that does not run (or that Tandem does not run). */
  readonly mode: 'live' | 'offline'
  /** 'app' only when the guest was quiesced and thawed in time. */
  readonly consistency: Consistency
  /** Why a point asked to be app-consistent is only crash-consistent (or that the freeze worked). */
  readonly consistencyNote?: string
  /**
   * Ends the cycle. `ok` with the root of each disk's manifest as the
   * Replica committed it (disk name → root): change tracking then counts
   * from those points. Otherwise nothing is lost: the next cycle's
   * tracking still covers every change since the last replicated point.
   * Call it after the views are closed; later calls do nothing.
   */
  complete: (outcome: { ok: true, roots: Readonly<Record<string, string>> } | { ok: false }) => Promise<void>
}

/**
 * A hypervisor driver. Contracts every implementation keeps (the
 * compliance suite test/helpers/compliance/vm-driver.ts checks them):
 * - `status` never fails for a valid definition; a VM the driver knows
 *   nothing of is `stopped` (lifecycle drivers) or `unmanaged`.
 * - `start` / `stop` are APP_VM_NOT_MANAGED without `lifecycle`; `stop`
 *   of a VM that does not run is a no-op resolving with its status.
 * - `adopt` is how a restarted daemon finds its VMs again: it resolves
 *   with the status (running when found, crashed when it ended unseen)
 *   and is idempotent.
 * - `checkOfflineEdits` is called before each cycle (and runs inside
 *   `start`): it marks tracking distrusted where the disks may have been
 *   written while no hypervisor watched them; it never distrusts a disk
 *   that its own running VM holds.
 * - `diskSources` gives one cycle's sources; one cycle per VM at a time
 *   (a second call before `complete` is a TypeError).
 * - `pendingBytes` is a number >= 0 or null, never a failure for a valid
 *   definition (CORE_ABORTED only when its signal aborts).
 * - `release` lets go of the VMs without stopping them.
 */
export interface VmDriver {
  readonly kind: VmDriverKind
  capabilities: (vm: VmDefinition) => VmCapabilities
  start: (vm: VmDefinition, opts?: VmStartOpts) => Promise<VmDriverStatus>
  stop: (vm: VmDefinition, opts?: VmStopOpts) => Promise<VmDriverStatus>
  status: (vm: VmDefinition) => Promise<VmDriverStatus>
  adopt: (vm: VmDefinition, opts?: { signal?: AbortSignal }) => Promise<VmDriverStatus>
  /**
   * Resolves with the status once the VM's current run has ended, however
   * it ended (at once when it does not run). Never rejects. A driver
   * without `lifecycle` never resolves it (Tandem does not see that VM
   * end), nor does a released driver for a VM it let go.
   */
  exited: (vm: VmDefinition) => Promise<VmDriverStatus>
  checkOfflineEdits: (vm: VmDefinition) => Promise<OfflineEdit[]>
  diskSources: (vm: VmDefinition, opts?: DiskSourcesOpts) => Promise<VmCycle>
  /**
   * Bytes written to the VM's disks since its last replicated point, as far
   * as the driver's change tracking knows (an upper bound), or null when it
   * cannot tell: no tracking, tracking distrusted (the next cycle compares
   * every block), the VM not running, or the hypervisor not answering.
   * Cheap (the status figures ask it on every request); may run beside a
   * cycle. Rejects only with CORE_ABORTED when `signal` aborts.
   */
  pendingBytes: (vm: VmDefinition, signal?: AbortSignal) => Promise<number | null>
  /**
   * Lets go of every VM without stopping it (the daemon stops; its VMs run
   * on, and the next daemon adopts them): nothing the driver holds keeps
   * the process alive afterwards. The driver is not used after it.
   */
  release: () => void
}
