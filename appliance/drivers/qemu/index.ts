/**
 * The QEMU driver: VM definitions and their checks, the QEMU command line,
 * starting, stopping and watching QEMU, booting a recovery point (from an
 * image, or as a test VM on NBD-backed overlays); under it, qmp/ (the QMP
 * and guest agent clients, the accelerator probe), tracking/ (dirty
 * bitmaps, fleece views, app-consistent freezes) and drill/ (sign of life,
 * screenshot). Contracts, timeouts and error codes: docs/vms.md,
 * docs/failover.md.
 */
export { checkVmDefinition, defaultDiskNode, type CheckedVmDefinition, type DiskFormat, type NicMode, type VmBoot, type VmDefinition, type VmDisk, type VmNic } from './vm-definition.ts'
export { buildQemuArgs, diskDeviceId, vmRunPaths, GUEST_AGENT_PORT, type Accel, type QemuArgsOptions, type VmRunPaths } from './qemu-args.ts'
export { QemuDriver, type QemuDriverInit, type VmAdoptOptions, type VmStartOptions, type VmState, type VmStatus, type VmStopOptions } from './qemu-driver.ts'
export { QemuVmDriver, type QemuVmDriverInit } from './qemu-vm-driver.ts'
export { bootRecoveryPoint, OVERLAY_FILE, type BootedRecoveryPoint, type BootRecoveryPointInit } from './boot-point.ts'
export { cancelStreams, disksStandalone, streamDisks, streamJobId, STREAM_POLL_MS, TIMEOUT_STREAM_CANCEL_MS, type StreamOptions } from './disk-stream.ts'
export { createNbdOverlay, nbdReconnectingBacking, nbdUnixUri, type NbdDiskBacking } from './nbd-overlay.ts'
export { startTestVm, stopTestVm, testVmDefinition, testVmOverlay, type TestVm, type TestVmInit, type TestVmShape } from './test-vm.ts'
export { drillTestVm, compileSerialPattern, DEFAULT_SIGN_OF_LIFE_TIMEOUT_MS, type DrillDriver, type DrillOptions, type DrillResult, type DrillSign, type DrillTarget } from './drill/index.ts'
export {
  MAX_VM_DISKS, MAX_VM_MEMORY_MIB, MAX_VM_NICS, MAX_VM_VCPUS, MIN_VM_MEMORY_MIB, TEST_VM_STOP_WINDOW_MS,
  TIMEOUT_VM_KILL_MS, TIMEOUT_VM_QUIT_MS, TIMEOUT_VM_START_MS, TIMEOUT_VM_STOP_MS
} from './constants.ts'
export { clearStopped, markStopped, stoppedMarkFile, wasStopped, STOPPED_MARK_FILE } from './stopped-mark.ts'
