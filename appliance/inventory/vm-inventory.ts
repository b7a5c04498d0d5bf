import { checkVmDefinition, type CheckedVmDefinition } from '../drivers/qemu/vm-definition.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { damaged, isObject, readJsonFile, writeJsonFile, type JsonFileKind } from '../json-file.ts'
import { SerialQueue } from '../serial-queue.ts'

/** Which driver runs a VM: Tandem runs it under QEMU, or it runs elsewhere and Tandem only reads its disks. */
export type DriverKind = 'qemu' | 'manual'

export const DRIVER_KINDS: readonly DriverKind[] = ['qemu', 'manual']

/** A VM this box protects or holds: its driver and its checked definition. */
export interface InventoryVm {
  driver: DriverKind
  definition: CheckedVmDefinition
  /** ms since the epoch */
  addedAt: number
}

/** Largest inventory file read: a VM's entry is under 4 KiB even with 16 disks and 8 NICs; 4 MiB holds a thousand. */
export const MAX_INVENTORY_FILE_BYTES = 4 * 1024 * 1024

export const INVENTORY_FILE: JsonFileKind = { what: 'VM inventory', version: 1, maxBytes: MAX_INVENTORY_FILE_BYTES, code: AppErrorCode.APP_INVENTORY_CORRUPT }

const ENTRY_FIELDS = ['driver', 'definition', 'addedAt']

const copy = (vm: InventoryVm): InventoryVm => structuredClone(vm)

/** Checks one untrusted entry; throws APP_VM_INVALID naming the field. */
function checkEntry (v: unknown): InventoryVm {
  if (!isObject(v)) throw new AppError(AppErrorCode.APP_VM_INVALID, 'not an object')
  const extra = Object.keys(v).find(k => !ENTRY_FIELDS.includes(k))
  if (extra !== undefined) throw new AppError(AppErrorCode.APP_VM_INVALID, `unknown field ${JSON.stringify(extra.slice(0, 32))}`)
  if (typeof v.driver !== 'string' || !DRIVER_KINDS.includes(v.driver as DriverKind)) throw new AppError(AppErrorCode.APP_VM_INVALID, `driver must be one of ${DRIVER_KINDS.join(', ')}`)
  if (typeof v.addedAt !== 'number' || !Number.isSafeInteger(v.addedAt) || v.addedAt < 0) throw new AppError(AppErrorCode.APP_VM_INVALID, 'addedAt is not a time in ms')
  return { driver: v.driver as DriverKind, definition: checkVmDefinition(v.definition), addedAt: v.addedAt }
}

/** Why `vm` cannot join `vms` (a name or a disk file already taken), or undefined. */
function conflict (vms: ReadonlyMap<string, InventoryVm>, vm: InventoryVm): AppError | undefined {
  if (vms.has(vm.definition.name)) return new AppError(AppErrorCode.APP_VM_EXISTS, `a VM named ${vm.definition.name} is already in the inventory`)
  for (const other of vms.values()) {
    for (const d of vm.definition.disks) {
      if (other.definition.disks.some(o => o.path === d.path || o.sidecar === d.path || (d.sidecar !== undefined && (o.path === d.sidecar || o.sidecar === d.sidecar)))) {
        return new AppError(AppErrorCode.APP_DISK_TAKEN, `disk ${d.path} already belongs to VM ${other.definition.name}`)
      }
    }
  }
  return undefined
}

/**
 * The VMs this box knows, persisted in one small JSON file (docs/vm-inventory.md).
 * Reads are synchronous, from memory. Changes run one at a time in call
 * order and become visible only once the file holding them is durably in
 * place; a change that fails leaves memory as it was. One process (the
 * daemon) owns the file. A damaged file is APP_INVENTORY_CORRUPT and is
 * never reset.
 */
export class VmInventory {
  readonly file: string
  private vms: ReadonlyMap<string, InventoryVm>
  private readonly queue = new SerialQueue()

  private constructor (file: string, vms: ReadonlyMap<string, InventoryVm>) {
    this.file = file
    this.vms = vms
  }

  /** Loads `file`; a missing file is an empty inventory (nothing is written until the first change). */
  static async open (file: string): Promise<VmInventory> {
    const doc = await readJsonFile(file, INVENTORY_FILE)
    const vms = new Map<string, InventoryVm>()
    if (doc !== undefined) {
      if (Object.keys(doc).some(k => k !== 'vms') || !Array.isArray(doc.vms)) throw damaged(INVENTORY_FILE, file, 'expected { version, vms: [...] }')
      for (const [i, entry] of doc.vms.entries()) {
        let vm: InventoryVm
        try { vm = checkEntry(entry) } catch (err) { throw damaged(INVENTORY_FILE, file, `vms[${i}]: ${(err as Error).message}`, err) }
        const clash = conflict(vms, vm)
        if (clash !== undefined) throw damaged(INVENTORY_FILE, file, `vms[${i}]: ${clash.message}`)
        vms.set(vm.definition.name, vm)
      }
    }
    return new VmInventory(file, vms)
  }

  /** Every VM, in the order they were added. */
  list (): InventoryVm[] {
    return [...this.vms.values()].map(copy)
  }

  get (name: string): InventoryVm | undefined {
    const vm = this.vms.get(name)
    return vm === undefined ? undefined : copy(vm)
  }

  /**
   * Adds a VM. `vm` is untrusted (the API): its definition is checked
   * (APP_VM_INVALID naming the field). APP_VM_EXISTS when the name is taken,
   * APP_DISK_TAKEN when one of its disk files belongs to another VM.
   */
  async add (vm: InventoryVm): Promise<InventoryVm> {
    const checked = checkEntry(vm)
    return await this.change(vms => {
      const clash = conflict(vms, checked)
      if (clash !== undefined) throw clash
      vms.set(checked.definition.name, checked)
      return copy(checked)
    })
  }

  /** Forgets the VM `name`; false (nothing written) when there is none. Its disks and recovery points are not touched. */
  async remove (name: string): Promise<boolean> {
    return await this.change(vms => vms.delete(name), false)
  }

  /** Runs `edit` on a copy after every earlier change; writes and adopts the copy unless `edit` returned `unchanged`. */
  private async change<T> (edit: (vms: Map<string, InventoryVm>) => T, unchanged?: T): Promise<T> {
    return await this.queue.run(async () => {
      const next = new Map(this.vms)
      const result = edit(next)
      if (unchanged !== undefined && result === unchanged) return result
      await writeJsonFile(this.file, INVENTORY_FILE, { vms: [...next.values()] })
      this.vms = next
      return result
    })
  }
}
