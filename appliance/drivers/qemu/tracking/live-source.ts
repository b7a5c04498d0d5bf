import type { DiskSource, DiskView } from '../../../../core/disk-view/index.ts'
import { NbdClient } from '../../../../core/nbd/index.ts'
import type { Extent } from '../../../../core/types.ts'
import type { LivePoint } from './live-disk.ts'

/** Bit 0 of a `qemu:dirty-bitmap:` extent's flags: the extent was written. */
const NBD_STATE_DIRTY = 1

/**
 * A live point's NBD export as core's DiskSource: reads go to the
 * point-in-time view; `changedSince(baseRoot)` answers with the dirty
 * extents of the point's bitmap when the point is tracked relative to that
 * very base, and otherwise with the reason (the scan then hashes every block).
 * Counts the bytes read, for reports and benchmarks.
 */
export class LivePointSource implements DiskSource {
  readonly description: string
  readonly point: LivePoint
  /** Bytes read from the export by every view of this source. */
  bytesRead = 0

  constructor (point: LivePoint) {
    this.point = point
    this.description = `NBD export ${point.exportName} on ${point.socketPath}`
  }

  async open (signal?: AbortSignal): Promise<DiskView> {
    const { point } = this
    const client = await NbdClient.connect({
      socketPath: point.socketPath,
      exportName: point.exportName,
      metaContexts: point.tracking === undefined ? [] : [point.tracking.context],
      signal
    })
    const size = client.size
    return {
      size,
      read: async (offset, length, into, readSignal) => {
        if (offset < 0 || length < 0 || offset + length > size || length > into.byteLength) throw new TypeError(`read of ${length} bytes at ${offset} is outside the disk or buffer`)
        await client.read(offset, length, into.subarray(0, length), readSignal)
        this.bytesRead += length
      },
      changedSince: async (baseRoot, csSignal) => {
        const tracking = point.tracking
        if (tracking === undefined) return { untracked: point.untrackedReason ?? 'the point has no change tracking' }
        if (tracking.baseRoot !== baseRoot) return { untracked: 'change tracking is relative to another point than the base' }
        if (!client.metaContexts.has(tracking.context)) return { untracked: `QEMU does not export ${tracking.context}` }
        const extents: Extent[] = []
        for (const e of await client.blockStatus(tracking.context, 0, size, csSignal)) {
          if ((e.flags & NBD_STATE_DIRTY) !== 0) extents.push({ offset: e.offset, length: e.length })
        }
        return extents
      },
      close: async () => { await client.close() }
    }
  }
}
