/**
 * What a Replica keeps of the VM it protects (the relationship protocol's
 * `vm`, docs/relationship-protocol.md): enough to show it and to start it
 * here in a failover with the primary gone. Paths, bridges and addresses
 * are each box's own and are not part of it.
 */
import { DISK_NAME_PATTERN } from '../../core/constants.ts'
import {
  MAX_BOOT_APPEND_BYTES, MAX_BOOT_PATH_BYTES, MAX_MEMORY_MIB, MAX_NICS, MAX_VCPUS, NIC_BRIDGE_PATTERN, NIC_MAC_PATTERN, NIC_MODEL_PATTERN,
  type KernelBoot, type ProtectedNic, type ProtectedVm
} from '../../p2p/relationship/index.ts'
import { MAX_DISK_BYTES, MAX_DISKS } from '../../p2p/replication/constants.ts'

export type { KernelBoot, ProtectedNic, ProtectedVm }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isInt = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max
const hasOnly = (o: Record<string, unknown>, keys: string[]): boolean => Object.keys(o).every(k => keys.includes(k)) && keys.every(k => Object.hasOwn(o, k))

const oneLine = (s: unknown, max: number): boolean => typeof s === 'string' && !/[\0\r\n]/.test(s) && Buffer.byteLength(s) <= max
const bootPath = (s: unknown): boolean => oneLine(s, MAX_BOOT_PATH_BYTES) && (s as string).startsWith('/')

/** Why `v` is not a valid stored kernel boot (the wire's bounds), or undefined when it is. */
function invalidKernelBoot (v: unknown): string | undefined {
  if (!isObject(v) || Object.keys(v).some(k => k !== 'kernel' && k !== 'initrd' && k !== 'append')) return 'protectedVm.kernelBoot is not { kernel, initrd?, append? }'
  if (!bootPath(v.kernel) || (v.initrd !== undefined && !bootPath(v.initrd))) return 'protectedVm.kernelBoot has a path that is not absolute or too long'
  if (v.append !== undefined && !oneLine(v.append, MAX_BOOT_APPEND_BYTES)) return 'protectedVm.kernelBoot.append is not one line of at most 2048 bytes'
  return undefined
}

const NIC_MODES: readonly unknown[] = ['none', 'isolated', 'user', 'bridge']

/** Why `n` is not a valid stored NIC (`model`, and from newer primaries `mode`, `bridge`, `mac`), or undefined when it is. */
function invalidNic (n: unknown): string | undefined {
  if (!isObject(n) || Object.keys(n).some(k => !['model', 'mode', 'bridge', 'mac'].includes(k))) return 'a protectedVm nic is not { model, mode?, bridge?, mac? }'
  if (typeof n.model !== 'string' || !NIC_MODEL_PATTERN.test(n.model)) return 'a protectedVm nic model is invalid'
  if (n.mode !== undefined && !NIC_MODES.includes(n.mode)) return 'a protectedVm nic mode is invalid'
  if (n.bridge !== undefined && (n.mode !== 'bridge' || typeof n.bridge !== 'string' || !NIC_BRIDGE_PATTERN.test(n.bridge))) return 'a protectedVm nic bridge is invalid'
  if (n.mac !== undefined && (typeof n.mac !== 'string' || !NIC_MAC_PATTERN.test(n.mac))) return 'a protectedVm nic mac is invalid'
  return undefined
}

/** Why `v` is not a valid stored VM description (the wire's bounds), or undefined when it is. */
export function invalidProtectedVm (v: unknown): string | undefined {
  const { kernelBoot, ...rest } = isObject(v) ? v : {}
  if (!isObject(v) || !hasOnly(rest, ['name', 'driver', 'vcpus', 'memoryMiB', 'boot', 'disks', 'nics'])) return 'protectedVm is not a VM description'
  if (kernelBoot !== undefined) {
    if (v.boot !== 'kernel') return 'protectedVm.kernelBoot goes only with boot kernel'
    const why = invalidKernelBoot(kernelBoot)
    if (why !== undefined) return why
  }
  if (typeof v.name !== 'string' || !DISK_NAME_PATTERN.test(v.name)) return 'protectedVm.name is not a VM name'
  if (v.driver !== 'qemu' && v.driver !== 'manual') return 'protectedVm.driver is not qemu or manual'
  if (!isInt(v.vcpus, 1, MAX_VCPUS) || !isInt(v.memoryMiB, 1, MAX_MEMORY_MIB)) return 'protectedVm.vcpus or memoryMiB is out of range'
  if (v.boot !== null && v.boot !== 'bios' && v.boot !== 'uefi' && v.boot !== 'kernel') return 'protectedVm.boot is not bios, uefi, kernel or null'
  if (!Array.isArray(v.disks) || v.disks.length < 1 || v.disks.length > MAX_DISKS) return 'protectedVm.disks is not a list of 1 to 64'
  const names = new Set<string>()
  for (const d of v.disks as unknown[]) {
    if (!isObject(d) || !hasOnly(d, ['name', 'size', 'format'])) return 'a protectedVm disk is not { name, size, format }'
    if (typeof d.name !== 'string' || !DISK_NAME_PATTERN.test(d.name) || names.has(d.name)) return 'a protectedVm disk name is invalid or repeated'
    if (!isInt(d.size, 0, MAX_DISK_BYTES) || (d.format !== 'raw' && d.format !== 'qcow2')) return 'a protectedVm disk size or format is invalid'
    names.add(d.name)
  }
  if (!Array.isArray(v.nics) || v.nics.length > MAX_NICS) return 'protectedVm.nics is not a list of at most 16'
  for (const n of v.nics as unknown[]) {
    const why = invalidNic(n)
    if (why !== undefined) return why
  }
  return undefined
}

/** A deep copy with only the description's own fields. */
export function copyProtectedVm (v: ProtectedVm): ProtectedVm {
  const c: ProtectedVm = {
    name: v.name,
    driver: v.driver,
    vcpus: v.vcpus,
    memoryMiB: v.memoryMiB,
    boot: v.boot,
    disks: v.disks.map(d => ({ name: d.name, size: d.size, format: d.format })),
    nics: v.nics.map(copyNic)
  }
  if (v.kernelBoot !== undefined) c.kernelBoot = copyKernelBoot(v.kernelBoot)
  return c
}

function copyNic (n: ProtectedNic): ProtectedNic {
  const c: ProtectedNic = { model: n.model }
  if (n.mode !== undefined) c.mode = n.mode
  if (n.bridge !== undefined) c.bridge = n.bridge
  if (n.mac !== undefined) c.mac = n.mac
  return c
}

function copyKernelBoot (k: KernelBoot): KernelBoot {
  const c: KernelBoot = { kernel: k.kernel }
  if (k.initrd !== undefined) c.initrd = k.initrd
  if (k.append !== undefined) c.append = k.append
  return c
}
