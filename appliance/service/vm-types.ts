/**
 * The JSON-able values of the VM methods (VmApi). Like types.ts they cross
 * the local API unchanged; docs/cli.md documents `VmInfo[]` as the JSON of
 * `tandem vm list`.
 */

/** Which driver runs a VM: `qemu` (Tandem runs it) or `manual` (it runs elsewhere; Tandem reads its disks). */
export type VmDriverName = 'qemu' | 'manual'

/**
 * A VM's state: the qemu driver's states; `unmanaged` (manual: Tandem does
 * not run it, so it cannot say); `unknown` (qemu: a QEMU of the VM runs
 * but did not answer when the daemon started, so it is left alone).
 */
export type VmStateName = 'stopped' | 'starting' | 'running' | 'paused' | 'stopping' | 'crashed' | 'unmanaged' | 'unknown'

/** A NIC of `vmAdd`: `id` defaults to `net0`, `net1`... by position. */
export interface VmNicRequest {
  id?: string
  mode: 'none' | 'isolated' | 'user' | 'bridge'
  /** The host bridge, for (and only for) mode `bridge`. */
  bridge?: string
  mac?: string
}

/** Direct kernel boot (appliances, tests); absolute paths. */
export interface VmBootRequest {
  kernel: string
  initrd?: string
  append?: string
}

/** `vmAdd` arguments. Paths are absolute: the CLI resolves relative ones against its own working directory. */
export interface VmAddRequest {
  name: string
  /** The disk images, in order (the first boots): named `disk0`, `disk1`... */
  disks: string[]
  /** Default 1. */
  cpus?: number
  /** Default 1024. */
  memoryMiB?: number
  /** Default `qemu`. */
  driver?: VmDriverName
  /** The guest runs qemu-guest-agent. Default false. */
  guestAgent?: boolean
  /** Default none. */
  nics?: VmNicRequest[]
  boot?: VmBootRequest
}

/** One disk of a VM as `vm list` shows it. */
export interface VmDiskInfo {
  name: string
  /** The image's path on this box. */
  path: string
  format: 'raw' | 'qcow2'
  /** The virtual disk's size in bytes (for raw, the file's), or null when it could not be read now (missing file...). */
  size: number | null
}

/** The relationship protecting a VM, in `vm list`. */
export interface VmProtection {
  id: string
  role: 'primary' | 'replica'
  peer: string
  state: string
}

/** A VM of this box, as `tandem vm list` shows it. */
export interface VmInfo {
  name: string
  driver: VmDriverName
  state: VmStateName
  /** Why it is in that state, one line. */
  reason: string
  /** When it entered that state (ISO). */
  since: string
  /** QEMU's pid while it runs; null otherwise. */
  pid: number | null
  /** `kvm` or `tcg` while it runs under QEMU; null otherwise. */
  accel: string | null
  cpus: number
  memoryMiB: number
  guestAgent: boolean
  disks: VmDiskInfo[]
  nics: Array<{ id: string, mode: string, bridge: string | null, mac: string | null }>
  boot: { kernel: string, initrd: string | null, append: string | null } | null
  /** The relationship protecting it, or null. */
  relationship: VmProtection | null
  addedAt: string
}

/**
 * Longest graceful window a `vm stop` may ask for: with a forced stop's
 * quit and kill (10 s each) it stays under the API client's 2 min limit
 * (TIMEOUT_API_MS), so the CLI always hears how the stop ended.
 */
export const MAX_VM_STOP_WINDOW_MS = 90_000

/** `vmStop` options. */
export interface VmStopRequest {
  /** End a guest that does not shut down within the window (QMP quit, then SIGKILL); without it the stop is refused instead (APP_VM_STOP_TIMEOUT). */
  force?: boolean
  /** The graceful window in ms (default 60 s). */
  timeoutMs?: number
}

export interface VmRemoveResult {
  name: string
  removed: true
}
