import { diffManifests } from './diff.ts'
import { blockLength, isZeroBlock } from './manifest.ts'
import type { Manifest } from './types.ts'

export interface ResyncPlan {
  /** Non-zero blocks of `local` whose data the other side must receive (ascending). */
  send: number[]
  /** Blocks the other side must turn into zeros: no data travels for them. */
  zero: number[]
  /** Bytes of block data to send before compression. */
  bytes: number
  /** The other side's disk must be resized to local.size. */
  resize: boolean
}

/**
 * The resync primitive: given the block manifest of the other side's copy,
 * which of our blocks must travel so that the copy equals ours. Serves
 * initial replication from an existing copy, resync after a crash and
 * reverse replication. Pure. `remote` undefined means the other side has
 * nothing (every block travels).
 */
export function planResync (local: Manifest, remote: Manifest | undefined): ResyncPlan {
  if (remote !== undefined && remote.blockSize !== local.blockSize) throw new TypeError('both sides must use the same block size')
  const differing = diffManifests(remote, local)
  const send: number[] = []
  const zero: number[] = []
  let bytes = 0
  for (const i of differing) {
    if (isZeroBlock(local, i)) {
      zero.push(i)
    } else {
      send.push(i)
      bytes += blockLength(local, i)
    }
  }
  return { send, zero, bytes, resize: remote === undefined || remote.size !== local.size }
}
