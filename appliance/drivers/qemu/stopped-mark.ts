/**
 * Whether a qemu VM was last stopped on purpose: by the operator through
 * the daemon (`vm stop`) or by its guest powering itself off. The mark is a
 * file, `DATA/vms/<vm>/stopped`, in the qemu driver's folder of that VM, so
 * removing the VM removes it. A start that succeeded clears it.
 *
 * The daemon never starts a VM on its own, with one exception: a failover
 * VM, which a restart starts again on its overlays (docs/failover.md "After
 * a stop or a crash"). That restart asks this mark first, so a failover VM
 * the operator stopped stays stopped (a crash or a power cut leaves no mark,
 * and the VM comes back).
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export const STOPPED_MARK_FILE = 'stopped'

export function stoppedMarkFile (vmRuns: string, vm: string): string {
  return join(vmRuns, vm, STOPPED_MARK_FILE)
}

/** Marks `vm` as stopped on purpose. Idempotent; throws only when the file cannot be written. */
export async function markStopped (vmRuns: string, vm: string, reason: string): Promise<void> {
  await mkdir(join(vmRuns, vm), { recursive: true, mode: 0o700 })
  await writeFile(stoppedMarkFile(vmRuns, vm), `${reason}\n`, { mode: 0o600 })
}

/** Clears the mark. Idempotent. */
export async function clearStopped (vmRuns: string, vm: string): Promise<void> {
  await rm(stoppedMarkFile(vmRuns, vm), { force: true })
}

/** True when `vm` was last stopped on purpose. */
export async function wasStopped (vmRuns: string, vm: string): Promise<boolean> {
  try {
    return (await stat(stoppedMarkFile(vmRuns, vm))).isFile()
  } catch {
    return false
  }
}
