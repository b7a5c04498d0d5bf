/**
 * The blocks that differ between two raw disk images of the same size, for
 * the failback figure of `npm run bench:failover` (docs/benchmarks.md):
 * what a delta failback has to send at least. Independent of core's
 * scanner: the bench's own reading and hashing.
 *
 * Only the blocks that hold data in either file are read: `qemu-img map`
 * lists a raw file's data extents (SEEK_DATA), and a block that is a hole
 * in both files reads as zeros in both. A 20 GiB disk with 2 GiB of data
 * costs a read of its data, not of 20 GiB.
 */
import { createHash } from 'node:crypto'
import { open, stat } from 'node:fs/promises'
import { runTool } from './measure.ts'

/** The block size of the comparison: core's (docs/store-format.md), so blocks here are the blocks a cycle sends. */
export const DIFF_BLOCK_BYTES = 64 * 1024
/** Bytes read at a time: whole blocks. */
const READ_BYTES = 64 * DIFF_BLOCK_BYTES

interface Extent { start: number, length: number, data: boolean }

/** The indexes of the blocks of `path` (a raw file) that hold data, by `qemu-img map`. */
async function dataBlocks (path: string): Promise<Set<number>> {
  const map = JSON.parse((await runTool('qemu-img', ['map', '--output=json', '-f', 'raw', '-U', path])).stdout) as Extent[]
  const blocks = new Set<number>()
  for (const e of map) {
    if (!e.data) continue
    for (let b = Math.floor(e.start / DIFF_BLOCK_BYTES); b * DIFF_BLOCK_BYTES < e.start + e.length; b++) blocks.add(b)
  }
  return blocks
}

/** Runs of consecutive block indexes, at most READ_BYTES long, in order. */
function runs (blocks: Set<number>): Array<{ first: number, count: number }> {
  const sorted = [...blocks].sort((x, y) => x - y)
  const out: Array<{ first: number, count: number }> = []
  const most = READ_BYTES / DIFF_BLOCK_BYTES
  for (const b of sorted) {
    const last = out.at(-1)
    if (last !== undefined && last.first + last.count === b && last.count < most) last.count++
    else out.push({ first: b, count: 1 })
  }
  return out
}

const digest = (buf: Buffer): string => createHash('sha256').update(buf).digest('hex')

/**
 * How many DIFF_BLOCK_BYTES blocks differ between raw files `a` and `b`
 * (their SHA-256 compared, block by block), and how many were compared.
 * Throws when the sizes differ. Neither file may change meanwhile.
 */
export async function differingBlocks (a: string, b: string): Promise<{ differing: number, compared: number }> {
  const [sa, sb] = await Promise.all([stat(a), stat(b)])
  if (sa.size !== sb.size) throw new Error(`${a} (${sa.size} bytes) and ${b} (${sb.size} bytes) differ in size`)
  const wanted = new Set([...await dataBlocks(a), ...await dataBlocks(b)])
  const [ha, hb] = await Promise.all([open(a, 'r'), open(b, 'r')])
  const ba = Buffer.alloc(READ_BYTES)
  const bb = Buffer.alloc(READ_BYTES)
  let differing = 0
  try {
    for (const r of runs(wanted)) {
      const bytes = Math.min(r.count * DIFF_BLOCK_BYTES, sa.size - r.first * DIFF_BLOCK_BYTES)
      const at = r.first * DIFF_BLOCK_BYTES
      // a short read (the file's end) leaves zeros, as the missing bytes of a block would read in a disk
      ba.fill(0, 0, bytes)
      bb.fill(0, 0, bytes)
      await Promise.all([ha.read(ba, 0, bytes, at), hb.read(bb, 0, bytes, at)])
      for (let off = 0; off < bytes; off += DIFF_BLOCK_BYTES) {
        const end = Math.min(off + DIFF_BLOCK_BYTES, bytes)
        if (digest(ba.subarray(off, end)) !== digest(bb.subarray(off, end))) differing++
      }
    }
  } finally {
    await Promise.all([ha.close(), hb.close()])
  }
  return { differing, compared: wanted.size }
}
