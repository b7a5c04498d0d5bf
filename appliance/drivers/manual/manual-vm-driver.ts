import { abortedError, throwIfAborted } from '../../../core/errors.ts'
import { AppError, AppErrorCode } from '../../errors.ts'
import { checkVmDefinition, type VmDefinition } from '../qemu/vm-definition.ts'
import type { DiskSourcesOpts, OfflineEdit, VmCapabilities, VmCycle, VmDriver, VmDriverStatus } from '../vm-driver.ts'
import { ManualDiskSource } from './manual-source.ts'

export interface ManualVmDriverInit {
  /** How often a disk's guard re-checks while a cycle reads it (MANUAL_GUARD_INTERVAL_MS by default). */
  guardIntervalMs?: number
}

const CAPABILITIES: VmCapabilities = { lifecycle: false, changeTracking: false, appConsistent: false }

/**
 * The manual driver as a VmDriver: VMs that Tandem does not run. It never
 * starts, stops or signals anything (APP_VM_NOT_MANAGED); every cycle reads
 * the disk files through ManualDiskSource (refused while another process
 * holds a disk, cut short if one takes it meanwhile) and hashes every block,
 * so there is no change tracking to distrust and no guest to quiesce.
 * Stateless: any number of instances may serve the same VMs.
 */
export class ManualVmDriver implements VmDriver {
  readonly kind = 'manual'
  private readonly guardIntervalMs: number | undefined
  private readonly created = new Date()
  private readonly cycles = new Set<string>()

  constructor (init: ManualVmDriverInit = {}) {
    this.guardIntervalMs = init.guardIntervalMs
  }

  capabilities (vm: VmDefinition): VmCapabilities {
    checkVmDefinition(vm)
    return { ...CAPABILITIES }
  }

  async start (vm: VmDefinition): Promise<VmDriverStatus> {
    throw notManaged(checkVmDefinition(vm).name, 'start')
  }

  async stop (vm: VmDefinition): Promise<VmDriverStatus> {
    throw notManaged(checkVmDefinition(vm).name, 'stop')
  }

  async status (vm: VmDefinition): Promise<VmDriverStatus> {
    const { name } = checkVmDefinition(vm)
    return { name, state: 'unmanaged', since: this.created, reason: 'Tandem does not run this VM (manual driver): it reads its disks while no process holds them' }
  }

  async adopt (vm: VmDefinition): Promise<VmDriverStatus> {
    return await this.status(vm)
  }

  /** Never resolves: Tandem does not run these VMs, so it does not see them end. */
  async exited (vm: VmDefinition): Promise<VmDriverStatus> {
    checkVmDefinition(vm)
    return await new Promise<never>(() => {})
  }

  /** Nothing to let go of: Tandem runs none of these VMs. */
  release (): void {}

  /** Nothing to check: manual disks have no change tracking; each cycle hashes every block. */
  async checkOfflineEdits (vm: VmDefinition): Promise<OfflineEdit[]> {
    checkVmDefinition(vm)
    return []
  }

  /** Always null: without change tracking nothing counts the writes between cycles (each cycle hashes every block). */
  async pendingBytes (vm: VmDefinition, signal?: AbortSignal): Promise<number | null> {
    checkVmDefinition(vm)
    throwIfAborted(signal)
    return null
  }

  async diskSources (vm: VmDefinition, opts: DiskSourcesOpts = {}): Promise<VmCycle> {
    const def = checkVmDefinition(vm)
    if (opts.signal?.aborted === true) throw abortedError(opts.signal)
    if (this.cycles.has(def.name)) throw new TypeError(`VM ${def.name} already has a cycle in progress`)
    this.cycles.add(def.name)
    let done = false
    return {
      disks: def.disks.map(d => ({ name: d.name, source: new ManualDiskSource(d.path, d.format, { intervalMs: this.guardIntervalMs }) })),
      mode: 'offline',
      consistency: 'crash',
      ...(opts.appConsistent === true ? { consistencyNote: 'Tandem does not run this VM, so it cannot quiesce the guest: crash-consistent' } : {}),
      complete: async () => {
        if (done) return
        done = true
        this.cycles.delete(def.name)
      }
    }
  }
}

function notManaged (name: string, what: string): AppError {
  return new AppError(AppErrorCode.APP_VM_NOT_MANAGED, `Tandem does not run VM ${name} (manual driver), so it cannot ${what} it`, { details: { name } })
}
