import { HASH_LENGTH } from './constants.ts'
import { equalHashes } from './hash.ts'
import { blockCount } from './manifest.ts'
import type { Manifest } from './types.ts'

/**
 * The blocks of `next` that `base` does not already hold at the same index:
 * every index whose hash differs, plus every index past the end of `base`.
 * Pure. With no base every block differs. Both manifests must share a block
 * size (a TypeError otherwise: block size is fixed per store).
 *
 * A disk that grew or shrank: the old last (partial) block hashes over its old
 * length, so it differs from the new full block and is sent again; blocks
 * past the new end simply vanish (the size travels with the manifest).
 */
export function diffManifests (base: Manifest | undefined, next: Manifest): number[] {
  const count = blockCount(next.size, next.blockSize)
  if (base === undefined) return Array.from({ length: count }, (_, i) => i)
  if (base.blockSize !== next.blockSize) throw new TypeError('manifests have different block sizes')
  const shared = Math.min(count, blockCount(base.size, base.blockSize))
  const out: number[] = []
  for (let i = 0; i < shared; i++) {
    if (!equalHashes(base.hashes, i * HASH_LENGTH, next.hashes, i * HASH_LENGTH)) out.push(i)
  }
  for (let i = shared; i < count; i++) out.push(i)
  return out
}
