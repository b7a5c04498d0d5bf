import type { VmAddRequest, VmInfo, VmRemoveResult, VmStopRequest } from './vm-types.ts'

/**
 * The VMs of a box (docs/vms.md "Through the daemon"): the inventory and
 * what the drivers say of each VM. Every method may be called concurrently;
 * changes to one VM run one at a time.
 */
export interface VmApi {
  /**
   * Adds a VM to the inventory; resolves with it as `vmList` shows it. Each
   * disk must be an existing regular file or block device (APP_DISK_NOT_FOUND),
   * raw or qcow2 (probed: APP_DISK_FORMAT_UNSUPPORTED), and no other VM's
   * (APP_DISK_TAKEN); the name is free (APP_VM_EXISTS); the definition is
   * checked (APP_VM_INVALID naming the field). Never writes to a disk.
   */
  vmAdd: (request: VmAddRequest) => Promise<VmInfo>
  /** Every VM, in the order they were added. */
  vmList: () => Promise<VmInfo[]>
  /** Starts a qemu VM (APP_VM_NOT_MANAGED for manual, APP_VM_ALREADY_RUNNING, APP_VM_START_FAILED). */
  vmStart: (name: string) => Promise<VmInfo>
  /**
   * Stops a qemu VM: asks the guest to shut down; a guest still running
   * after the window is refused (APP_VM_STOP_TIMEOUT, it keeps running)
   * unless `force`. A VM that does not run is a no-op.
   */
  vmStop: (name: string, request?: VmStopRequest) => Promise<VmInfo>
  /**
   * Forgets a VM; never touches its disks. Refused while it runs under the
   * qemu driver (APP_VM_RUNNING) or a relationship protects it (APP_VM_PROTECTED).
   */
  vmRemove: (name: string) => Promise<VmRemoveResult>
}
