/**
 * What an unplanned failover makes of a protected VM on this box
 * (docs/failover.md "Unplanned failover"): the VM itself, under this box's
 * QEMU, on qcow2 overlays over the served point, with the primary's NICs
 * where this box can give them; or, when this box cannot run it, raw files
 * of the point for a hypervisor of the operator's own. Pure, but for
 * hostBridges (host-bridges.ts), which the caller asks.
 */
import { join } from 'node:path'
import { checkVmDefinition, MAX_VM_MEMORY_MIB, MAX_VM_VCPUS, MIN_VM_MEMORY_MIB, type CheckedVmDefinition, type VmNic } from '../drivers/qemu/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { ProtectedNic, ProtectedVm } from '../relationships/protected-vm.ts'
import type { FailoverKind, FailoverNicInfo } from '../service/index.ts'

export interface FailoverPlan {
  kind: FailoverKind
  /**
   * `vm`: the VM as the qemu driver runs it, named as the protected VM, its
   * disks `<vmDir>/<disk>.qcow2` (the overlays, which become its own disks
   * at complete). `files`: the VM as the inventory lists it (driver manual),
   * its disks `<filesDir>/<disk>.raw`.
   */
  definition: CheckedVmDefinition
  boot: 'bios' | 'kernel' | null
  /** Files the VM boots (kernel, initrd): they must be on this box (checkBootFiles). */
  bootFiles: string[]
  nics: FailoverNicInfo[]
  /** Why no VM runs (`files`), or null. */
  note: string | null
}

/** The overlay of disk `disk`: in the VM's own folder of the qemu driver, where it stays once the failover is completed. */
export function failoverOverlay (vmDir: string, disk: string): string {
  return join(vmDir, `${disk}.qcow2`)
}

/** The raw file of disk `disk` of a failover that runs no VM. */
export function failoverRawFile (filesDir: string, disk: string): string {
  return join(filesDir, `${disk}.raw`)
}

/**
 * Pure. The NICs of the failover VM: the primary's mode and MAC where this
 * box can give them. `bridge` with a bridge of the same name here (in
 * `bridges`) stays a bridge; a bridge this box lacks, or a NIC whose mode
 * the primary did not say (an older Tandem), is put on an `isolated`
 * network instead, with a warning: the guest keeps its NIC (and MAC), so
 * its set-up still finds it, but reaches no host and no outside until the
 * operator gives it a network (safer than a NAT to the outside the VM
 * never had). `user` and `isolated` exist on every box; `none` stays none.
 */
export function failoverNics (nics: readonly ProtectedNic[], bridges: ReadonlySet<string>): FailoverNicInfo[] {
  return nics.map((n, i) => {
    const id = `net${i}`
    const mac = n.mac ?? null
    const isolated = (warning: string): FailoverNicInfo => ({ id, mode: 'isolated', bridge: null, mac, warning })
    if (n.mode === undefined) return isolated(`the primary did not say how NIC ${id} is connected (an older Tandem): it is on an isolated network (no host, no outside)`)
    if (n.mode === 'bridge') {
      const bridge = n.bridge ?? ''
      if (!bridges.has(bridge)) return isolated(`NIC ${id} is on bridge ${bridge} on the primary, which this box does not have: it is on an isolated network (no host, no outside) instead; add the bridge and restart the VM to connect it`)
      return { id, mode: 'bridge', bridge, mac, warning: null }
    }
    return { id, mode: n.mode, bridge: null, mac, warning: null }
  })
}

const clamp = (v: number, min: number, max: number): number => Math.min(max, Math.max(min, v))

/**
 * Pure. The failover of `vm` (the relationship's record of it; undefined
 * when its primary never described it) from a point with disks
 * `pointDisks`. `vm` when this box can boot the VM (as a test failover:
 * BIOS, or a kernel the primary named), `files` otherwise (the point's
 * disks, in its order). Throws
 * APP_BOOT_FILE_MISSING (a kernel boot the primary did not name),
 * APP_VM_INVALID (a shape the QEMU driver does not run: more than 8 NICs,
 * a disk of the VM that the point does not hold...).
 */
export function failoverPlan (vm: ProtectedVm | undefined, vmName: string, pointDisks: ReadonlyArray<{ name: string }>, where: { vmDir: string, filesDir: string }, bridges: ReadonlySet<string>): FailoverPlan {
  const note = vm === undefined
    ? 'the primary has not described the VM to this box, so it cannot run it: attach the files to a VM of your own'
    : vm.boot === null
      ? `Tandem does not know how ${vm.name} boots (a manual-driver VM that names no kernel): attach the files to a VM of your own`
      : vm.boot === 'uefi' ? `${vm.name} boots with UEFI, which the QEMU driver does not run: attach the files to a VM of your own` : null
  if (vm === undefined || note !== null) {
    const definition = checkVmDefinition({
      name: vmName,
      vcpus: clamp(vm?.vcpus ?? 1, 1, MAX_VM_VCPUS),
      memoryMiB: clamp(vm?.memoryMiB ?? MIN_VM_MEMORY_MIB, MIN_VM_MEMORY_MIB, MAX_VM_MEMORY_MIB),
      disks: pointDisks.map(d => ({ name: d.name, path: failoverRawFile(where.filesDir, d.name), format: 'raw' })),
      nics: [],
      guestAgent: false
    })
    return { kind: 'files', definition, boot: null, bootFiles: [], nics: [], note }
  }
  const k = vm.kernelBoot
  if (vm.boot === 'kernel' && k === undefined) {
    throw new AppError(AppErrorCode.APP_BOOT_FILE_MISSING, `${vm.name} boots a kernel directly, but its primary did not say which (an older Tandem, or a path longer than the relationship protocol carries): update the primary's Tandem, or shorten the path`, { details: { file: null } })
  }
  const held = new Set(pointDisks.map(d => d.name))
  const missing = vm.disks.find(d => !held.has(d.name))
  if (missing !== undefined) throw new AppError(AppErrorCode.APP_VM_INVALID, `VM definition: disk ${missing.name} of ${vm.name} is not in the recovery point`, { details: { field: `disks.${missing.name}` } })
  const nics = failoverNics(vm.nics, bridges)
  const boot = k === undefined ? undefined : { kernel: k.kernel, ...(k.initrd === undefined ? {} : { initrd: k.initrd }), ...(k.append === undefined ? {} : { append: k.append }) }
  const definition = checkVmDefinition({
    name: vm.name,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    disks: vm.disks.map(d => ({ name: d.name, path: failoverOverlay(where.vmDir, d.name), format: 'qcow2' })),
    nics: nics.map((n): VmNic => ({ id: n.id, mode: n.mode as VmNic['mode'], ...(n.bridge === null ? {} : { bridge: n.bridge }), ...(n.mac === null ? {} : { mac: n.mac }) })),
    // as the test VM: the description does not say whether the guest runs an agent, and a channel nobody opens is harmless
    guestAgent: true,
    // a screen for the operator's screenshots; the VM's own display, if any, is not part of the description
    display: true,
    ...(boot === undefined ? {} : { boot })
  })
  const bootFiles = boot === undefined ? [] : [boot.kernel, ...(boot.initrd === undefined ? [] : [boot.initrd])]
  return { kind: 'vm', definition, boot: boot === undefined ? 'bios' : 'kernel', bootFiles, nics, note: null }
}
