/**
 * Test fixtures shared by the suites: temporary directories, sparse images
 * with data at chosen places, whole-file hashes.
 */
import { createServer } from 'node:net'
import { Blake3Hasher } from '@napi-rs/blake-hash'
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** What a helper needs of a tap test: somewhere to register its clean-up. */
export interface Teardown { teardown: (fn: () => unknown) => void }

/** A fresh directory removed when the test ends. */
export async function tempDir (t: Teardown, prefix = 'tandem-test-'): Promise<string> {
  const dir = await mkdtemp(join(process.env.TANDEM_TEST_TMP ?? tmpdir(), prefix))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

export interface Patch {
  offset: number
  length: number
  /** Fill byte; random bytes when absent. */
  fill?: number
}

/** Creates (or resizes) a sparse file of `size` bytes. */
export async function sparseFile (path: string, size: number): Promise<void> {
  const h = await open(path, 'a')
  try { await h.truncate(size) } finally { await h.close() }
}

/** Writes patches into an existing file (random data unless `fill`). */
export async function writePatches (path: string, patches: Patch[]): Promise<void> {
  const h = await open(path, 'r+')
  try {
    for (const p of patches) {
      const data = p.fill === undefined ? randomBytes(p.length) : Buffer.alloc(p.length, p.fill)
      await h.write(data, 0, data.byteLength, p.offset)
    }
  } finally {
    await h.close()
  }
}

/** BLAKE3 of a whole file, hex. */
export async function fileHash (path: string): Promise<string> {
  const h = await open(path, 'r')
  const hasher = new Blake3Hasher()
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024)
  try {
    for (let pos = 0; ;) {
      const { bytesRead } = await h.read(buf, 0, buf.byteLength, pos)
      if (bytesRead === 0) break
      hasher.update(buf.subarray(0, bytesRead))
      pos += bytesRead
    }
  } finally {
    await h.close()
  }
  return hasher.digest('hex')
}

/** Indices of the blocks a set of patches touches. */
export function touchedBlocks (patches: Patch[], blockSize: number): Set<number> {
  const out = new Set<number>()
  for (const p of patches) {
    for (let b = Math.floor(p.offset / blockSize); b <= Math.floor((p.offset + p.length - 1) / blockSize); b++) out.add(b)
  }
  return out
}

/** Deterministic pseudo-random integers (mulberry32), so failures can be replayed from the printed seed. */
export function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The seed of a randomized test: TEST_SEED when set, else a fresh one, printed so a failure can be replayed. */
export function testSeed (t: { comment: (...args: unknown[]) => void }): number {
  const seed = Number(process.env.TEST_SEED ?? Date.now() % 1_000_000)
  t.comment(`seed ${seed} (TEST_SEED=${seed} replays it)`)
  return seed
}

/** `count` random patches of 1..maxLength bytes at unaligned offsets of a disk of `size` bytes (often across blocks). */
export function scatteredPatches (seed: number, size: number, count: number, maxLength: number): Patch[] {
  const rnd = prng(seed)
  return Array.from({ length: count }, () => ({ offset: Math.floor(rnd() * (size - maxLength)), length: 1 + Math.floor(rnd() * maxLength) }))
}

/** Flips bits of the byte at `position` of a file (XOR with `mask`): damage a test then expects to be found. */
export async function flipByte (path: string, position: number, mask = 0x40): Promise<void> {
  const h = await open(path, 'r+')
  try {
    const b = Buffer.alloc(1)
    await h.read(b, 0, 1, position)
    b[0] = b[0]! ^ mask
    await h.write(b, 0, 1, position)
  } finally {
    await h.close()
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a daemon that must listen on a known port across restarts). */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  return port
}
