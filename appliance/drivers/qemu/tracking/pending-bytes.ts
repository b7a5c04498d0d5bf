import type { NamedNode, QmpExecutor } from './live-disk.ts'
import { loadTrackingState, type TrackingState } from './tracking-state.ts'

/**
 * The status figure waits this long for QEMU: `query-named-block-nodes`
 * answers in milliseconds, and a status request must not hang on a busy
 * or stuck QEMU (past it the figure is unknown, not an error).
 */
export const TIMEOUT_PENDING_QUERY_MS = 5_000

/** The bitmaps change tracking records with (live-disk.ts): `tandem-<generation>`, not the fleece nodes. */
const TRACKING_BITMAP = /^tandem-[0-9]{1,15}$/

/** One tracked disk of a running QEMU: its block node and its tracking state file (live-disk.ts). */
export interface TrackedDisk {
  node: string
  stateFile: string
}

/**
 * Pure: the bytes written to one disk since its last replicated point, as
 * its dirty bitmaps count them, or null when tracking cannot vouch for
 * them (the next point is untracked and compares every block: no state or
 * no trusted bitmap yet, no cycle succeeded since tracking started, an
 * offline edit, an untracked point in flight, a resized disk, a bitmap
 * missing, inconsistent or not recording).
 *
 * The sum of the `count` (dirty bytes) of every `tandem-*` bitmap on the
 * node: between a point's transaction and its `complete`, that is the
 * disabled bitmap (changes up to the point, not yet committed on the
 * Replica) plus the recording one (changes since). An upper bound: whole
 * granules count, a block written on both sides of a point counts twice,
 * and a write of identical data counts.
 *
 * `node` must come from a query made before `state` was read: the state
 * file is written before each QEMU step (docs/change-tracking.md), so the
 * state is then never older than the bitmaps it names. A cycle that ends
 * between the two reads can give null once; never a count too small.
 */
export function diskPendingBytes (state: TrackingState | undefined, node: NamedNode | undefined): number | null {
  if (state === undefined || node === undefined) return null
  if (state.bitmap === null || state.baseRoot === null || state.distrust !== undefined) return null
  if (state.pending !== null && !state.pending.tracked) return null
  if (node.image['virtual-size'] !== state.size) return null
  const ours = (node['dirty-bitmaps'] ?? []).filter(b => b.name !== undefined && TRACKING_BITMAP.test(b.name))
  if (ours.some(b => b.inconsistent === true || typeof b.count !== 'number' || b.count < 0)) return null
  const current = ours.find(b => b.name === state.bitmap)
  if (state.pending === null) {
    if (current?.recording !== true) return null
  } else if (current === undefined && !ours.some(b => b.name === state.pending!.next)) {
    return null
  }
  return ours.reduce((n, b) => n + b.count!, 0)
}

/**
 * The bytes written to `disks` since their last replicated points (the sum
 * of diskPendingBytes), or null when any disk cannot tell. One QMP query
 * for all the disks, then their state files. Rejects when the query fails
 * or a state file is damaged (APP_STATE_CORRUPT); CORE_ABORTED when
 * `signal` aborts.
 */
export async function pendingBytes (qmp: QmpExecutor, disks: readonly TrackedDisk[], signal?: AbortSignal): Promise<number | null> {
  const nodes = await qmp.execute<NamedNode[]>('query-named-block-nodes', { flat: true }, { timeoutMs: TIMEOUT_PENDING_QUERY_MS, signal })
  let sum = 0
  for (const d of disks) {
    const bytes = diskPendingBytes(await loadTrackingState(d.stateFile), nodes.find(n => n['node-name'] === d.node))
    if (bytes === null) return null
    sum += bytes
  }
  return sum
}
