import { stat } from 'node:fs/promises'
import { loadTrackingState, saveTrackingState } from './tracking-state.ts'

/**
 * Catches writes to a raw disk made while no QEMU had it open (an offline
 * edit with a tool that bypasses its qcow2 sidecar, so its dirty bitmap never
 * saw them). Call it before QEMU opens the disk. QEMU writes the sidecar
 * last when it closes the disk (it stores the bitmaps after the final
 * flush), so at rest the sidecar is newer than the raw data; a raw file
 * modified at or after its sidecar's time may have been written by someone
 * else (times are coarse: a tie counts as an edit). Then the
 * tracking state is marked distrusted with the reason, and the next point
 * compares every block by hash (docs/design.md invariant 3).
 *
 * Resolves to the reason when it distrusted tracking, else undefined. A
 * disk with no tracking state yet needs no check (its first cycle hashes
 * everything). Limits: a tool that resets the raw file's mtime, or edits
 * within the timestamp's granularity of QEMU's close, is not seen.
 */
export async function checkOfflineEdits (disk: { raw: string, sidecar: string }, stateFile: string): Promise<string | undefined> {
  const state = await loadTrackingState(stateFile)
  if (state === undefined || state.bitmap === null || state.distrust !== undefined) return undefined
  const [raw, sidecar] = await Promise.all([stat(disk.raw, { bigint: true }), stat(disk.sidecar, { bigint: true })])
  // Strictly older only: file times are coarse (a kernel tick), so an edit right after QEMU closed the disk can carry the sidecar's very time. A tie is doubt, and doubt compares hashes.
  if (raw.mtimeNs < sidecar.mtimeNs && raw.size === BigInt(state.size)) return undefined
  const reason = raw.size !== BigInt(state.size)
    ? `${disk.raw} was resized while no QEMU had it open`
    : `${disk.raw} was written while no QEMU had it open (edited offline)`
  await saveTrackingState(stateFile, { ...state, distrust: reason })
  return reason
}
