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
