/**
 * `npm run bench:failover`: how fast a recovery point becomes a running VM
 * on the Replica, and that the time does not grow with the disk (issue 13,
 * docs/benchmarks.md "npm run bench:failover", docs/failover.md).
 *
 * Two real daemons (`tandem start` children, loopback, bench-boxes.ts),
 * paired through the CLI. The primary protects two manual-driver VMs that
 * boot the busybox test guest's kernel and initrd (test/helpers/guest), each
 * with one sparse raw disk holding random data in 2 MiB chunks spread evenly
 * over it (a tenth of the disk): `big` (20 GiB, 2 GiB of data) and `small`
 * (1 GiB). Each is replicated (the initial full copy, then DELTA_CYCLES
 * cycles after changing a sixty-fourth of its chunks), so the Replica holds
 * an older point and the latest.
 *
 *   test_failover_ready_s       `tandem failover test big --point OLDER`:
 *                               from spawning the command until it exits,
 *                               having answered the test VM `running` (the
 *                               qemu driver says so only after QMP
 *                               query-status said running); median of
 *                               REPEATS. Target <= 5.
 *   ready_ratio_20g_vs_1g       the same median, big / small. Target <= 1.5.
 *   unplanned_failover_ready_s  `tandem failover unplanned big --point OLDER
 *                               --yes`, primary daemon killed (-9) first,
 *                               until the command exits with the job done
 *                               and the VM running; each followed by
 *                               `failover cancel`. Target <= 10.
 *   failback_bytes_vs_differing the first reverse cycle's bytes of blocks
 *                               sent (uncompressed) / the bytes of the
 *                               blocks that differ between the two disks at
 *                               the reversal. Target <= 1.1.
 *   failback_time_vs_full_copy  `tandem replication reverse big` until that
 *                               cycle committed / the big disk's initial
 *                               replication in the same run (from `replication
 *                               enable`). Target <= 0.2. Both: failback-phase.ts,
 *                               after the unplanned failovers.
 *
 * One test failover runs before the timed ones (`first_test_failover_s`): a
 * daemon's first VM start probes KVM once (up to 10 s), which is paid once
 * per daemon, not per failover. References in the same run: `qemu-img info`
 * of the big disk, a raw read of 64 MiB of it, a CLI round trip (`tandem
 * points`), and `tandem vm start` of the same guest on a local raw disk.
 *
 * `--quick`: a 2 GiB big disk, one delta cycle, one repetition: a trial of
 * the whole path in about a minute; its figures are not the benchmark's.
 * Environment: TANDEM_BENCH_DIR (work dir parent), TANDEM_BENCH_REPEATS
 * (default 3), TANDEM_BENCH_LOG_LEVEL, TANDEM_BENCH_LOG_LINES. Progress goes
 * to stderr; a summary and, last, one JSON line to stdout. It stops its
 * QEMUs and daemons by pid and removes its files on success, failure and
 * Ctrl-C.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpus, loadavg, release, tmpdir } from 'node:os'
import { open, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { EventInfo, JobInfo, PointInfo, PointsResult, TestFailoverInfo, VmInfo } from '../../appliance/service/index.ts'
import type { CycleRecord } from '../../appliance/events/index.ts'
import { ensureTestGuest, MARKER } from '../helpers/guest/build-guest.ts'
import { waitForSerial } from '../appliance/drivers/qemu/vm-helpers.ts'
import { alive, BenchFailed, checkStop, cli, inWorkDir, runBench, startPairedBoxes, timedCli, until, type BenchRun, type Box } from './bench-boxes.ts'
import { measureFailback, type FailbackFigures } from './failback-phase.ts'
import { GIB, MIB, datasyncFile, ensureFreeSpace, envNumber, median, note, round, runTool } from './measure.ts'

const QUICK = process.argv.includes('--quick')
/** The big disk; the small one is SMALL_DISK_BYTES. The ratio of their ready times shows whether the start depends on the size. */
const BIG_DISK_BYTES = (QUICK ? 2 : 20) * GIB
const SMALL_DISK_BYTES = 1 * GIB
/** Written with random data: 2 GiB of the 20 GiB disk (issue 13), the same share of the others. */
const DATA_SHARE = 0.1
/** Unit of the data: 2 MiB of random bytes at each place, places evenly spread. */
const CHUNK_BYTES = 2 * MIB
/** Cycles after the initial copy; each rewrites 1/DELTA_SHARE of the chunks with new random bytes. */
const DELTA_CYCLES = QUICK ? 1 : 3
const DELTA_SHARE = 64
const REPEATS = QUICK ? 1 : Math.max(1, Math.round(envNumber('TANDEM_BENCH_REPEATS', 3)))
/** The guest writes once after boot, then sleeps ~33 min: the failover VMs add no load of their own to the next measurement. */
const GUEST_APPEND = 'console=ttyS0 panic=-1 quiet tandem.delay=2000000000'
const GUEST_MEMORY_MIB = '128'
/** Bytes read for the raw-read reference. */
const RAW_READ_BYTES = 64 * MIB
/**
 * Disk space: the data on the primary, the Replica's packs of it and of every cycle, with room;
 * then the failback's: the completed VM's own disk, the salvage copy's packs, the raw copy the differing blocks are counted on.
 */
const NEEDED_BYTES = 3 * DATA_SHARE * (BIG_DISK_BYTES + SMALL_DISK_BYTES) + GIB + 3 * DATA_SHARE * BIG_DISK_BYTES + GIB
/** Bound on the initial copy: the whole big disk scanned and its data sent over loopback under load. */
const TIMEOUT_INITIAL_MS = 20 * 60_000
/** Bound on a delta cycle (`replication resync` compares every block). */
const TIMEOUT_CYCLE_MS = 10 * 60_000
/** How often the initial copy's progress is printed. */
const PROGRESS_EVERY_MS = 10_000
const LOG_LINES_SHOWN = Number(process.env.TANDEM_BENCH_LOG_LINES ?? 15)
const LOG_LEVEL = process.env.TANDEM_BENCH_LOG_LEVEL ?? 'warn'

const TARGETS = {
  test_failover_ready_s: { op: '<=', value: 5 },
  ready_ratio_20g_vs_1g: { op: '<=', value: 1.5 },
  unplanned_failover_ready_s: { op: '<=', value: 10 },
  failback_bytes_vs_differing: { op: '<=', value: 1.1 },
  failback_time_vs_full_copy: { op: '<=', value: 0.2 }
} as const

/** A protected VM of the bench, once its points are on the Replica. */
interface BenchVm {
  name: string
  disk: string
  diskBytes: number
  dataBytes: number
  /** The point the failovers start from: older than the latest. */
  older: PointInfo
  latest: PointInfo
  /** Bytes rewritten on the primary since `older`. */
  changedSinceOlder: number
  initial: CycleRecord
  /** From `replication enable` until the initial copy's record ended: the full copy a failback is compared with. */
  initialWallMs: number
  deltas: CycleRecord[]
}

interface Bench {
  run: BenchRun
  dir: string
  primary: Box
  replica: Box
  big: BenchVm
  small: BenchVm
}

/** One timed failover: the command's wall time and the daemon's own step timings. */
interface ReadyRun {
  seconds: number
  steps: Record<string, number | null>
}

interface FailoverRuns { big: ReadyRun[], small: ReadyRun[] }

/** The chunks' offsets: `count` places evenly spread over `diskBytes`, each CHUNK_BYTES-aligned. */
function chunkOffsets (diskBytes: number, dataBytes: number): number[] {
  const count = Math.max(1, Math.floor(dataBytes / CHUNK_BYTES))
  const stride = Math.floor(diskBytes / count / CHUNK_BYTES) * CHUNK_BYTES
  return Array.from({ length: count }, (_, i) => i * stride)
}

/** Writes new random bytes at `offsets` (creating the sparse file of `diskBytes` first when asked), then flushes them. */
async function writeChunks (path: string, diskBytes: number, offsets: number[], create: boolean): Promise<void> {
  const h = await open(path, create ? 'w' : 'r+')
  try {
    if (create) await h.truncate(diskBytes)
    for (const offset of offsets) await h.write(randomBytes(CHUNK_BYTES), 0, CHUNK_BYTES, offset)
  } finally { await h.close() }
  await datasyncFile(path)
}

/** The ends of `vm`'s cycles in `box`'s event log (its last 1000 events), oldest first. */
async function cycleEnds (box: Box, vm: string): Promise<EventInfo[]> {
  const events: EventInfo[] = (await box.api.listEvents({ name: vm, last: 1000 })).events
  return events.filter(e => e.kind === 'cycle' && e.phase === 'end')
}

/** The ok cycle records of `vm` in `box`'s event log, oldest first. */
async function okCycles (box: Box, vm: string): Promise<CycleRecord[]> {
  return (await cycleEnds(box, vm)).filter(e => e.outcome === 'ok' && e.data !== undefined).map(e => e.data as unknown as CycleRecord)
}

/** Bytes allocated under `dir` (the Replica's store while the initial copy fills it). */
async function allocatedBytes (dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name)).catch(() => ({ blocks: 0 }))).blocks * 512
  }
  return total
}

/**
 * The set-up of one protected VM: its disk written, `vm add` on the primary,
 * replication to the Replica (frequency 1 h: no cycle runs during the
 * measurements), the initial copy with its progress, then DELTA_CYCLES cycles
 * (`replication resync`) after rewriting some chunks each time.
 */
async function protectVm (b: Omit<Bench, 'big' | 'small'>, name: string, diskBytes: number, guest: { kernel: string, initrd: string }): Promise<BenchVm> {
  const { run, primary, replica } = b
  const disk = join(b.dir, `${name}.raw`)
  const offsets = chunkOffsets(diskBytes, diskBytes * DATA_SHARE)
  const dataBytes = offsets.length * CHUNK_BYTES
  note(`${name}: writing ${dataBytes / MIB} MiB of random data over a ${diskBytes / GIB} GiB sparse disk`)
  await writeChunks(disk, diskBytes, offsets, true)
  await cli(primary, ['vm', 'add', name, '--disk', disk, '--driver', 'manual', '--memory', GUEST_MEMORY_MIB,
    '--kernel', guest.kernel, '--initrd', guest.initrd, '--append', GUEST_APPEND])
  const t0 = Date.now()
  await cli(primary, ['replication', 'enable', name, '--to', replica.peerId, '--frequency', '1h'])
  let shown = t0
  const [initial] = await until(run, `${name}'s initial copy`, TIMEOUT_INITIAL_MS, async () => {
    const cycles = await okCycles(primary, name)
    if (cycles.length > 0) return cycles
    if (Date.now() - shown >= PROGRESS_EVERY_MS) {
      shown = Date.now()
      const held = await allocatedBytes(join(replica.dir, 'store'))
      note(`  ${name}: initial copy, ${Math.round((shown - t0) / 1000)} s, the Replica's stores hold ${(held / MIB).toFixed(0)} MiB`)
    }
    return undefined
  }) as [CycleRecord]
  note(`${name}: initial copy done in ${((initial.end - t0) / 1000).toFixed(1)} s (${(initial.bytesSent / MIB).toFixed(0)} MiB sent)`)

  const perDelta = Math.max(1, Math.round(offsets.length / DELTA_SHARE))
  const deltas: CycleRecord[] = []
  for (let k = 0; k < DELTA_CYCLES; k++) {
    checkStop(run)
    const rewritten = Array.from({ length: perDelta }, (_, j) => offsets[(k + j * DELTA_SHARE) % offsets.length]!)
    await writeChunks(disk, diskBytes, rewritten, false)
    const before = (await cycleEnds(primary, name)).length
    await cli(primary, ['replication', 'resync', name])
    // A cycle that fails ends the bench with its code and reason: the next try would be an hour away (the frequency)
    const c = await until(run, `${name}'s cycle ${k + 1}`, TIMEOUT_CYCLE_MS, async () => {
      const end = (await cycleEnds(primary, name))[before]
      if (end !== undefined && (end.outcome !== 'ok' || end.data === undefined)) throw new BenchFailed(`${name}: set-up cycle ${k + 1} ended ${String(end.outcome)} (${end.code ?? 'no code'}): ${end.reason}`)
      return end?.data as unknown as CycleRecord | undefined
    })
    deltas.push(c)
    note(`${name}: cycle ${k + 1}/${DELTA_CYCLES}, ${(c.bytesChanged / MIB).toFixed(0)} MiB changed, ${((c.end - c.start) / 1000).toFixed(1)} s`)
  }
  const points = (JSON.parse(await cli(replica, ['points', name, '--json'])) as PointsResult).points
  if (points.length < 2) throw new BenchFailed(`${name}: the Replica holds ${points.length} point(s); the bench needs an older one`)
  // Retention keeps the first point of each hour and the latest (docs/relationships.md), so the oldest is the initial copy's
  const older = points[0]!
  const latest = points.at(-1)!
  note(`${name}: points ${points.map(p => p.id).join(', ')} on the Replica; failovers start from ${older.id}`)
  return { name, disk, diskBytes, dataBytes, older, latest, changedSinceOlder: perDelta * CHUNK_BYTES * DELTA_CYCLES, initial, initialWallMs: initial.end - t0, deltas }
}

/**
 * Test failover of `vm`'s older point, timed; then `stop-test`. With
 * `boot`, first waits for the guest's READY line on the test VM's serial
 * console (its kernel ran and found the served disk): `bootSeconds` is from
 * the command to that line.
 */
async function testFailoverOnce (b: Bench, vm: BenchVm, boot = false): Promise<ReadyRun & { bootSeconds: number | null }> {
  checkStop(b.run)
  const t0 = performance.now()
  const { seconds, answer } = await timedCli<TestFailoverInfo>(b.replica, ['failover', 'test', vm.name, '--point', String(vm.older.id)])
  const runDir = join(b.replica.dir, 'failover', vm.name, 'test')
  const pid = Number(await readFile(join(runDir, 'qemu.pid'), 'utf8').catch(() => 'NaN'))
  if (Number.isInteger(pid)) b.run.qemuPids.add(pid)
  if (answer.state !== 'running' || answer.point.id !== vm.older.id) {
    throw new BenchFailed(`failover test ${vm.name}: the test VM is ${String(answer.state)} on point ${answer.point.id}, not running on ${vm.older.id}`)
  }
  let bootSeconds: number | null = null
  if (boot) {
    await waitForSerial(join(runDir, 'serial.log'), new RegExp(`^${MARKER.ready} `), () => alive(pid))
    bootSeconds = (performance.now() - t0) / 1000
  }
  await cli(b.replica, ['failover', 'stop-test', vm.name])
  b.run.qemuPids.delete(pid)
  return { seconds, steps: { ...answer.timings }, bootSeconds }
}

/** Unplanned failover of `vm` to its older point, timed (the primary is gone); then `failover cancel`. */
async function unplannedOnce (b: Bench, vm: BenchVm): Promise<ReadyRun & { accel: string | null }> {
  checkStop(b.run)
  const { seconds, answer } = await timedCli<JobInfo>(b.replica, ['failover', 'unplanned', vm.name, '--point', String(vm.older.id), '--yes'])
  const f = answer.failover
  const running = (await b.replica.api.vmList()).find(v => v.name === vm.name)
  if (running?.pid != null) b.run.qemuPids.add(running.pid)
  if (answer.state !== 'ok' || f?.kind !== 'vm' || f.vmState !== 'running' || f.point.id !== vm.older.id) {
    throw new BenchFailed(`failover unplanned ${vm.name}: job ${answer.state}, ${f?.kind ?? 'no failover'}, VM ${String(f?.vmState)}, point ${String(f?.point.id)}: ${answer.error?.code ?? ''}`)
  }
  await cli(b.replica, ['failover', 'cancel', vm.name])
  if (running?.pid != null) b.run.qemuPids.delete(running.pid)
  // The job's own time, in the daemon: the CLI learns its end at its next poll (appliance/cli/job-follow.ts JOB_POLL_MS)
  const jobMs = answer.endedAt === null ? null : Date.parse(answer.endedAt) - Date.parse(answer.startedAt)
  return { seconds, steps: { ...f.timings, jobMs }, accel: running?.accel ?? null }
}

/** REPEATS rounds of `once` on big then small (interleaved, so that a change of the machine's load falls on both). */
async function rounds (label: string, b: Bench, once: (b: Bench, vm: BenchVm) => Promise<ReadyRun>): Promise<FailoverRuns> {
  const runs: FailoverRuns = { big: [], small: [] }
  for (let i = 0; i < REPEATS; i++) {
    for (const which of ['big', 'small'] as const) {
      const r = await once(b, b[which])
      runs[which].push(r)
      note(`${label} ${which} ${i + 1}/${REPEATS}: ${r.seconds.toFixed(2)} s (${Object.entries(r.steps).map(([k, v]) => `${k} ${String(v)}`).join(', ')})`)
    }
  }
  return runs
}

/**
 * Phase 1: test failovers, the primary running. The first one, outside the
 * figures, pays the daemon's KVM probe, and waits for the guest to boot on
 * the big disk's point (the point is a disk the guest can use, not only a
 * VM that QEMU says runs).
 */
async function measureTestFailovers (b: Bench): Promise<{ runs: FailoverRuns, first: ReadyRun & { bootSeconds: number | null } }> {
  note('test failovers: one first (the daemon probes KVM on its first VM start; the guest boots), then the timed rounds')
  const first = await testFailoverOnce(b, b.big, true)
  note(`first test failover (big): running after ${first.seconds.toFixed(2)} s, the guest READY after ${String(first.bootSeconds?.toFixed(2))} s`)
  return { runs: await rounds('test failover', b, async (bench, vm) => await testFailoverOnce(bench, vm)), first }
}

/** References in the same run: what looking at the disk from outside, a CLI call, and a VM start without failover cost. */
interface References {
  ref_qemu_img_info_ms: number
  ref_raw_read_64mib_ms: number
  ref_cli_points_s: number
  ref_vm_start_s: number
}

async function measureReferences (b: Bench, guest: { kernel: string, initrd: string }): Promise<References> {
  note('references: qemu-img info, a raw read, a CLI call, a plain vm start')
  const info: number[] = []
  const raw: number[] = []
  const cliCall: number[] = []
  const vmStart: number[] = []
  for (let i = 0; i < 3; i++) {
    info.push((await runTool('qemu-img', ['info', '-U', b.big.disk])).seconds * 1000)
    raw.push(await readHead(b.big.disk, RAW_READ_BYTES))
    cliCall.push((await timedCli<PointsResult>(b.replica, ['points', b.big.name])).seconds)
  }
  // The same guest from a local raw disk of the Replica, started as any VM: QEMU's own start and the driver's wait for running.
  const plain = join(b.dir, 'plain.raw')
  await writeChunks(plain, SMALL_DISK_BYTES, [], true)
  await cli(b.replica, ['vm', 'add', 'plain', '--disk', plain, '--memory', GUEST_MEMORY_MIB, '--kernel', guest.kernel, '--initrd', guest.initrd, '--append', GUEST_APPEND])
  for (let i = 0; i < 3; i++) {
    checkStop(b.run)
    const { seconds, answer } = await timedCli<VmInfo>(b.replica, ['vm', 'start', 'plain'])
    if (answer.pid !== null) b.run.qemuPids.add(answer.pid)
    vmStart.push(seconds)
    await cli(b.replica, ['vm', 'stop', 'plain', '--force', '--timeout', '1s'])
    if (answer.pid !== null) b.run.qemuPids.delete(answer.pid)
  }
  await cli(b.replica, ['vm', 'remove', 'plain'])
  return {
    ref_qemu_img_info_ms: Math.round(median(info)),
    ref_raw_read_64mib_ms: Math.round(median(raw)),
    ref_cli_points_s: round(median(cliCall), 2),
    ref_vm_start_s: round(median(vmStart), 2)
  }
}

/** Phase 2: unplanned failovers, the primary's daemon killed (-9) first: it is gone, as on a bad day. */
async function measureUnplannedFailovers (b: Bench): Promise<{ runs: FailoverRuns, accel: string | null }> {
  note('unplanned failovers: the primary daemon killed (-9)')
  await b.primary.daemon.stop('SIGKILL')
  let accel: string | null = null
  const runs = await rounds('unplanned failover', b, async (bench, vm) => {
    const r = await unplannedOnce(bench, vm)
    accel = r.accel
    return r
  })
  return { runs, accel }
}

/** Milliseconds to read the first `bytes` of a file (page cache as it is). */
async function readHead (path: string, bytes: number): Promise<number> {
  const t0 = performance.now()
  const h = await open(path, 'r')
  try {
    const buf = Buffer.allocUnsafe(4 * MIB)
    for (let at = 0; at < bytes; at += buf.length) await h.read(buf, 0, buf.length, at)
  } finally { await h.close() }
  return performance.now() - t0
}

/** Median of one step over runs (null when the daemon did not time it). */
function stepMedians (runs: ReadyRun[]): Record<string, number | null> {
  const keys = Object.keys(runs[0]?.steps ?? {})
  return Object.fromEntries(keys.map(k => {
    const v = runs.map(r => r.steps[k]).filter((x): x is number => typeof x === 'number')
    return [k, v.length === 0 ? null : Math.round(median(v))]
  }))
}

const seconds = (runs: ReadyRun[]): number[] => runs.map(r => round(r.seconds, 2))
const medianS = (runs: ReadyRun[]): number => round(median(runs.map(r => r.seconds)), 2)

async function main (run: BenchRun): Promise<void> {
  const loadAtStart = loadavg()[0]!
  const guest = await ensureTestGuest({ signal: run.signal })
  await ensureFreeSpace(process.env.TANDEM_BENCH_DIR ?? tmpdir(), NEEDED_BYTES)
  await inWorkDir(run, 'tandem-bench-failover-', LOG_LINES_SHOWN, async dir => {
    note(`work dir ${dir}; ${BIG_DISK_BYTES / GIB} GiB and ${SMALL_DISK_BYTES / GIB} GiB disks, ${REPEATS} repetition(s)${QUICK ? ' (--quick: not the benchmark\'s figures)' : ''}`)
    const [primary, replica] = await startPairedBoxes(dir, run, LOG_LEVEL)
    const base = { run, dir, primary, replica }
    const big = await protectVm(base, 'big', BIG_DISK_BYTES, guest)
    const small = await protectVm(base, 'small', SMALL_DISK_BYTES, guest)
    const b: Bench = { ...base, big, small }

    const test = await measureTestFailovers(b)
    const refs = await measureReferences(b, guest)
    const unplanned = await measureUnplannedFailovers(b)
    // Phase 3, delta failback (failback-phase.ts), on the big disk: its full copy is its own initial replication
    const failback = await measureFailback({ run, dir, primary, replica, logLevel: LOG_LEVEL },
      { name: big.name, disk: big.disk, diskBytes: big.diskBytes, latest: big.latest, fullCopyMs: big.initialWallMs })

    report({ ...summarize(b, test, unplanned, refs, failback), load_1m: [round(loadAtStart, 1), round(loadavg()[0]!, 1)] })
  })
}

/** The figures: the targets' keys first, then the runs, the steps, the references and the set-up. */
function summarize (b: Bench, test: Awaited<ReturnType<typeof measureTestFailovers>>, unplanned: { runs: FailoverRuns, accel: string | null },
  refs: References, failback: FailbackFigures) {
  const { big, small } = b
  return {
    test_failover_ready_s: medianS(test.runs.big),
    ready_ratio_20g_vs_1g: round(medianS(test.runs.big) / medianS(test.runs.small), 2),
    unplanned_failover_ready_s: medianS(unplanned.runs.big),
    ...failback,
    test_failover_ready_runs_s: seconds(test.runs.big),
    test_failover_ready_1g_s: medianS(test.runs.small),
    test_failover_ready_1g_runs_s: seconds(test.runs.small),
    test_failover_steps_ms: stepMedians(test.runs.big),
    test_failover_1g_steps_ms: stepMedians(test.runs.small),
    first_test_failover_s: round(test.first.seconds, 2),
    first_guest_ready_s: test.first.bootSeconds === null ? null : round(test.first.bootSeconds, 2),
    unplanned_failover_ready_runs_s: seconds(unplanned.runs.big),
    unplanned_failover_ready_1g_s: medianS(unplanned.runs.small),
    unplanned_failover_ready_1g_runs_s: seconds(unplanned.runs.small),
    unplanned_ratio_20g_vs_1g: round(medianS(unplanned.runs.big) / medianS(unplanned.runs.small), 2),
    unplanned_failover_steps_ms: stepMedians(unplanned.runs.big),
    unplanned_failover_1g_steps_ms: stepMedians(unplanned.runs.small),
    ...refs,
    disk_gib: BIG_DISK_BYTES / GIB,
    disk_small_gib: SMALL_DISK_BYTES / GIB,
    data_mib: big.dataBytes / MIB,
    data_small_mib: small.dataBytes / MIB,
    changed_since_point_mib: big.changedSinceOlder / MIB,
    points: { big: [big.older.id, big.latest.id], small: [small.older.id, small.latest.id] },
    initial_copy_s: round((big.initial.end - big.initial.start) / 1000, 1),
    initial_copy_from_enable_s: round(big.initialWallMs / 1000, 1),
    initial_sent_mib: Math.round(big.initial.bytesSent / MIB),
    delta_cycles_s: big.deltas.map(c => round((c.end - c.start) / 1000, 1)),
    repeats: REPEATS,
    quick: QUICK,
    cores: cpus().length,
    accel: unplanned.accel,
    qemu: /version ([0-9.]+)/.exec(spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? null,
    node: process.version,
    kernel: release()
  }
}

/** The summary, then the JSON line, on stdout. */
function report (r: ReturnType<typeof summarize> & { load_1m: number[] }): void {
  const out = (s: string): void => { process.stdout.write(s + '\n') }
  const verdict = (k: keyof typeof TARGETS): string => {
    const t = TARGETS[k]
    const v = r[k]
    if (v === null) return `(target ${t.op} ${t.value}: not measured)`
    return `(target ${t.op} ${t.value}: ${v <= t.value ? 'met' : 'NOT met'})`
  }
  out(`failover benchmark: ${String(r.cores)} cores, VMs under ${String(r.accel).toUpperCase()}, QEMU ${String(r.qemu)}, Node ${String(r.node)}; load average ${r.load_1m.join(' -> ')}${QUICK ? ' (--quick)' : ''}`)
  out(`  test_failover_ready_s: ${String(r.test_failover_ready_s)} ${verdict('test_failover_ready_s')}; ${String(r.disk_gib)} GiB disk, ${String(r.data_mib)} MiB of data; runs ${String(r.test_failover_ready_runs_s)}; steps (ms) ${JSON.stringify(r.test_failover_steps_ms)}`)
  out(`  ready_ratio_20g_vs_1g: ${String(r.ready_ratio_20g_vs_1g)} ${verdict('ready_ratio_20g_vs_1g')}; ${String(r.disk_small_gib)} GiB disk: ${String(r.test_failover_ready_1g_s)} s, runs ${String(r.test_failover_ready_1g_runs_s)}`)
  out(`  unplanned_failover_ready_s: ${String(r.unplanned_failover_ready_s)} ${verdict('unplanned_failover_ready_s')}; runs ${String(r.unplanned_failover_ready_runs_s)}; ${String(r.disk_small_gib)} GiB disk ${String(r.unplanned_failover_ready_1g_s)} s (ratio ${String(r.unplanned_ratio_20g_vs_1g)}); steps (ms) ${JSON.stringify(r.unplanned_failover_steps_ms)}`)
  const f = r.failback
  out(`  failback_bytes_vs_differing: ${String(r.failback_bytes_vs_differing)} ${verdict('failback_bytes_vs_differing')}; ${f.sent_changed_mib} MiB of blocks sent (${f.sent_wire_mib} MiB on the wire, ${f.wire_vs_differing}x) for ${f.differing_mib} MiB of blocks that differ`)
  out(`  failback_time_vs_full_copy: ${String(r.failback_time_vs_full_copy)} ${verdict('failback_time_vs_full_copy')}; reverse ${f.reverse_s} s (the command ${f.reverse_command_s} s) vs the full copy ${f.full_copy_s} s; parts (s) ${JSON.stringify(f.parts_s)}`)
  out(`    first test failover of the daemon (KVM probe included): ${r.first_test_failover_s} s; its guest READY (booted, served disk found) after ${String(r.first_guest_ready_s)} s`)
  out(`    references: tandem vm start of the guest on a local disk ${String(r.ref_vm_start_s)} s; tandem points ${String(r.ref_cli_points_s)} s; qemu-img info ${String(r.ref_qemu_img_info_ms)} ms; raw read of 64 MiB ${String(r.ref_raw_read_64mib_ms)} ms`)
  out(`    set-up: initial copy ${String(r.initial_copy_s)} s (${String(r.initial_sent_mib)} MiB sent), cycles ${String(r.delta_cycles_s)} s; ${String(r.changed_since_point_mib)} MiB rewritten since the point`)
  out(JSON.stringify(r))
}

await runBench(main)
