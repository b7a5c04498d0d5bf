/**
 * Hypervisor drivers behind one interface (VmDriver): `qemu` (Tandem runs
 * the VM) and `manual` (Tandem only reads its disk files). The daemon and
 * the scheduler use VmDriver and never ask which driver a VM has; the
 * driver folders stay importable for what is specific to them.
 * Contracts: docs/vms.md.
 */
export type {
  DiskSourcesOpts, OfflineEdit, VmCapabilities, VmCycle, VmDriver, VmDriverKind, VmDriverState, VmDriverStatus, VmStartOpts, VmStopOpts
} from './vm-driver.ts'
export { QemuVmDriver, type QemuVmDriverInit } from './qemu/index.ts'
export { ManualVmDriver, type ManualVmDriverInit } from './manual/index.ts'
export type { VmDefinition, VmDisk, DiskFormat } from './qemu/index.ts'
