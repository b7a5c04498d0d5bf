/**
 * The manual driver: disk images of VMs that Tandem does not run. It reads
 * them only while no other process holds them open for writing, and hashes
 * them whole each cycle. Contracts and error codes: docs/vms.md.
 */
export { diskInUse, openManualDisk, type DiskUse, type ManualDiskGuard } from './manual-driver.ts'
export { ManualDiskSource } from './manual-source.ts'
export { ManualVmDriver, type ManualVmDriverInit } from './manual-vm-driver.ts'
export { MANUAL_GUARD_INTERVAL_MS } from './constants.ts'
