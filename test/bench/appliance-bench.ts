/**
 * `npm run bench:appliance`: two real daemons (`tandem start` children,
 * their data directories in a work dir, loopback only), paired through the
 * CLI, measured as an operator would see them.
 *
 *   achieved_rpo_p95_s  the test guest (qemu driver, TCG) writing steadily,
 *                       replicated every TANDEM_BENCH_FREQUENCY (30 s); every
 *                       second, the age of the newest recovery point the
 *                       Replica lists (now - its snapshot time); p95 over at
 *                       least TANDEM_BENCH_CYCLES (10) cycles after the initial
 *                       replication. Target <= 40 at 30 s.
 *   idle_cycle_ms       a tracked cycle of a running qemu VM whose guest writes
 *                       nothing: end - start of the cycle record in the
 *                       primary's event log; median of the idle cycles.
 *   daemon_rss_mib      VmRSS of the primary daemon's process with 10
 *                       relationships (manual-driver VMs, small disks) after
 *                       their initial replication; the largest sample over one
 *                       frequency period. Target < 200. The Replica's beside it.
 *
 * The CLI does every setup step (init, start, pair, vm add/start, replication
 * enable); the once-a-second sampling uses the daemons' local API directly
 * (the same calls the CLI makes), so that starting a CLI process each second
 * does not load the two cores the daemons and QEMU share.
 *
 * Progress goes to stderr; a summary and, last, one JSON line go to stdout.
 * Environment: TANDEM_BENCH_DIR (work dir parent), TANDEM_BENCH_CYCLES
 * (default 10), TANDEM_BENCH_FREQUENCY (default 30s; 5s for a quick trial:
 * figures are comparable only at the defaults). It stops its QEMUs and
 * daemons by pid and removes its files on success, failure and Ctrl-C.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { cpus, release } from 'node:os'
import { open, readFile, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { EventInfo, ReplicationInfo, VmInfo } from '../../appliance/service/index.ts'
import { ensureTestGuest } from '../helpers/guest/build-guest.ts'
import { BenchFailed, checkStop, cli, inWorkDir, runBench, startPairedBoxes, until as untilIn, type BenchRun, type Box } from './bench-boxes.ts'
import { MIB, envNumber, median, note, round, runTool } from './measure.ts'

const CYCLES = Math.max(1, Math.round(envNumber('TANDEM_BENCH_CYCLES', 10)))
const FREQUENCY = process.env.TANDEM_BENCH_FREQUENCY ?? '30s'
/** The idle phase needs cycles, not a realistic schedule: at most 5 s between them keeps the run short. */
const IDLE_CYCLES = 5
/** Relationships of the memory phase. */
const RSS_RELATIONSHIPS = 10
/** The test guest's disk: sparse, written by the guest at random 4 KiB-aligned offsets. */
const GUEST_DISK_BYTES = 256 * MIB
/** Each manual VM's disk: small, 4 MiB of it random, the rest zeros. */
const SMALL_DISK_BYTES = 32 * MIB
/** The idle guest's pause between writes (microseconds): it writes once after boot, then sleeps for ~33 min. */
const IDLE_DELAY_US = 2_000_000_000
/** How often the sampler looks. */
const SAMPLE_MS = 1_000
/** Slack on every wait for cycles, beyond the cycles' own schedule: a TCG boot plus an initial replication. */
const MAX_SLACK_MS = 180_000

/** A daemon's last log lines shown when the bench fails. */
const LOG_LINES_SHOWN = Number(process.env.TANDEM_BENCH_LOG_LINES ?? 15)

const TARGETS = {
  achieved_rpo_p95_s: { op: '<=', value: 40 },
  daemon_rss_mib: { op: '<', value: 200 }
} as const

function parseDuration (text: string): number {
  const m = /^([1-9][0-9]*)(s|m)$/.exec(text)
  if (m === null) throw new BenchFailed(`TANDEM_BENCH_FREQUENCY must be like 30s or 1m, got "${text}"`)
  return Number(m[1]) * (m[2] === 'm' ? 60_000 : 1_000)
}

const FREQUENCY_MS = parseDuration(FREQUENCY)
const IDLE_FREQUENCY = FREQUENCY_MS <= 5_000 ? FREQUENCY : '5s'

function percentile (values: number[], p: number): number {
  if (values.length === 0) throw new BenchFailed('no samples')
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)]!
}

/** VmRSS of a process, MiB (/proc/PID/status gives kB). */
async function rssMib (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
  if (kb === undefined) throw new BenchFailed(`no VmRSS for pid ${pid}`)
  return Number(kb) / 1024
}

const cycleEnds = (events: EventInfo[]): Array<{ start: number, end: number, bytesChanged: number, outcome: string }> =>
  events.filter(e => e.kind === 'cycle' && e.phase === 'end' && e.data !== undefined)
    .map(e => ({ ...(e.data as { start: number, end: number, bytesChanged: number }), outcome: e.outcome ?? 'none' }))

async function main (run: BenchRun): Promise<void> {
  const guest = await ensureTestGuest({ signal: run.signal })
  const { qemuPids } = run
  const until = <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> => untilIn(run, what, timeoutMs, probe)
  await inWorkDir(run, 'tandem-bench-appliance-', LOG_LINES_SHOWN, async dir => {
    note(`work dir ${dir}; frequency ${FREQUENCY}, ${CYCLES} cycles`)
    const [primary, replica]: [Box, Box] = await startPairedBoxes(dir, run, process.env.TANDEM_BENCH_LOG_LEVEL ?? 'warn')
    const rssBaseline = { primary: await rssMib(primary.pid), replica: await rssMib(replica.pid) }

    const addGuest = async (name: string, kernelArgs: string): Promise<VmInfo> => {
      checkStop(run)
      const disk = join(dir, `${name}.raw`)
      await writeFile(disk, '')
      await truncate(disk, GUEST_DISK_BYTES)
      await cli(primary, ['vm', 'add', name, '--disk', disk, '--memory', '128', '--kernel', guest.kernel, '--initrd', guest.initrd, '--append', `console=ttyS0 panic=-1 quiet ${kernelArgs}`])
      const vm = JSON.parse(await cli(primary, ['vm', 'start', name, '--json'])) as VmInfo
      if (vm.pid !== null) qemuPids.add(vm.pid)
      return vm
    }
    const status = async (name: string): Promise<ReplicationInfo> => (await primary.api.replicationStatus(name))[0]!
    const initialDone = (name: string): Promise<ReplicationInfo> =>
      until(`${name}'s initial replication`, MAX_SLACK_MS, async () => { const s = await status(name); return s.lastReplicationTime !== null ? s : undefined })
    const removeGuest = async (name: string, pid: number | null): Promise<void> => {
      checkStop(run)
      await cli(primary, ['replication', 'remove', name, '--yes'])
      await cli(primary, ['vm', 'stop', name, '--timeout', '1s', '--force'])
      if (pid !== null) qemuPids.delete(pid)
      await cli(primary, ['vm', 'remove', name])
    }

    // 1. Achieved RPO: the guest writes steadily (default: a 4-64 KiB write every 20 ms of guest time).
    note(`RPO phase: the test guest writing, replicated every ${FREQUENCY}`)
    const writer = await addGuest('writer', '')
    await cli(primary, ['replication', 'enable', 'writer', '--to', replica.peerId, '--frequency', FREQUENCY, '--recovery-points', '0'])
    await initialDone('writer')
    const newestPoint = async (): Promise<{ id: number, time: number } | undefined> => {
      const pts = (await replica.api.points('writer')).points
      const last = pts[pts.length - 1]
      return last === undefined ? undefined : { id: last.id, time: Date.parse(last.time) }
    }
    const first = await until('the initial point on the Replica', MAX_SLACK_MS, newestPoint)
    note(`initial replication done (point ${first.id}); sampling every second for ${CYCLES} cycles`)
    const rpoSamples: number[] = []
    const primaryRpoSamples: number[] = []
    const seen = new Set<number>([first.id])
    const rpoDeadline = Date.now() + (CYCLES + 2) * FREQUENCY_MS + MAX_SLACK_MS
    while (seen.size <= CYCLES) {
      checkStop(run)
      if (Date.now() > rpoDeadline) throw new BenchFailed(`only ${seen.size - 1} cycles reached the Replica in time`)
      const [p, s] = await Promise.all([newestPoint(), status('writer')])
      const now = Date.now()
      if (p !== undefined) {
        if (!seen.has(p.id)) { seen.add(p.id); note(`  cycle ${seen.size - 1}/${CYCLES}: point ${p.id}`) }
        rpoSamples.push((now - p.time) / 1000)
      }
      if (s.achievedRpo.currentMs !== null) primaryRpoSamples.push(s.achievedRpo.currentMs / 1000)
      await sleep(SAMPLE_MS)
    }
    const writerCycles = cycleEnds((await primary.api.listEvents({ name: 'writer', last: 1000 })).events).filter(c => c.outcome === 'ok').slice(1)
    const writerAccel = (await primary.api.vmList()).find(v => v.name === 'writer')?.accel ?? null
    await removeGuest('writer', writer.pid)

    // 2. Idle tracked cycles: the guest writes once after boot, then sleeps.
    note(`idle phase: a running guest that writes nothing, replicated every ${IDLE_FREQUENCY}`)
    const idle = await addGuest('idle', `tandem.delay=${IDLE_DELAY_US}`)
    await cli(primary, ['replication', 'enable', 'idle', '--to', replica.peerId, '--frequency', IDLE_FREQUENCY, '--recovery-points', '0'])
    await initialDone('idle')
    const idleCycles = await until(`${IDLE_CYCLES} idle cycles`, (IDLE_CYCLES + 4) * parseDuration(IDLE_FREQUENCY) + MAX_SLACK_MS, async () => {
      // The first record is the initial replication; a changed cycle (the guest's one write) is not idle.
      const cycles = cycleEnds((await primary.api.listEvents({ name: 'idle', last: 1000 })).events).slice(1)
        .filter(c => c.outcome === 'ok' && c.bytesChanged === 0)
      return cycles.length >= IDLE_CYCLES ? cycles : undefined
    })
    const idleDisk = join(dir, 'idle.raw')
    const qemuImgInfo: number[] = []
    const rawRead: number[] = []
    for (let i = 0; i < 3; i++) {
      qemuImgInfo.push((await runTool('qemu-img', ['info', '-U', idleDisk])).seconds * 1000)
      rawRead.push(await readWhole(idleDisk))
    }
    await removeGuest('idle', idle.pid)

    // 3. Memory with 10 relationships.
    note(`memory phase: ${RSS_RELATIONSHIPS} manual VMs replicated every ${FREQUENCY}`)
    const names = Array.from({ length: RSS_RELATIONSHIPS }, (_, i) => `small${i}`)
    for (const name of names) {
      checkStop(run)
      const disk = join(dir, `${name}.raw`)
      const h = await open(disk, 'w')
      try {
        await h.truncate(SMALL_DISK_BYTES)
        await h.write(randomBytes(4 * MIB), 0, 4 * MIB, MIB)
      } finally { await h.close() }
      await cli(primary, ['vm', 'add', name, '--disk', disk, '--driver', 'manual'])
      await cli(primary, ['replication', 'enable', name, '--to', replica.peerId, '--frequency', FREQUENCY, '--recovery-points', '0'])
    }
    await until('every initial replication', MAX_SLACK_MS + RSS_RELATIONSHIPS * 10_000, async () => {
      const all = await primary.api.replicationStatus()
      return all.length === RSS_RELATIONSHIPS && all.every(s => s.lastReplicationTime !== null) ? true : undefined
    })
    note(`all ${RSS_RELATIONSHIPS} initial replications done; sampling VmRSS every second for ${FREQUENCY}`)
    const rss = { primary: [] as number[], replica: [] as number[] }
    const rssEnd = Date.now() + FREQUENCY_MS
    while (Date.now() < rssEnd) {
      checkStop(run)
      rss.primary.push(await rssMib(primary.pid))
      rss.replica.push(await rssMib(replica.pid))
      await sleep(SAMPLE_MS)
    }

    const qemuVersion = /version ([0-9.]+)/.exec(spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? null
    const cycleMs = writerCycles.map(c => c.end - c.start)
    const result = {
      achieved_rpo_p95_s: round(percentile(rpoSamples, 95), 1),
      idle_cycle_ms: Math.round(median(idleCycles.map(c => c.end - c.start))),
      daemon_rss_mib: round(Math.max(...rss.primary), 1),
      replica_rss_mib: round(Math.max(...rss.replica), 1),
      frequency_s: FREQUENCY_MS / 1000,
      cycles: seen.size - 1,
      rpo_samples: rpoSamples.length,
      achieved_rpo_median_s: round(median(rpoSamples), 1),
      achieved_rpo_max_s: round(Math.max(...rpoSamples), 1),
      primary_current_rpo_p95_s: primaryRpoSamples.length > 0 ? round(percentile(primaryRpoSamples, 95), 1) : null,
      rpo_cycle_ms_median: cycleMs.length > 0 ? Math.round(median(cycleMs)) : null,
      rpo_cycle_ms_max: cycleMs.length > 0 ? Math.max(...cycleMs) : null,
      rpo_changed_mb_median: writerCycles.length > 0 ? round(median(writerCycles.map(c => c.bytesChanged)) / 1e6, 2) : null,
      idle_cycles_ms: idleCycles.map(c => c.end - c.start),
      idle_frequency_s: parseDuration(IDLE_FREQUENCY) / 1000,
      ref_qemu_img_info_ms: Math.round(median(qemuImgInfo)),
      ref_raw_read_ms: Math.round(median(rawRead)),
      guest_disk_mib: GUEST_DISK_BYTES / MIB,
      rss_relationships: RSS_RELATIONSHIPS,
      daemon_rss_median_mib: round(median(rss.primary), 1),
      replica_rss_median_mib: round(median(rss.replica), 1),
      ref_rss_no_relationship_mib: { primary: round(rssBaseline.primary, 1), replica: round(rssBaseline.replica, 1) },
      cores: cpus().length,
      accel: writerAccel,
      qemu: qemuVersion,
      node: process.version,
      kernel: release()
    }
    const out = (s: string): void => { process.stdout.write(s + '\n') }
    const verdict = (k: keyof typeof TARGETS): string => {
      const t = TARGETS[k]
      const v = result[k]
      const met = t.op === '<=' ? v <= t.value : v < t.value
      return `(target ${t.op} ${t.value}: ${met ? 'met' : 'NOT met'})`
    }
    out(`appliance benchmark: ${result.cores} cores, guest under ${String(result.accel).toUpperCase()}, QEMU ${String(qemuVersion)}, Node ${process.version}`)
    out(`  achieved_rpo_p95_s: ${result.achieved_rpo_p95_s} ${verdict('achieved_rpo_p95_s')}; frequency ${result.frequency_s} s, ${result.cycles} cycles, ${result.rpo_samples} samples, median ${result.achieved_rpo_median_s} s, max ${result.achieved_rpo_max_s} s`)
    out(`    reference: the frequency ${result.frequency_s} s plus a cycle (median ${String(result.rpo_cycle_ms_median)} ms, max ${String(result.rpo_cycle_ms_max)} ms, ${String(result.rpo_changed_mb_median)} MB changed); the primary's achievedRpo.currentMs p95 ${String(result.primary_current_rpo_p95_s)} s`)
    out(`  idle_cycle_ms: ${result.idle_cycle_ms} (median of ${idleCycles.length}: ${result.idle_cycles_ms.join(', ')})`)
    out(`    reference: qemu-img info ${result.ref_qemu_img_info_ms} ms; a raw read of the ${result.guest_disk_mib} MiB disk ${result.ref_raw_read_ms} ms`)
    out(`  daemon_rss_mib: ${result.daemon_rss_mib} ${verdict('daemon_rss_mib')}; the Replica's ${result.replica_rss_mib} (${RSS_RELATIONSHIPS} relationships; medians ${result.daemon_rss_median_mib} / ${result.replica_rss_median_mib})`)
    out(`    reference: with no relationship ${result.ref_rss_no_relationship_mib.primary} / ${result.ref_rss_no_relationship_mib.replica} MiB`)
    out(JSON.stringify(result))
  })
}

/** Milliseconds to read a whole file (page cache as it is: the cycle would find it the same way). */
async function readWhole (path: string): Promise<number> {
  const t0 = performance.now()
  const h = await open(path, 'r')
  try {
    const buf = Buffer.allocUnsafe(4 * MIB)
    while ((await h.read(buf, 0, buf.length, null)).bytesRead > 0) { /* read on */ }
  } finally { await h.close() }
  return performance.now() - t0
}

await runBench(main)
