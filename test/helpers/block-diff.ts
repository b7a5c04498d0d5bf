import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'

/** The SHA-256 of each `blockSize` block of a file: the tests' own, independent of core's hashing. */
export async function blockHashes (path: string, blockSize: number): Promise<string[]> {
  const data = await readFile(path)
  const out: string[] = []
  for (let off = 0; off < data.length; off += blockSize) out.push(createHash('sha256').update(data.subarray(off, off + blockSize)).digest('hex'))
  return out
}

/** The indices of the `blockSize` blocks where two files of the same size differ (an Error when their sizes differ). */
export async function differingBlockIndices (a: string, b: string, blockSize: number): Promise<Set<number>> {
  const [x, y] = await Promise.all([blockHashes(a, blockSize), blockHashes(b, blockSize)])
  if (x.length !== y.length) throw new Error(`${a} and ${b} differ in size`)
  return new Set(x.flatMap((h, i) => h !== y[i] ? [i] : []))
}
