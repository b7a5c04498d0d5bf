/**
 * `npm run bench:core`: the core engine against reference tools on a
 * generated 4 GiB VM-like image (docs/benchmarks.md explains each figure).
 *
 *   scan_rate_vs_b3sum   full scan (scanDisk, no base) GB/s over `b3sum` GB/s, page cache warm
 *   delta_time_vs_rsync  one delta cycle (replicateOnce) over `rsync --no-whole-file --inplace`
 *   write_amplification  bytes this process wrote during the delta cycle / changed bytes
 *   peak_rss_mib         peak resident memory of this process
 *
 * Progress goes to stderr; a summary and, last, one JSON line go to stdout.
 * Environment: TANDEM_BENCH_DIR (work dir parent, default the OS temp dir),
 * TANDEM_BENCH_GIB (image size, default 4), TANDEM_BENCH_SEED (layout seed),
 * TANDEM_BENCH_RUNS (timed repetitions, default 3).
 * Not a test: nothing here fails on a slow figure, only on wrong results.
 */
import { copyFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  DEFAULT_BLOCK_SIZE, FileDiskSource, RecoveryPointStore, ScanPool, replicateOnce, scanDisk,
  type CycleReport
} from '../../core/index.ts'
import { prng } from '../helpers/fixtures.ts'
import {
  GIB, MIB, datasyncFile, ensureTools, envNumber, gb, makeImage, mb, median, note, peakRssMib, procIo, round, runTool, seconds, workDir
} from './measure.ts'
import { bytesByKind, planRegions, rewriteBlocks, type Region } from './vm-image.ts'

const IMAGE_BYTES = Math.round(envNumber('TANDEM_BENCH_GIB', 4) * GIB / MIB) * MIB
const SEED = envNumber('TANDEM_BENCH_SEED', 1)
const BLOCK_SIZE = DEFAULT_BLOCK_SIZE
/** Share of the image's blocks a delta cycle finds rewritten. */
const REWRITE_FRACTION = 0.01
/** Timed repetitions of each measurement (after one warm-up where stated); medians are reported. */
const RUNS = Math.max(1, Math.round(envNumber('TANDEM_BENCH_RUNS', 3)))
const HOUR = 3600_000
const DISK = 'disk0'

const TARGETS = {
  scan_rate_vs_b3sum: { op: '>=', value: 0.5 },
  delta_time_vs_rsync: { op: '<=', value: 0.5 },
  write_amplification: { op: '<=', value: 3 },
  peak_rss_mib: { op: '<', value: 400 }
} as const

/**
 * Disk the run needs: the working image, rsync's copy, the store's replica
 * image (its zero regions stay holes) and its packs (random data raw,
 * compressible data about halved), plus room for the deltas and LevelDB.
 */
function neededBytes (size: number): number {
  return size * (1 + 1 + 0.75 + 0.6) + GIB / 2
}

async function main (): Promise<void> {
  ensureTools(['b3sum', 'rsync'])
  const { dir, cleanup } = await workDir('tandem-bench-', neededBytes(IMAGE_BYTES))
  const pool = new ScanPool()
  try {
    await run(dir, pool)
  } finally {
    await pool.stop()
    await cleanup()
  }
}

async function run (dir: string, pool: ScanPool): Promise<void> {
  const image = join(dir, 'vm.img')
  const rsyncDst = join(dir, 'rsync-dst.img')
  const storeDir = join(dir, 'store')
  const rss: Record<string, number> = {}

  // ---- the image ----
  const regions = planRegions(IMAGE_BYTES, SEED)
  note(`generating a ${IMAGE_BYTES / GIB} GiB VM-like image: ${describeLayout(regions)}`)
  const genSeconds = await makeImage(image, IMAGE_BYTES, SEED)
  note(`generated in ${genSeconds.toFixed(1)} s`)
  rss.generate = peakRssMib()

  // ---- full scan vs b3sum, page cache warm; runs interleaved so that load from others hits both alike ----
  note(`scan: warm-up of scanDisk (${pool.threads} threads) and b3sum, then ${RUNS} timed runs each`)
  await scanOnce(pool, image)
  await runTool('b3sum', ['--no-names', image])
  const scanRuns: number[] = []
  const b3Runs: number[] = []
  for (let i = 0; i < RUNS; i++) {
    scanRuns.push(await scanOnce(pool, image))
    b3Runs.push((await runTool('b3sum', ['--no-names', image])).seconds)
    note(`  run ${i + 1}: scan ${gb(IMAGE_BYTES, scanRuns[i]!).toFixed(2)} GB/s, b3sum ${gb(IMAGE_BYTES, b3Runs[i]!).toFixed(2)} GB/s`)
  }
  const scanGbps = gb(IMAGE_BYTES, median(scanRuns))
  const b3sumGbps = gb(IMAGE_BYTES, median(b3Runs))
  rss.scan = peakRssMib()

  // ---- initial replication: point 1 ----
  const store = await RecoveryPointStore.open(storeDir, { create: true, blockSize: BLOCK_SIZE })
  // Point times: whole hours in the past, one per cycle (see the delta loop).
  const t0 = (Math.floor(Date.now() / HOUR) - 2 * RUNS - 2) * HOUR
  let initial: CycleReport | undefined
  note('initial replication (point 1)')
  const ioBeforeInitial = procIo()
  const initialSeconds = await seconds(async () => { initial = await cycle(store, pool, image, t0) })
  const initialWritten = procIo().writeBytes - ioBeforeInitial.writeBytes
  const initialStored = initial!.disks[0]!.storedBytes
  const packBytes = [...(await store.packs()).values()].reduce((n, p) => n + p.bytes, 0)
  const nonZeroBytes = IMAGE_BYTES - bytesByKind(regions).zero
  note(`initial: ${initialSeconds.toFixed(1)} s, stored ${mb(initialStored)} of ${mb(IMAGE_BYTES)}`)
  rss.initial = peakRssMib()

  // rsync's destination starts as a copy of the same old image (outside any timing).
  note('copying the image for rsync')
  await copyFile(image, rsyncDst)
  await datasyncFile(rsyncDst)

  // ---- delta cycles vs rsync ----
  // Each repetition rewrites a fresh 1% of the blocks in place (new random
  // data), so the store's latest point and rsync's destination both hold
  // exactly the previous version and each has one real 1% change to do: no
  // copy of a 6 GiB store between runs. Points are an hour apart, as with
  // Hyper-V-style hourly points: the default retention keeps them all, so
  // the cycle's prune runs its selection but has nothing to expire.
  const rewriteCount = Math.round(IMAGE_BYTES / BLOCK_SIZE * REWRITE_FRACTION)
  const changedBytes = rewriteCount * BLOCK_SIZE
  const rng = prng(SEED ^ 0xde17a)
  const deltas: Array<{ seconds: number, written: number, stored: number, changedBlocks: number, phases: Record<string, number> }> = []
  const rsyncs: Array<{ seconds: number, literal: number }> = []
  for (let i = 1; i <= RUNS; i++) {
    await rewriteBlocks(image, IMAGE_BYTES, BLOCK_SIZE, rewriteCount, rng)
    const marks: Record<string, number> = {}
    const before = procIo()
    const start = performance.now()
    const report = await cycle(store, pool, image, t0 + i * HOUR, marks)
    const s = (performance.now() - start) / 1000
    const written = procIo().writeBytes - before.writeBytes
    deltas.push({ seconds: s, written, stored: report.disks[0]!.storedBytes, changedBlocks: report.disks[0]!.changedBlocks, phases: phaseDurations(start, marks) })

    // --ignore-times: without it rsync's quick check (same size, mtime within
    // the same second as its own last write) may skip the file and time nothing.
    const r = await runTool('rsync', ['--no-whole-file', '--inplace', '--ignore-times', '--stats', image, rsyncDst])
    rsyncs.push({ seconds: r.seconds, literal: literalData(r.stdout) })
    if (!(rsyncs.at(-1)!.literal >= changedBytes)) throw new Error(`rsync sent ${rsyncs.at(-1)!.literal} bytes of literal data for ${changedBytes} changed: it did not do the change`)
    await datasyncFile(rsyncDst)
    note(`  run ${i}: delta cycle ${s.toFixed(2)} s (${formatPhases(deltas.at(-1)!.phases)}), wrote ${mb(written)}, stored ${mb(report.disks[0]!.storedBytes)}; rsync ${r.seconds.toFixed(2)} s`)
    if (report.disks[0]!.changedBlocks !== rewriteCount) throw new Error(`cycle found ${report.disks[0]!.changedBlocks} changed blocks, ${rewriteCount} were rewritten`)
  }
  rss.delta = peakRssMib()

  // The figures only count if both sides really reproduced the image.
  note('checking that the replica image and rsync\'s copy equal the source')
  const sums = await Promise.all([image, store.imagePath(DISK), rsyncDst].map(async p => (await runTool('b3sum', ['--no-names', p])).stdout.trim()))
  if (new Set(sums).size !== 1) throw new Error(`copies differ from the source: ${sums.join(' ')}`)
  const storeImageAllocated = (await stat(store.imagePath(DISK))).blocks * 512
  await store.close()

  // ---- results ----
  const deltaSeconds = median(deltas.map(d => d.seconds))
  const rsyncSeconds = median(rsyncs.map(r => r.seconds))
  const writtenBytes = median(deltas.map(d => d.written))
  const peakRss = peakRssMib()
  const figures = {
    scan_rate_vs_b3sum: round(scanGbps / b3sumGbps),
    delta_time_vs_rsync: round(deltaSeconds / rsyncSeconds),
    write_amplification: round(writtenBytes / changedBytes),
    peak_rss_mib: round(peakRss, 1)
  }
  const met = Object.fromEntries(Object.entries(TARGETS).map(([k, t]) => {
    const v = figures[k as keyof typeof figures]
    return [k, t.op === '>=' ? v >= t.value : t.op === '<=' ? v <= t.value : v < t.value]
  })) as Record<keyof typeof TARGETS, boolean>

  const result = {
    ...figures,
    targets_met: met,
    scan_gbps: round(scanGbps),
    b3sum_gbps: round(b3sumGbps),
    delta_s: round(deltaSeconds),
    rsync_s: round(rsyncSeconds),
    changed_bytes: changedBytes,
    written_bytes: writtenBytes,
    delta_stored_bytes: median(deltas.map(d => d.stored)),
    rsync_literal_bytes: median(rsyncs.map(r => r.literal)),
    delta_phases_s: medianPhases(deltas.map(d => d.phases)),
    initial_s: round(initialSeconds),
    initial_mbps: round(IMAGE_BYTES / initialSeconds / 1e6, 1),
    initial_written_bytes: initialWritten,
    image_bytes: IMAGE_BYTES,
    image_nonzero_bytes: nonZeroBytes,
    initial_stored_bytes: initialStored,
    initial_pack_bytes: packBytes,
    compression_ratio: round(IMAGE_BYTES / packBytes),
    compression_ratio_nonzero: round(nonZeroBytes / packBytes),
    replica_image_allocated_bytes: storeImageAllocated,
    peak_rss_mib_after: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, round(v, 1)])),
    generate_s: round(genSeconds, 1),
    runs: {
      scan_s: scanRuns.map(x => round(x)),
      b3sum_s: b3Runs.map(x => round(x)),
      delta_s: deltas.map(d => round(d.seconds)),
      rsync_s: rsyncs.map(r => round(r.seconds)),
      written_bytes: deltas.map(d => d.written)
    },
    block_size: BLOCK_SIZE,
    rewritten_blocks: rewriteCount,
    scan_threads: pool.threads,
    cores: (await import('node:os')).availableParallelism(),
    node: process.version,
    date: new Date().toISOString()
  }

  const line = (name: string, value: string, target?: keyof typeof TARGETS): string => {
    const t = target === undefined ? '' : `   target ${TARGETS[target].op} ${TARGETS[target].value}: ${met[target] ? 'met' : 'MISSED'}`
    return `${name.padEnd(28)} ${value}${t}`
  }
  console.log([
    `Tandem core benchmark: ${IMAGE_BYTES / GIB} GiB VM-like image, ${BLOCK_SIZE / 1024} KiB blocks, ${result.cores} cores, node ${process.version}`,
    line('full scan (warm)', `${scanGbps.toFixed(2)} GB/s; b3sum ${b3sumGbps.toFixed(2)} GB/s`),
    line('scan_rate_vs_b3sum', String(figures.scan_rate_vs_b3sum), 'scan_rate_vs_b3sum'),
    line('initial replication', `${initialSeconds.toFixed(1)} s, ${result.initial_mbps} MB/s of image`),
    line('stored (compression)', `${mb(packBytes)} in packs for ${mb(IMAGE_BYTES)} of image (${result.compression_ratio}x; ${result.compression_ratio_nonzero}x of non-zero data)`),
    line('delta cycle (1% rewritten)', `${deltaSeconds.toFixed(2)} s; rsync ${rsyncSeconds.toFixed(2)} s`),
    line('  phases (median s)', formatPhases(result.delta_phases_s)),
    line('delta_time_vs_rsync', String(figures.delta_time_vs_rsync), 'delta_time_vs_rsync'),
    line('delta stored', `${mb(result.delta_stored_bytes)} for ${mb(changedBytes)} changed (rsync literal data ${mb(result.rsync_literal_bytes)})`),
    line('written during the delta', mb(writtenBytes)),
    line('write_amplification', String(figures.write_amplification), 'write_amplification'),
    line('peak_rss_mib', String(figures.peak_rss_mib), 'peak_rss_mib')
  ].join('\n'))
  console.log(JSON.stringify(result))
}

/** One cycle of the image as disk0; default retention (hourly points). */
async function cycle (store: RecoveryPointStore, pool: ScanPool, path: string, time: number, marks?: Record<string, number>): Promise<CycleReport> {
  return await replicateOnce(store, {
    pool,
    disks: [{ name: DISK, source: new FileDiskSource(path) }],
    time,
    ...(marks === undefined
      ? {}
      : {
          onProgress: p => { if (p.phase.startsWith('scan') && p.done === p.total) marks.scanned ??= performance.now() },
          onPhase: phase => { marks[phase] = performance.now() }
        })
  })
}

async function scanOnce (pool: ScanPool, path: string): Promise<number> {
  return await seconds(async () => {
    const view = await new FileDiskSource(path).open()
    try {
      await scanDisk(view, { pool, blockSize: BLOCK_SIZE })
    } finally {
      await view.close()
    }
  })
}

const PHASES = ['scanned', 'packs-sealed', 'committed', 'image-updated', 'pruned'] as const

/** Seconds spent in each phase of a cycle, from the marks its observers left. */
function phaseDurations (start: number, marks: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  let prev = start
  for (const p of PHASES) {
    const at = marks[p]
    if (at === undefined) continue
    out[p === 'scanned' ? 'scan+compress' : p === 'packs-sealed' ? 'seal-packs' : p === 'committed' ? 'commit' : p === 'image-updated' ? 'image' : 'prune'] = (at - prev) / 1000
    prev = at
  }
  return out
}

function medianPhases (runs: Array<Record<string, number>>): Record<string, number> {
  const keys = Object.keys(runs[0] ?? {})
  return Object.fromEntries(keys.map(k => [k, round(median(runs.map(r => r[k] ?? 0)))]))
}

function formatPhases (p: Record<string, number>): string {
  return Object.entries(p).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')
}

/** rsync --stats "Literal data: 42,991,616 bytes". */
function literalData (stdout: string): number {
  const m = /Literal data: ([\d,.]+)/.exec(stdout)
  return m === null ? NaN : Number(m[1]!.replace(/[,.]/g, ''))
}

function describeLayout (regions: Region[]): string {
  const by = bytesByKind(regions)
  const total = Object.values(by).reduce((a, b) => a + b, 0)
  return `${regions.length} regions, ` + Object.entries(by).map(([k, v]) => `${k} ${(100 * v / total).toFixed(0)}%`).join(', ')
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error)?.stack ?? String(err)}\n`)
  process.exitCode = 1
})
