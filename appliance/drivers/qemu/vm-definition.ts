import { isAbsolute } from 'node:path'
import { DISK_NAME_PATTERN } from '../../../core/constants.ts'
import { AppError, AppErrorCode } from '../../errors.ts'
import { MAX_APPEND_CHARS, MAX_VM_DISKS, MAX_VM_MEMORY_MIB, MAX_VM_NICS, MAX_VM_VCPUS, MIN_VM_MEMORY_MIB } from './constants.ts'

export type DiskFormat = 'raw' | 'qcow2'

export interface VmDisk {
  /** The disk's name in Tandem (recovery points, the UI); DISK_NAME_PATTERN. */
  name: string
  /** Absolute path of the image. */
  path: string
  format: DiskFormat
  /** QMP block node name of the format node; `disk<index>` when absent. The protocol node is `<node>-file`. */
  node?: string
  /**
   * Raw disks only: a qcow2 metadata file whose data file is `path`
   * (appliance/drivers/qemu/tracking/raw-sidecar.ts), for persistent dirty bitmaps.
   * QEMU then opens the sidecar as the disk; the data stays plain raw.
   */
  sidecar?: string
}

/**
 * - `none`: no NIC.
 * - `isolated`: a NIC on QEMU user networking with `restrict=on`: the guest
 *   gets DHCP but cannot reach the host or the outside (test failovers).
 * - `user`: plain user networking (NAT to the outside through QEMU).
 * - `bridge`: a tap on a host bridge through qemu-bridge-helper (`bridge` names it).
 */
export type NicMode = 'none' | 'isolated' | 'user' | 'bridge'

export interface VmNic {
  /** QEMU id of the netdev (the device is `<id>-nic`): a letter, then letters, digits, `-`, `_`. */
  id: string
  mode: NicMode
  /** Host bridge name, required for (and only for) `bridge`. */
  bridge?: string
  /** Unicast MAC `52:54:00:12:34:56`; QEMU picks one when absent. */
  mac?: string
}

/** Direct kernel boot (tests, appliances); without it the first disk boots. */
export interface VmBoot {
  kernel: string
  initrd?: string
  append?: string
}

export interface VmDefinition {
  /** DISK_NAME_PATTERN: also names the VM's run directory and QEMU's `-name`. */
  name: string
  vcpus: number
  memoryMiB: number
  disks: VmDisk[]
  nics: VmNic[]
  /** Whether the guest runs qemu-guest-agent (a virtio-serial channel is added). */
  guestAgent: boolean
  boot?: VmBoot
  /**
   * A display device (standard VGA), so QMP `screendump` has a screen to
   * take (drills). Nothing is shown anywhere: QEMU keeps `-display none`.
   * Absent: false.
   */
  display?: boolean
}

/** A checked definition: every disk has its node name. */
export interface CheckedVmDefinition extends VmDefinition {
  disks: Array<VmDisk & { node: string }>
}

/**
 * QEMU ids and node names: a letter first, then letters, digits, `-`, `_`.
 * (QEMU also allows `.`; it is left out so ids stay safe in option strings.)
 * Node names may have at most 31 characters; 26 leaves room for the
 * `-file` / `-data` suffixes of the protocol nodes.
 */
const NODE_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,25}$/
const NIC_ID_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,25}$/
/** Linux interface names: at most 15 characters (IFNAMSIZ - 1). */
const BRIDGE_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/
/** A unicast MAC (the lowest bit of the first octet clear). */
const MAC_PATTERN = /^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$/
const NIC_MODES: readonly string[] = ['none', 'isolated', 'user', 'bridge']
const FORMATS: readonly string[] = ['raw', 'qcow2']

/** The default block node name of the disk at `index`: `disk0`, `disk1`... */
export function defaultDiskNode (index: number): string {
  return `disk${index}`
}

/**
 * Validates an untrusted VM definition (a config file, the API) and returns
 * a copy with every disk's node name filled in. Pure. Throws APP_VM_INVALID
 * whose message names the first bad field (e.g. `disks[1].path`). Checks
 * shape and ranges only: whether the files exist is QEMU's to say at start.
 */
export function checkVmDefinition (v: unknown): CheckedVmDefinition {
  const o = record(v, 'definition')
  const name = str(o.name, 'name')
  if (!DISK_NAME_PATTERN.test(name)) invalid('name', `must match ${String(DISK_NAME_PATTERN)}`)
  const vcpus = int(o.vcpus, 'vcpus', 1, MAX_VM_VCPUS)
  const memoryMiB = int(o.memoryMiB, 'memoryMiB', MIN_VM_MEMORY_MIB, MAX_VM_MEMORY_MIB)
  if (typeof o.guestAgent !== 'boolean') invalid('guestAgent', 'must be true or false')
  const guestAgent = o.guestAgent as boolean

  const disksIn = list(o.disks, 'disks', MAX_VM_DISKS)
  const disks = disksIn.map((d, i) => checkDisk(d, i))
  unique(disks.map(d => d.name), 'disks', 'name')
  unique(disks.map(d => d.node), 'disks', 'node')

  const nics = list(o.nics, 'nics', MAX_VM_NICS).map((n, i) => checkNic(n, i))
  unique(nics.map(n => n.id), 'nics', 'id')

  let boot: VmBoot | undefined
  if (o.boot !== undefined) {
    const b = record(o.boot, 'boot')
    boot = { kernel: absPath(b.kernel, 'boot.kernel') }
    if (b.initrd !== undefined) boot.initrd = absPath(b.initrd, 'boot.initrd')
    if (b.append !== undefined) {
      boot.append = str(b.append, 'boot.append')
      if (boot.append.length > MAX_APPEND_CHARS || /[\0\n]/.test(boot.append)) invalid('boot.append', `must be one line of at most ${MAX_APPEND_CHARS} characters`)
    }
  }
  if (boot === undefined && disks.length === 0) invalid('disks', 'a VM without direct kernel boot needs a disk to boot from')
  if (o.display !== undefined && typeof o.display !== 'boolean') invalid('display', 'must be true or false')

  const out: CheckedVmDefinition = { name, vcpus, memoryMiB, disks, nics, guestAgent }
  if (boot !== undefined) out.boot = boot
  if (o.display === true) out.display = true
  return out
}

function checkDisk (v: unknown, i: number): VmDisk & { node: string } {
  const at = `disks[${i}]`
  const d = record(v, at)
  const name = str(d.name, `${at}.name`)
  if (!DISK_NAME_PATTERN.test(name)) invalid(`${at}.name`, `must match ${String(DISK_NAME_PATTERN)}`)
  const path = absPath(d.path, `${at}.path`)
  if (typeof d.format !== 'string' || !FORMATS.includes(d.format)) invalid(`${at}.format`, "must be 'raw' or 'qcow2'")
  const format = d.format as DiskFormat
  let node = defaultDiskNode(i)
  if (d.node !== undefined) {
    node = str(d.node, `${at}.node`)
    if (!NODE_NAME_PATTERN.test(node)) invalid(`${at}.node`, `must match ${String(NODE_NAME_PATTERN)}`)
  }
  const disk: VmDisk & { node: string } = { name, path, format, node }
  if (d.sidecar !== undefined) {
    if (format !== 'raw') invalid(`${at}.sidecar`, 'only raw disks have a sidecar')
    disk.sidecar = absPath(d.sidecar, `${at}.sidecar`)
    if (disk.sidecar === path) invalid(`${at}.sidecar`, 'must differ from the disk path')
  }
  return disk
}

function checkNic (v: unknown, i: number): VmNic {
  const at = `nics[${i}]`
  const n = record(v, at)
  const id = str(n.id, `${at}.id`)
  if (!NIC_ID_PATTERN.test(id)) invalid(`${at}.id`, `must match ${String(NIC_ID_PATTERN)}`)
  if (typeof n.mode !== 'string' || !NIC_MODES.includes(n.mode)) invalid(`${at}.mode`, `must be one of ${NIC_MODES.join(', ')}`)
  const nic: VmNic = { id, mode: n.mode as NicMode }
  if (nic.mode === 'bridge') {
    nic.bridge = str(n.bridge, `${at}.bridge`)
    if (!BRIDGE_PATTERN.test(nic.bridge)) invalid(`${at}.bridge`, `must match ${String(BRIDGE_PATTERN)}`)
  } else if (n.bridge !== undefined) {
    invalid(`${at}.bridge`, "is only for mode 'bridge'")
  }
  if (n.mac !== undefined) {
    nic.mac = str(n.mac, `${at}.mac`)
    if (!MAC_PATTERN.test(nic.mac)) invalid(`${at}.mac`, 'must be a unicast MAC like 52:54:00:12:34:56')
  }
  return nic
}

function invalid (field: string, why: string): never {
  throw new AppError(AppErrorCode.APP_VM_INVALID, `VM definition: ${field} ${why}`, { details: { field } })
}

function record (v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) invalid(field, 'must be an object')
  return v as Record<string, unknown>
}

function str (v: unknown, field: string): string {
  if (typeof v !== 'string') invalid(field, 'must be a string')
  return v as string
}

function int (v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) invalid(field, `must be an integer from ${min} to ${max}`)
  return v as number
}

function list (v: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(v)) invalid(field, 'must be an array')
  if ((v as unknown[]).length > max) invalid(field, `may hold at most ${max} entries`)
  return v as unknown[]
}

function absPath (v: unknown, field: string): string {
  const p = str(v, field)
  if (p === '' || !isAbsolute(p) || /[\0\n]/.test(p)) invalid(field, 'must be an absolute path')
  return p
}

function unique (values: string[], field: string, key: string): void {
  const seen = new Set<string>()
  values.forEach((value, i) => {
    if (seen.has(value)) invalid(`${field}[${i}].${key}`, `repeats ${JSON.stringify(value)}`)
    seen.add(value)
  })
}
