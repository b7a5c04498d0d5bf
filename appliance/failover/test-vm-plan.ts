/**
 * What a test failover runs on this box for a relationship (docs/failover.md
 * "Test failover"): the test VM's definition, built from what the Replica
 * holds of the protected VM (its relationship record's `protectedVm`: the
 * primary's own VM definition is not here), or why no VM can run and the
 * point is only served.
 */
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { testVmDefinition, type CheckedVmDefinition, type VmDefinition } from '../drivers/qemu/index.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { ProtectedVm } from '../relationships/protected-vm.ts'

export type TestVmPlan =
  | {
    kind: 'vm'
    /** The protected VM as this box would run it (startTestVm derives the test VM from it). */
    base: VmDefinition
    /** The test VM (`<vm>-test`): its disks are the overlays in `runDir`, its NICs isolated, with a display and a guest agent channel. */
    definition: CheckedVmDefinition
    boot: 'bios' | 'kernel'
    /** Files the VM boots (kernel, initrd): they must exist on this box (checkBootFiles). */
    bootFiles: string[]
  }
  | {
    kind: 'serve-only'
    /** Why no VM runs here, in words an operator acts on. */
    why: string
  }

/**
 * Pure. The test VM of `vm` with its run directory `runDir`, or
 * `serve-only` when this box does not know how the VM boots (a manual VM
 * that names no kernel, a description from no primary) or cannot boot it
 * (UEFI: the QEMU driver boots BIOS or a kernel). Its vCPUs, memory and NIC
 * count are the protected VM's; every NIC is `isolated` (restricted user
 * networking: no host, no outside). A guest agent channel is always added
 * (the description does not say whether the guest runs one, and a channel
 * nobody opens is harmless), so a drill may wait for the agent. Throws
 * APP_BOOT_FILE_MISSING for a kernel boot whose files the primary did not
 * send, APP_VM_INVALID when the shape is beyond what the QEMU driver runs
 * (more than 8 NICs, say).
 */
export function testVmPlan (vm: ProtectedVm | undefined, runDir: string): TestVmPlan {
  if (vm === undefined) return { kind: 'serve-only', why: 'the primary has not described the VM to this box, so it cannot run it: attach the served disks to a VM of your own' }
  if (vm.boot === null) {
    return { kind: 'serve-only', why: `Tandem does not know how ${vm.name} boots (a manual-driver VM that names no kernel): attach the served disks to a VM of your own` }
  }
  if (vm.boot === 'uefi') return { kind: 'serve-only', why: `${vm.name} boots with UEFI, which the QEMU driver does not run: attach the served disks to a VM of your own` }
  if (vm.boot === 'kernel' && vm.kernelBoot === undefined) {
    throw new AppError(AppErrorCode.APP_BOOT_FILE_MISSING, `${vm.name} boots a kernel directly, but its primary did not say which (an older Tandem, or a path longer than the relationship protocol carries): update the primary's Tandem, or shorten the path`, { details: { file: null } })
  }
  const base: VmDefinition = {
    name: vm.name,
    vcpus: vm.vcpus,
    memoryMiB: vm.memoryMiB,
    // placeholders: testVmDefinition puts each disk's overlay in runDir in their place
    disks: vm.disks.map(d => ({ name: d.name, path: join(runDir, d.name), format: d.format })),
    nics: vm.nics.map((_, i) => ({ id: `net${i}`, mode: 'isolated' })),
    guestAgent: true
  }
  const k = vm.kernelBoot
  if (vm.boot === 'kernel' && k !== undefined) {
    base.boot = { kernel: k.kernel, ...(k.initrd === undefined ? {} : { initrd: k.initrd }), ...(k.append === undefined ? {} : { append: k.append }) }
  }
  const definition = testVmDefinition(base, runDir, { network: 'isolated', display: true })
  const bootFiles = base.boot === undefined ? [] : [base.boot.kernel, ...(base.boot.initrd === undefined ? [] : [base.boot.initrd])]
  return { kind: 'vm', base, definition, boot: vm.boot, bootFiles }
}

/**
 * Checks that each file the test VM boots is a file on this box. The
 * primary's paths are used as they are: the operator copies the files to
 * the same paths (the message names the file and the copy to make).
 * APP_BOOT_FILE_MISSING otherwise.
 */
export async function checkBootFiles (vm: string, files: readonly string[]): Promise<void> {
  for (const file of files) {
    const st = await stat(file).catch(() => undefined)
    if (st?.isFile() !== true) {
      throw new AppError(AppErrorCode.APP_BOOT_FILE_MISSING, `${vm} boots ${file}, which this box does not have: copy ${file} from the primary to ${file} on this box (the same path), then try again`, { details: { file } })
    }
  }
}
