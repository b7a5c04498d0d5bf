import type { Extent } from '../types.ts'
import { NBD_STATE_ZERO } from './constants.ts'

/** One extent of a meta context: [offset, offset + length) has `flags`. */
export interface NbdExtent {
  offset: number
  length: number
  flags: number
}

/**
 * Joins neighbouring extents with equal flags. Pure; expects extents in
 * order and back to back (as the client builds them), returns new objects.
 */
export function mergeExtents (extents: readonly NbdExtent[]): NbdExtent[] {
  const out: NbdExtent[] = []
  for (const e of extents) {
    const last = out[out.length - 1]
    if (last !== undefined && last.flags === e.flags && last.offset + last.length === e.offset) last.length += e.length
    else out.push({ ...e })
  }
  return out
}

/**
 * The extents of a `base:allocation` answer that may hold data: all but
 * those flagged NBD_STATE_ZERO, which the NBD protocol defines as reading
 * as all zeros. NBD_STATE_HOLE alone says nothing of the contents ("not
 * allocated": the protocol leaves such an area's contents undefined), so
 * a hole without NBD_STATE_ZERO is data here and is read. Pure; keeps
 * the order, joins neighbours.
 */
export function nonZeroExtents (extents: readonly NbdExtent[]): Extent[] {
  const out: Extent[] = []
  for (const e of extents) {
    if ((e.flags & NBD_STATE_ZERO) !== 0 || e.length === 0) continue
    const last = out.at(-1)
    if (last !== undefined && last.offset + last.length === e.offset) last.length += e.length
    else out.push({ offset: e.offset, length: e.length })
  }
  return out
}
