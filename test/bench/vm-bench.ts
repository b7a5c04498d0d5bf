/**
 * `npm run bench:vm`: what change tracking buys on a running disk. A
 * generated VM-like raw disk (default 4 GiB) with its qcow2 metadata
 * sidecar runs in qemu-storage-daemon (the same QMP block API as a VM);
 * between cycles 1% of its blocks are written through NBD, as a guest
 * would. Each round runs one cycle that reads only the dirty extents of
 * the point-in-time view, and one cycle of the same kind that compares
 * every block by hash (the core engine's full scan of the same view), each
 * end to end into a local store (point, read, hash, compress, stage, commit).
 *
 *   tracked_time_vs_full_scan  tracked cycle time / full-scan cycle time (medians)
 *   read_bytes_vs_changed      bytes a tracked cycle read / bytes the guest changed
 *   guest_pause_ms             guest-visible I/O pause of a point (the QMP transaction; no agent)
 *
 * Progress goes to stderr; a summary and, last, one JSON line go to stdout.
 * Environment: TANDEM_BENCH_DIR, TANDEM_BENCH_GIB (default 4), TANDEM_BENCH_SEED,
 * TANDEM_BENCH_RUNS (rounds, default 3). Not a test: nothing here fails on a
 * slow figure, only on wrong results.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { DEFAULT_BLOCK_SIZE, RecoveryPointStore, ScanPool, diskRoot, replicateOnce, type DiskSource } from '../../core/index.ts'
import { QmpClient } from '../../appliance/drivers/qemu/qmp/qmp-client.ts'
import { LiveDisk, type LivePoint } from '../../appliance/drivers/qemu/tracking/live-disk.ts'
import { LivePointSource } from '../../appliance/drivers/qemu/tracking/live-source.ts'
import { ensureRawSidecar } from '../../appliance/drivers/qemu/tracking/raw-sidecar.ts'
import { prng } from '../helpers/fixtures.ts'
import { startStorageDaemon } from '../helpers/storage-daemon.ts'
import { GIB, MIB, ensureTools, envNumber, makeImage, mb, median, note, round, workDir } from './measure.ts'

const run = promisify(execFile)
const IMAGE_BYTES = Math.round(envNumber('TANDEM_BENCH_GIB', 4) * GIB / MIB) * MIB
const SEED = envNumber('TANDEM_BENCH_SEED', 1)
const RUNS = Math.max(1, Math.round(envNumber('TANDEM_BENCH_RUNS', 3)))
const BLOCK = DEFAULT_BLOCK_SIZE
const WRITE_FRACTION = 0.01

/** A wrong result: thrown (not exited) so that the daemon is stopped and the work dir removed. */
function fail (message: string): never {
  throw new Error(message)
}

const TARGETS = {
  tracked_time_vs_full_scan: { op: '<=', value: 0.2 },
  read_bytes_vs_changed: { op: '<=', value: 2 }
} as const

/** The same point's view with change tracking hidden: the scan then compares every block. */
function untracked (source: DiskSource): DiskSource {
  return {
    description: `${source.description} (every block hashed)`,
    open: async signal => {
      const v = await source.open(signal)
      return { size: v.size, read: v.read.bind(v), close: v.close.bind(v) }
    }
  }
}

async function main (): Promise<void> {
  ensureTools(['qemu-img', 'qemu-io', 'qemu-storage-daemon'])
  const { dir, cleanup } = await workDir('tandem-bench-vm-', IMAGE_BYTES * 3 + GIB)
  let stopDaemon: (() => Promise<void>) | undefined
  const pool = new ScanPool()
  let store: RecoveryPointStore | undefined
  try {
    const raw = join(dir, 'disk0.raw')
    note(`generating a ${IMAGE_BYTES / GIB} GiB VM-like raw disk (seed ${SEED}) and its qcow2 metadata sidecar`)
    await makeImage(raw, IMAGE_BYTES, SEED)
    const sidecar = join(dir, 'disk0.meta.qcow2')
    await ensureRawSidecar(raw, sidecar)
    const qsd = await startStorageDaemon({ dir, disk: sidecar, format: 'qcow2' })
    stopDaemon = qsd.stop
    const qmp = await QmpClient.connect(qsd.qmpSocket)
    const live = await LiveDisk.open({ qmp, node: qsd.node, stateFile: join(dir, 'tracking.json'), workDir: dir, nbdSocket: qsd.nbdSocket, granularity: BLOCK })
    store = await RecoveryPointStore.open(join(dir, 'store'), { blockSize: BLOCK, create: true })
    const rng = prng(SEED + 1)
    const blocks = IMAGE_BYTES / BLOCK

    let writeRound = 0
    /**
     * Writes `count` distinct random blocks through the daemon's writable
     * export; returns them. Each round's fill differs from every earlier
     * round's for the same block, so each written block really changes.
     */
    const guestWrites = async (count: number): Promise<Set<number>> => {
      writeRound++
      const chosen = new Set<number>()
      while (chosen.size < count) chosen.add(Math.floor(rng() * blocks))
      const cmds = [...chosen].flatMap(b => ['-c', `write -P ${1 + (writeRound * 31 + b) % 255} ${b * BLOCK} ${BLOCK}`])
      await run('qemu-io', ['-f', 'raw', `nbd+unix:///${qsd.node}-w?socket=${qsd.nbdSocket}`, ...cmds], { maxBuffer: 64 * MIB })
      return chosen
    }

    const cycle = async (tracked: boolean): Promise<{ seconds: number, bytesRead: number, changed: number, pauseMs: number, point: LivePoint }> => {
      const t0 = performance.now()
      const point = await live.takePoint()
      const source = new LivePointSource(point)
      let root: string
      let changed: number
      try {
        const report = await replicateOnce(store!, { pool, disks: [{ name: 'disk0', source: tracked ? source : untracked(source) }] })
        if (report.disks[0]!.tracked !== (tracked && point.tracking !== undefined)) fail('the cycle did not read what was asked')
        changed = report.disks[0]!.changedBlocks
        root = diskRoot(await store!.manifest(report.point.id, 'disk0'))
      } catch (err) {
        await point.complete({ ok: false })
        throw err
      }
      await point.complete({ ok: true, root })
      return { seconds: (performance.now() - t0) / 1000, bytesRead: source.bytesRead, changed, pauseMs: point.pauseMs, point }
    }

    note('initial cycle (every block hashed: the first point has no tracking)')
    const initial = await cycle(true)
    if (initial.point.tracking !== undefined) fail('the first point claims tracking')
    note(`  ${initial.seconds.toFixed(2)} s, ${mb(initial.bytesRead)} read`)

    const perRound = Math.round(blocks * WRITE_FRACTION)
    const trackedRuns: Array<{ seconds: number, bytesRead: number, changedBytes: number, pauseMs: number }> = []
    const fullRuns: Array<{ seconds: number, bytesRead: number }> = []
    for (let r = 1; r <= RUNS; r++) {
      let written = await guestWrites(perRound)
      note(`round ${r}/${RUNS}: ${written.size} blocks written (${mb(written.size * BLOCK)}); tracked cycle`)
      const t = await cycle(true)
      if (t.point.tracking === undefined) fail(`the tracked cycle was not tracked: ${t.point.untrackedReason ?? ''}`)
      if (t.changed !== written.size) fail(`the tracked cycle found ${t.changed} changed blocks; ${written.size} were written`)
      trackedRuns.push({ seconds: t.seconds, bytesRead: t.bytesRead, changedBytes: written.size * BLOCK, pauseMs: t.pauseMs })
      note(`  ${t.seconds.toFixed(2)} s, ${mb(t.bytesRead)} read, guest I/O held ${t.pauseMs.toFixed(1)} ms`)

      written = await guestWrites(perRound)
      note(`round ${r}/${RUNS}: ${written.size} blocks written; full-scan cycle of the same kind`)
      const f = await cycle(false)
      if (f.changed !== written.size) fail(`the full-scan cycle found ${f.changed} changed blocks; ${written.size} were written`)
      fullRuns.push({ seconds: f.seconds, bytesRead: f.bytesRead })
      note(`  ${f.seconds.toFixed(2)} s, ${mb(f.bytesRead)} read`)
    }
    await qmp.close()

    const trackedS = median(trackedRuns.map(x => x.seconds))
    const fullS = median(fullRuns.map(x => x.seconds))
    const result = {
      tracked_time_vs_full_scan: round(trackedS / fullS),
      read_bytes_vs_changed: round(median(trackedRuns.map(x => x.bytesRead / x.changedBytes))),
      guest_pause_ms: round(median(trackedRuns.map(x => x.pauseMs)), 1),
      image_gib: IMAGE_BYTES / GIB,
      changed_mb_per_cycle: round(trackedRuns[0]!.changedBytes / 1e6, 1),
      tracked_cycle_s: round(trackedS, 2),
      full_scan_cycle_s: round(fullS, 2),
      tracked_read_mb: round(median(trackedRuns.map(x => x.bytesRead)) / 1e6, 1),
      full_scan_read_mb: round(median(fullRuns.map(x => x.bytesRead)) / 1e6, 1),
      initial_cycle_s: round(initial.seconds, 2),
      runs: RUNS,
      tracked_runs_s: trackedRuns.map(x => round(x.seconds, 2)),
      full_scan_runs_s: fullRuns.map(x => round(x.seconds, 2)),
      guest_pause_runs_ms: trackedRuns.map(x => round(x.pauseMs, 1))
    }
    process.stdout.write('vm benchmark\n')
    for (const [k, target] of Object.entries(TARGETS)) {
      const v = result[k as keyof typeof TARGETS]
      process.stdout.write(`  ${k}: ${v} (target ${target.op} ${target.value}: ${v <= target.value ? 'met' : 'NOT met'})\n`)
    }
    process.stdout.write(JSON.stringify(result) + '\n')
  } finally {
    await store?.close()
    await pool.stop()
    await stopDaemon?.()
    await cleanup()
  }
}

await main().catch(err => {
  process.stderr.write(`bench: ${(err as Error).message}\n`)
  process.exitCode = 1
})
