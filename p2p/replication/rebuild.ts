import { HASH_LENGTH } from '../../core/constants.ts'
import { equalHashes, zeroHash } from '../../core/hash.ts'
import { blockCount, blockLength } from '../../core/manifest.ts'
import type { Manifest } from '../../core/types.ts'

type Shape = Pick<Manifest, 'size' | 'blockSize'>

/**
 * What the Replica assumes about a block no entry names: the base's hash at
 * the same index when that block has the same length there, otherwise zeros
 * (a grown disk's new blocks, a block whose length changed). The sender
 * sends every block that differs from this assumption, so both sides build
 * the same manifest; the announced root checks it. Pure.
 */
export function assumedManifest (base: Manifest | undefined, shape: Shape): Manifest {
  const count = blockCount(shape.size, shape.blockSize)
  const hashes = new Uint8Array(count * HASH_LENGTH)
  for (let i = 0; i < count; i++) {
    hashes.set(keepsBase(base, shape, i) ? base!.hashes.subarray(i * HASH_LENGTH, (i + 1) * HASH_LENGTH) : zeroHash(blockLength(shape, i)), i * HASH_LENGTH)
  }
  return { size: shape.size, blockSize: shape.blockSize, hashes }
}

/** True when the Replica assumes block `index` of a disk of `shape` to be zeros (a zero block there needs no entry). */
export function assumesZero (base: Manifest | undefined, shape: Shape, index: number): boolean {
  if (!keepsBase(base, shape, index)) return true
  return equalHashes(base!.hashes, index * HASH_LENGTH, zeroHash(blockLength(shape, index)), 0)
}

function keepsBase (base: Manifest | undefined, shape: Shape, index: number): boolean {
  return base !== undefined && base.blockSize === shape.blockSize &&
    index < blockCount(base.size, base.blockSize) && blockLength(base, index) === blockLength(shape, index)
}
