import { HASH_LENGTH } from '../../core/constants.ts'
import { blockCount } from '../../core/manifest.ts'
import { P2pError, P2pErrorCode } from '../errors.ts'
import type { DiskShape } from './messages.ts'
import type { ReplicaTarget } from './replica.ts'

/**
 * Whether the Replica has room for a cycle of these disks, decided on
 * `cycle-begin` before anything is allocated or staged. The shape was
 * already bounded at the boundary (MAX_DISK_BYTES, MAX_CYCLE_BLOCKS:
 * messages.ts); this applies the Replica's own limits:
 * - `maxCycleBytes`: the declared sizes of all disks added up (the
 *   operator's cap on what one peer may replicate here);
 * - the store's free space, against what the cycle writes whatever its
 *   data: its manifests, 32 bytes per block. Block data is not counted:
 *   zero and unchanged blocks take no space, so the declared size says
 *   nothing about it; a store that fills up during the cycle fails with
 *   P2P_REPLICA_FAILED and keeps its staging.
 * Throws P2P_REPLICA_NO_SPACE. Reads only `target.freeBytes` (when present).
 */
export async function checkCycleRoom (disks: DiskShape[], target: Pick<ReplicaTarget, 'freeBytes'>, maxCycleBytes: number | undefined): Promise<void> {
  const declared = disks.reduce((n, d) => n + d.size, 0)
  if (maxCycleBytes !== undefined && declared > maxCycleBytes) {
    throw new P2pError(P2pErrorCode.P2P_REPLICA_NO_SPACE, `the cycle declares ${declared} bytes of disks; this Replica takes at most ${maxCycleBytes}`)
  }
  if (target.freeBytes === undefined) return
  const manifests = disks.reduce((n, d) => n + blockCount(d.size, d.blockSize) * HASH_LENGTH, 0)
  const free = await target.freeBytes()
  if (manifests > free) {
    throw new P2pError(P2pErrorCode.P2P_REPLICA_NO_SPACE, `the cycle's manifests need ${manifests} bytes; the replica store has ${free} free`)
  }
}
