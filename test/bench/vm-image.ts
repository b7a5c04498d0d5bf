/**
 * A VM-like disk image for the benchmarks: MiB-sized regions of zeros,
 * random data (encrypted or already-compressed files) and compressible data
 * (log-like text, database-like record pages, executable code), interleaved.
 *
 * No two non-zero 4 KiB pages are equal, so no block of any size from 4 KiB
 * up is a copy of another and the store's dedup cannot flatter the figures:
 * random regions come from the CSPRNG; each page of a compressible region
 * is a slice of a pool taken at a pseudo-random place and stamped with its
 * own disk offset (like the headers filesystems and databases put in pages).
 * Zero regions are zero blocks, which the engine handles without storing.
 *
 * The layout and compressible content are deterministic for a seed; the
 * random regions are not (they need not be).
 */
import { randomFillSync } from 'node:crypto'
import { openSync, readSync, closeSync, fstatSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { prng } from '../helpers/fixtures.ts'
import { MIB } from './measure.ts'

export type RegionKind = 'zero' | 'random' | 'text' | 'records' | 'code'

export interface Region {
  offset: number
  length: number
  kind: RegionKind
}

/** Share of the image's bytes per kind: 30% zeros, 35% random, 35% compressible. */
export const IMAGE_MIX: Readonly<Record<RegionKind, number>> = {
  zero: 0.30,
  random: 0.35,
  text: 0.35 / 3,
  records: 0.35 / 3,
  code: 0.35 / 3
}

export const KINDS = Object.keys(IMAGE_MIX) as RegionKind[]

const PAGE = 4096
/** Largest region, MiB. Lengths are 1..MAX, biased towards small ones. */
const MAX_REGION_MIB = 16
/** Bytes generated per write. */
export const CHUNK_BYTES = 16 * MIB

/**
 * Cuts `size` bytes (a whole number of MiB) into regions whose kinds add up
 * to IMAGE_MIX, in a shuffled order. Regions are MiB-aligned, so any block
 * size up to 1 MiB sees one kind per block.
 */
export function planRegions (size: number, seed: number): Region[] {
  if (size <= 0 || size % MIB !== 0) throw new TypeError('image size must be a positive whole number of MiB')
  const rng = prng(seed)
  const totalMib = size / MIB
  const quota = new Map<RegionKind, number>()
  for (const k of KINDS) quota.set(k, Math.floor(totalMib * IMAGE_MIX[k]))
  quota.set('zero', quota.get('zero')! + totalMib - [...quota.values()].reduce((a, b) => a + b, 0))
  const regions: Region[] = []
  let offset = 0
  while (offset < size) {
    const left = [...quota].filter(([, q]) => q > 0)
    const total = left.reduce((n, [, q]) => n + q, 0)
    let pick = rng() * total
    let kind = left[0]![0]
    for (const [k, q] of left) { if (pick < q) { kind = k; break } pick -= q }
    const want = 1 + Math.floor(MAX_REGION_MIB * rng() ** 2)
    const mib = Math.min(want, quota.get(kind)!)
    quota.set(kind, quota.get(kind)! - mib)
    const last = regions.at(-1)
    if (last?.kind === kind) last.length += mib * MIB
    else regions.push({ offset, length: mib * MIB, kind })
    offset += mib * MIB
  }
  return regions
}

/** Bytes per kind of a layout. */
export function bytesByKind (regions: Region[]): Record<RegionKind, number> {
  const out = Object.fromEntries(KINDS.map(k => [k, 0])) as Record<RegionKind, number>
  for (const r of regions) out[r.kind] += r.length
  return out
}

/** Pools the compressible regions draw their pages from. */
export interface ContentPools {
  seed: number
  text: Buffer
  code: Buffer
  words: string[]
}

/** Builds the pools (a few MiB): log-like text, and code from the node binary. */
export function makePools (seed: number): ContentPools {
  const rng = prng(seed ^ 0x5eed)
  const words = vocabulary(rng, 3000)
  const text = logText(rng, words, 4 * MIB)
  const code = executableSlices(rng, 8 * MIB)
  return { seed, text, code, words }
}

/**
 * Fills `buf` with the content of `region` at disk offset `offset`
 * (a multiple of 4 KiB inside the region; `buf` a multiple of 4 KiB).
 */
export function fillChunk (pools: ContentPools, kind: RegionKind, offset: number, buf: Buffer): void {
  switch (kind) {
    case 'zero': buf.fill(0); return
    case 'random': randomFillSync(buf); return
    case 'text': pages(buf, offset, (page, at) => slicePage(pools.text, pools.seed, at, page, true)); return
    case 'code': pages(buf, offset, (page, at) => slicePage(pools.code, pools.seed, at, page, false)); return
    case 'records': pages(buf, offset, (page, at) => recordPage(pools, at, page)); return
  }
}

/** Writes a whole image file, fully allocated (zero regions are written too), and fsyncs it. */
export async function writeImage (path: string, regions: Region[], pools: ContentPools): Promise<void> {
  const h = await open(path, 'w')
  const buf = Buffer.allocUnsafe(CHUNK_BYTES)
  try {
    for (const r of regions) {
      for (let at = r.offset; at < r.offset + r.length; at += CHUNK_BYTES) {
        const chunk = buf.subarray(0, Math.min(CHUNK_BYTES, r.offset + r.length - at))
        fillChunk(pools, r.kind, at, chunk)
        await h.write(chunk, 0, chunk.byteLength, at)
      }
    }
    await h.datasync()
  } finally {
    await h.close()
  }
}

/** Streams an image's content chunk by chunk without a file (a fresh buffer each time). */
export function * imageChunks (regions: Region[], pools: ContentPools, chunkBytes = CHUNK_BYTES): Generator<{ offset: number, kind: RegionKind, data: Buffer }> {
  for (const r of regions) {
    for (let at = r.offset; at < r.offset + r.length; at += chunkBytes) {
      const data = Buffer.allocUnsafe(Math.min(chunkBytes, r.offset + r.length - at))
      fillChunk(pools, r.kind, at, data)
      yield { offset: at, kind: r.kind, data }
    }
  }
}

/**
 * Rewrites `count` distinct blocks of `blockSize` at random block-aligned
 * offsets with fresh random data, fsyncs, and returns their indices (ascending).
 */
export async function rewriteBlocks (path: string, size: number, blockSize: number, count: number, rng: () => number): Promise<number[]> {
  const blocks = Math.floor(size / blockSize)
  if (count > blocks) throw new TypeError('more blocks to rewrite than the image has')
  const chosen = new Set<number>()
  while (chosen.size < count) chosen.add(Math.floor(rng() * blocks))
  const indices = [...chosen].sort((a, b) => a - b)
  const h = await open(path, 'r+')
  // One reused buffer: the benchmark's own allocations must not weigh in its peak memory.
  const data = Buffer.allocUnsafe(blockSize)
  try {
    for (const i of indices) {
      randomFillSync(data)
      await h.write(data, 0, blockSize, i * blockSize)
    }
    await h.datasync()
  } finally {
    await h.close()
  }
  return indices
}

// ---- content generators ----

function pages (buf: Buffer, offset: number, fill: (page: Buffer, at: number) => void): void {
  if (offset % PAGE !== 0 || buf.byteLength % PAGE !== 0) throw new TypeError('chunks must be whole 4 KiB pages')
  for (let p = 0; p < buf.byteLength; p += PAGE) fill(buf.subarray(p, p + PAGE), offset + p)
}

/** 32-bit integer hash (lowbias32, https://nullprogram.com/blog/2018/07/31/). */
function mix32 (x: number): number {
  x = (x ^ (x >>> 16)) >>> 0
  x = Math.imul(x, 0x7feb352d) >>> 0
  x = (x ^ (x >>> 15)) >>> 0
  x = Math.imul(x, 0x846ca68b) >>> 0
  return (x ^ (x >>> 16)) >>> 0
}

/** A page sliced from a pool at a place chosen by its disk offset, stamped with that offset. */
function slicePage (pool: Buffer, seed: number, at: number, page: Buffer, text: boolean): void {
  const pageNo = at / PAGE
  const from = mix32(pageNo ^ mix32(seed)) % (pool.byteLength - PAGE)
  pool.copy(page, 0, from, from + PAGE)
  if (text) page.write(`@${at.toString(16).padStart(12, '0')} `, 0, 'latin1')
  else page.writeDoubleLE(at, 0)
}

/**
 * A database-like page: 32-byte header, 60 records of 64 bytes (ids and
 * times that grow with the offset, small integers, names from a vocabulary),
 * and free space.
 */
function recordPage (pools: ContentPools, at: number, page: Buffer): void {
  const pageNo = at / PAGE
  let r = mix32(pageNo ^ pools.seed)
  const next = (): number => { r = mix32(r + 0x9e3779b9); return r }
  page.fill(0)
  page.writeUInt32LE(0x50474442, 0) // "BDGP"
  page.writeDoubleLE(pageNo, 4)
  page.writeUInt16LE(60, 12)
  page.writeUInt16LE(PAGE - 32 - 60 * 64, 14)
  for (let i = 0; i < 60; i++) {
    const o = 32 + i * 64
    const id = pageNo * 60 + i
    page.writeDoubleLE(id, o)
    page.writeDoubleLE(1_700_000_000_000 + id * 997 + (next() & 0xff), o + 8)
    page.writeUInt8(next() & 3, o + 16)
    page.writeUInt8((next() & 0x11), o + 17)
    page.writeUInt16LE(next() % 50, o + 18)
    page.writeUInt32LE(next() % 100_000, o + 20)
    page.writeUInt32LE(Math.floor((next() / 2 ** 32) ** 3 * 10_000), o + 24)
    const word = pools.words[Math.floor((next() / 2 ** 32) ** 2 * pools.words.length)]!
    page.write(word.slice(0, 24), o + 28, 'latin1')
    page.writeUInt32LE(next() % 1000, o + 52)
  }
}

function vocabulary (rng: () => number, n: number): string[] {
  const syllables = ['a', 'an', 'ar', 'be', 'co', 'de', 'di', 'en', 'er', 'es', 'fi', 'ga', 'in', 'io', 'ka', 'la', 'le', 'lo', 'ma', 'me', 'mi', 'na', 'ne', 'no', 'on', 'or', 'pa', 'pe', 'ra', 're', 'ri', 'ro', 'sa', 'se', 'si', 'ta', 'te', 'ti', 'to', 'tu', 'un', 've', 'vi']
  const out = new Set<string>()
  while (out.size < n) {
    let w = ''
    const len = 1 + Math.floor(rng() * 4)
    for (let i = 0; i < len; i++) w += syllables[Math.floor(rng() * syllables.length)]
    out.add(w)
  }
  return [...out]
}

/** Log-like lines: timestamp, host, service[pid], level, Zipf-ish words, numbers. */
function logText (rng: () => number, words: string[], bytes: number): Buffer {
  const hosts = ['web01', 'web02', 'db01', 'cache01', 'backup']
  const services = ['nginx', 'postgres', 'sshd', 'cron', 'kernel', 'app', 'systemd']
  const levels = ['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR']
  const parts: string[] = []
  let length = 0
  let t = Date.UTC(2026, 10, 3)
  while (length < bytes) {
    t += Math.floor(rng() * 2000)
    let line = `${new Date(t).toISOString()} ${hosts[Math.floor(rng() * hosts.length)]} ${services[Math.floor(rng() * services.length)]}[${1000 + Math.floor(rng() * 30000)}]: ${levels[Math.floor(rng() * levels.length)]}`
    const n = 4 + Math.floor(rng() * 11)
    for (let i = 0; i < n; i++) {
      line += rng() < 0.1 ? ` ${Math.floor(rng() * 100000)}` : ` ${words[Math.floor(rng() ** 3 * words.length)]}`
    }
    line += '\n'
    parts.push(line)
    length += line.length
  }
  return Buffer.from(parts.join(''), 'latin1').subarray(0, bytes)
}

/** Four slices of the running node binary (machine code and its data), or record pages if unreadable. */
function executableSlices (rng: () => number, bytes: number): Buffer {
  const out = Buffer.alloc(bytes)
  let fd: number | undefined
  try {
    fd = openSync(process.execPath, 'r')
    const size = fstatSync(fd).size
    const slice = bytes / 4
    if (size < 4 * slice) throw new Error('binary too small')
    for (let i = 0; i < 4; i++) {
      const from = Math.floor((0.1 + 0.2 * i + 0.05 * rng()) * (size - slice))
      readSync(fd, out, i * slice, slice, from)
    }
  } catch {
    for (let at = 0; at < bytes; at += PAGE) recordPage({ seed: 7, text: out, code: out, words: ['x'] }, at, out.subarray(at, at + PAGE))
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
  return out
}
