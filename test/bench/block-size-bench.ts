/**
 * Block size trade-off (docs/block-size.md):
 *   npx node test/bench/block-size-bench.ts
 *
 * On one generated VM-like image, for each block size: the full scan rate
 * (scanDisk, no base, page cache warm, median of 5 rounds that interleave
 * the block sizes), the initial
 * replication's stored bytes, and the delta of scattered small writes: sets
 * of WRITES random 4 KiB-aligned 4 KiB writes of random data (the same sets,
 * same data, for every block size), each replicated as one delta cycle;
 * the median stored bytes and cycle time are reported, with the index bytes
 * each point costs (32 bytes of manifest per block). The image is restored
 * between block sizes, so each sees the same data.
 *
 * Environment: TANDEM_BENCH_DIR, TANDEM_BENCH_GIB (default 4),
 * TANDEM_BENCH_WRITES (per set, default 2000), TANDEM_BENCH_RUNS (default 3),
 * TANDEM_BENCH_SEED, TANDEM_BENCH_BLOCK_KIB (comma list, default 16,64,256,1024).
 */
import { randomFillSync } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULT_BLOCK_SIZE, FileDiskSource, HASH_LENGTH, RecoveryPointStore, ScanPool, replicateOnce, scanDisk } from '../../core/index.ts'
import { prng } from '../helpers/fixtures.ts'
import { GIB, KIB, MIB, envNumber, gb, makeImage, median, note, round, seconds, workDir } from './measure.ts'

const IMAGE_BYTES = Math.round(envNumber('TANDEM_BENCH_GIB', 4) * GIB / MIB) * MIB
const WRITES = Math.round(envNumber('TANDEM_BENCH_WRITES', 2000))
const WRITE_BYTES = 4 * KIB
const RUNS = Math.max(1, Math.round(envNumber('TANDEM_BENCH_RUNS', 3)))
/** Interleaved scan rounds (scans are cheap and noisy on a shared machine). */
const SCAN_ROUNDS = Math.max(RUNS, 5)
const SEED = envNumber('TANDEM_BENCH_SEED', 1)
const BLOCK_SIZES = (process.env.TANDEM_BENCH_BLOCK_KIB ?? '16,64,256,1024').split(',').map(s => Number(s) * KIB)
const HOUR = 3600_000

interface WriteSet { offsets: number[], data: Buffer, saved?: Buffer }

/** RUNS sets of WRITES distinct 4 KiB-aligned offsets each, with their random data. */
function writeSets (): WriteSet[] {
  const rng = prng(SEED ^ 0xb10c)
  const pages = IMAGE_BYTES / WRITE_BYTES
  return Array.from({ length: RUNS }, () => {
    const chosen = new Set<number>()
    while (chosen.size < WRITES) chosen.add(Math.floor(rng() * pages))
    const data = Buffer.allocUnsafe(WRITES * WRITE_BYTES)
    randomFillSync(data)
    return { offsets: [...chosen].sort((a, b) => a - b).map(p => p * WRITE_BYTES), data }
  })
}

/** Applies a set, keeping what it overwrote (for `undo`). */
async function apply (path: string, set: WriteSet): Promise<void> {
  const h = await open(path, 'r+')
  try {
    set.saved = Buffer.allocUnsafe(set.data.byteLength)
    for (const [i, off] of set.offsets.entries()) {
      await h.read(set.saved, i * WRITE_BYTES, WRITE_BYTES, off)
      await h.write(set.data, i * WRITE_BYTES, WRITE_BYTES, off)
    }
    await h.datasync()
  } finally {
    await h.close()
  }
}

async function undo (path: string, set: WriteSet): Promise<void> {
  const h = await open(path, 'r+')
  try {
    for (const [i, off] of set.offsets.entries()) await h.write(set.saved!, i * WRITE_BYTES, WRITE_BYTES, off)
    await h.datasync()
  } finally {
    await h.close()
  }
  delete set.saved
}

/** Blocks a set of writes touches at a block size. */
function touched (set: WriteSet, blockSize: number): number {
  return new Set(set.offsets.map(o => Math.floor(o / blockSize))).size
}

async function main (): Promise<void> {
  // The image, one store (packs about half the image, replica image its non-zero part) and margin.
  const { dir, cleanup } = await workDir('tandem-bench-bs-', IMAGE_BYTES * 2.5 + GIB / 2)
  const pool = new ScanPool()
  try {
    const image = join(dir, 'vm.img')
    note(`generating a ${IMAGE_BYTES / GIB} GiB VM-like image`)
    await makeImage(image, IMAGE_BYTES, SEED)
    const sets = writeSets()

    // Scan rates first, block sizes interleaved in each round so that load
    // from other processes hits them alike; one warm-up round.
    const scan = async (blockSize: number): Promise<number> => await seconds(async () => {
      const view = await new FileDiskSource(image).open()
      try { await scanDisk(view, { pool, blockSize }) } finally { await view.close() }
    })
    const scans = new Map<number, number[]>(BLOCK_SIZES.map(b => [b, []]))
    for (let pass = 0; pass <= SCAN_ROUNDS; pass++) {
      for (const b of BLOCK_SIZES) {
        const s = await scan(b)
        if (pass > 0) scans.get(b)!.push(s)
      }
      if (pass > 0) note(`scan round ${pass}: ${BLOCK_SIZES.map(b => `${b / KIB} KiB ${gb(IMAGE_BYTES, scans.get(b)!.at(-1)!).toFixed(2)} GB/s`).join(', ')}`)
    }

    const rows: Array<Record<string, number>> = []
    for (const blockSize of BLOCK_SIZES) {

      note(`block size ${blockSize / KIB} KiB: initial replication`)
      const storeDir = join(dir, `store-${blockSize / KIB}k`)
      const store = await RecoveryPointStore.open(storeDir, { create: true, blockSize })
      const t0 = (Math.floor(Date.now() / HOUR) - RUNS - 2) * HOUR
      const cycle = async (i: number): Promise<{ stored: number, changed: number, seconds: number }> => {
        let r: Awaited<ReturnType<typeof replicateOnce>> | undefined
        const s = await seconds(async () => {
          r = await replicateOnce(store, { pool, disks: [{ name: 'disk0', source: new FileDiskSource(image) }], time: t0 + i * HOUR })
        })
        return { stored: r!.disks[0]!.storedBytes, changed: r!.disks[0]!.changedBlocks, seconds: s }
      }
      const initial = await cycle(0)
      const deltas = []
      for (const [i, set] of sets.entries()) {
        await apply(image, set)
        const d = await cycle(i + 1)
        if (d.changed !== touched(set, blockSize)) throw new Error(`cycle found ${d.changed} changed blocks, the writes touched ${touched(set, blockSize)}`)
        deltas.push(d)
        note(`  set ${i + 1}: ${d.changed} blocks changed, stored ${(d.stored / 1e6).toFixed(1)} MB in ${d.seconds.toFixed(2)} s`)
      }
      await store.close()
      for (const set of [...sets].reverse()) await undo(image, set)
      await rm(storeDir, { recursive: true, force: true })

      const written = WRITES * WRITE_BYTES
      const storedDelta = median(deltas.map(d => d.stored))
      rows.push({
        block_kib: blockSize / KIB,
        scan_gbps: round(gb(IMAGE_BYTES, median(scans.get(blockSize)!))),
        initial_stored_bytes: initial.stored,
        initial_s: round(initial.seconds, 1),
        delta_changed_blocks: median(deltas.map(d => d.changed)),
        delta_stored_bytes: storedDelta,
        delta_stored_per_written: round(storedDelta / written, 2),
        delta_s: round(median(deltas.map(d => d.seconds))),
        manifest_bytes_per_point: Math.ceil(IMAGE_BYTES / blockSize) * HASH_LENGTH
      })
    }

    console.log(`block sizes on a ${IMAGE_BYTES / GIB} GiB VM-like image; scan: median of ${SCAN_ROUNDS}; delta = ${WRITES} random 4 KiB writes (${(WRITES * WRITE_BYTES / 1e6).toFixed(1)} MB), medians of ${RUNS}`)
    console.log('block    scan GB/s  initial stored  delta blocks  delta stored  stored/written  delta s  manifest/point')
    for (const r of rows) {
      console.log(`${(r.block_kib + ' KiB').padEnd(8)} ${String(r.scan_gbps).padStart(9)}  ${((r.initial_stored_bytes! / 1e6).toFixed(0) + ' MB').padStart(14)}  ${String(r.delta_changed_blocks).padStart(12)}  ${((r.delta_stored_bytes! / 1e6).toFixed(1) + ' MB').padStart(12)}  ${String(r.delta_stored_per_written).padStart(14)}  ${String(r.delta_s).padStart(7)}  ${((r.manifest_bytes_per_point! / MIB).toFixed(2) + ' MiB').padStart(14)}`)
    }
    console.log(JSON.stringify({ image_bytes: IMAGE_BYTES, writes: WRITES, write_bytes: WRITE_BYTES, runs: RUNS, default_block_size: DEFAULT_BLOCK_SIZE, rows, scan_threads: pool.threads, node: process.version, date: new Date().toISOString() }))
  } finally {
    await pool.stop()
    await cleanup()
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exitCode = 1
})
