import { rm } from 'node:fs/promises'
import { qemuImg } from './qemu-img.ts'
import { saveTrackingState } from './tracking-state.ts'

/**
 * The bitmap of a disk whose tracking starts at a known point: generation
 * 0 (tracking-state.ts names: tandem-<generation>), so the driver's first
 * point adds tandem-1 whether or not the state below was written.
 */
export const POINT_BITMAP = 'tandem-0'

/**
 * Starts change tracking of a qcow2 disk that no QEMU has open, from a
 * point whose disk manifest has root `root`: the disk must read as that
 * point now (a failover VM's fresh overlay over the served point:
 * docs/failover.md "Delta failback"). Adds the persistent dirty bitmap
 * POINT_BITMAP offline (`qemu-img bitmap --add`, granularity `granularity`:
 * Tandem's block size) and then writes the tracking state naming it and
 * `root`, so that QEMU, opening the disk later, records every write from
 * its first on, and the driver's first point is tracked relative to `root`
 * under its usual trust rules (docs/change-tracking.md "When tracking is
 * not trusted": a bitmap missing, inconsistent after a crash, not
 * recording).
 *
 * The state is removed first and written last: a failure in between leaves
 * no state (the first point then compares by hash), never a state whose
 * bitmap could miss a write; the bitmap is then removed again, as far as
 * that works (a stray one would only make pending bytes an overestimate). The caller must not start QEMU on the disk
 * before this resolves. APP_QEMU_IMG_FAILED (e.g. a bitmap of that name
 * exists already: the disk is not fresh), CORE_ABORTED.
 */
export async function trackFromPoint (disk: { image: string, stateFile: string, size: number, root: string }, granularity: number, signal?: AbortSignal): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(disk.root)) throw new TypeError('root must be 64 hex digits')
  await rm(disk.stateFile, { force: true })
  await qemuImg(['bitmap', '--add', '-g', String(granularity), '-f', 'qcow2', disk.image, POINT_BITMAP], signal)
  try {
    await saveTrackingState(disk.stateFile, { version: 1, size: disk.size, bitmap: POINT_BITMAP, baseRoot: disk.root, generation: 0, pending: null })
  } catch (err) {
    await qemuImg(['bitmap', '--remove', '-f', 'qcow2', disk.image, POINT_BITMAP]).catch(() => undefined)
    throw err
  }
}
