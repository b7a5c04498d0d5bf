/**
 * The failback phase of `npm run bench:failover` (issue 13 "Delta
 * failback"; docs/benchmarks.md "npm run bench:failover", docs/failover.md
 * "Reverse replication", "Salvage", "Delta failback"). It runs after the
 * unplanned failovers, the primary's daemon dead:
 *
 * 1. `failover unplanned VM --yes` to the latest point (the one both boxes
 *    share: the primary's disk was replicated after its last write), then
 *    `failover complete VM --yes`, which returns once the copy into the
 *    VM's own disk is done;
 * 2. the new primary's writes, kept in its change tracking: its VM stopped
 *    (`vm stop --force`: the guest would not shut down; QEMU quits and
 *    stores the dirty bitmap the failover started), NEW_WRITES fresh random
 *    MiB written into its qcow2 with qemu-io (QEMU's tools record their
 *    writes in the image's persistent bitmaps: docs/change-tracking.md
 *    "Offline edits"), then the VM started again (`vm start`) and its
 *    guest's boot waited for (its one write follows), so the reverse cycle is a
 *    live, tracked one and the disk is the same at the moment of the
 *    reversal and when the differing blocks are counted afterwards. (Not
 *    QMP `qemu-io` into the running VM: the daemon holds the VM's only QMP
 *    connection, and this bench drives the daemons from outside.)
 * 3. the old primary's divergent writes, its daemon down: OLD_WRITES fresh
 *    random MiB (OVERLAP of them at the new primary's places) and
 *    SMALL_WRITES 4 KiB writes at offsets that are not block-aligned;
 * 4. the old primary's daemon started again and a cycle asked of it
 *    (`replication resync`): refused by the term check, it stops in
 *    `error` (docs/failover.md "On the primary: it stops and says why");
 * 5. `replication reverse VM` on the new primary, timed from spawning the
 *    command until its first cycle committed (the cycle record's `end`,
 *    taken once the old primary acknowledged the commit);
 * 6. the blocks that differ between the two disks (differing-blocks.ts);
 *    neither changed since step 5 began: the new primary's guest sleeps
 *    after its one write, and the demotion leaves the old primary's disk
 *    file untouched.
 *
 * The parts, from both daemons' event logs (one machine, one clock): the
 * request (the job's `reverseMs`), the salvage copy on the old primary (its
 * `salvage` event's `ms`), the wait before the first cycle's snapshot (its
 * begin event to its record's `start`: the fetch of the old primary's
 * manifests, which waits for the salvage copy's store lock), and the
 * cycle's scan, send and commit (its record's `start` to `end`).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { EventInfo, JobInfo, PointInfo } from '../../appliance/service/index.ts'
import type { CycleRecord } from '../../appliance/events/index.ts'
import { MARKER } from '../helpers/guest/build-guest.ts'
import { startDaemon } from '../helpers/tandem-cli.ts'
import { BenchFailed, checkStop, cli, timedCli, until, type BenchRun, type Box } from './bench-boxes.ts'
import { DIFF_BLOCK_BYTES, differingBlocks } from './differing-blocks.ts'
import { datasyncFile, MIB, note, round, runTool } from './measure.ts'

/** Places written on the new primary, 1 MiB each, spread evenly; every other one in a hole of the disk. */
const NEW_WRITES = 64
/** Places written on the old primary, 1 MiB each; the first OVERLAP are the new primary's places. */
const OLD_WRITES = 128
const OVERLAP = 32
/** 4 KiB writes on the old primary, each inside one block but not aligned to it: a whole block differs for each. */
const SMALL_WRITES = 32
const WRITE_BYTES = 1 * MIB
const SMALL_BYTES = 4096
/** Bound on the copy of `failover complete` (2 GiB of data read back from the Replica's store). */
const TIMEOUT_REFUSAL_MS = 2 * 60_000
/** Bound on the restarted VM's guest boot (TCG: seconds). */
const TIMEOUT_GUEST_BOOT_MS = 2 * 60_000
/** Bound on the old primary's preparation (its disk kept as a point at the refusal: 2 GiB of data read and hashed, 35-55 s here). */
const TIMEOUT_PREPARATION_MS = 10 * 60_000
/** How many events of each log are read to find the reversal's (a few dozen are written during it). */
const EVENTS_READ = 1000

/** The protected VM the phase fails over and back: its disk on the old primary, its size, the latest point, and its full copy's time. */
export interface FailbackVm {
  name: string
  disk: string
  diskBytes: number
  latest: PointInfo
  /** The initial replication of the same disk in the same run, from `replication enable` until its record's end (ms). */
  fullCopyMs: number
}

export interface FailbackFigures {
  failback_bytes_vs_differing: number | null
  failback_time_vs_full_copy: number | null
  failback: {
    differing_mib: number
    compared_blocks: number
    sent_changed_mib: number
    sent_wire_mib: number
    wire_vs_differing: number
    reverse_s: number
    reverse_command_s: number
    full_copy_s: number
    parts_s: Record<string, number | null>
    /** Whether the first cycle read the new primary's disk from change tracking, why not, and the MiB it read. */
    first_cycle_tracked: boolean | null
    first_cycle_untracked_reason: string | null
    first_cycle_read_mib: number | null
    written_new_mib: number
    written_old_mib: number
    complete_s: number
  }
}

/** `count` offsets spread evenly over `diskBytes`, each MiB-aligned, shifted by `shift` bytes. */
function places (diskBytes: number, count: number, shift: number): number[] {
  return Array.from({ length: count }, (_, i) => Math.floor(i * diskBytes / count / MIB) * MIB + shift)
}

/** The new primary's places: every other one shifted into the middle of a stride (the bench's data chunks start each stride). */
function newPlaces (diskBytes: number): number[] {
  return places(diskBytes, NEW_WRITES, 0).map((at, i) => i % 2 === 0 ? at : at + 10 * MIB)
}

/** The old primary's: OVERLAP of the new primary's places, the rest spread on their own, and the small unaligned writes. */
function oldPlaces (diskBytes: number): { big: number[], small: number[] } {
  const big = [...newPlaces(diskBytes).slice(0, OVERLAP), ...places(diskBytes, OLD_WRITES - OVERLAP, 5 * MIB)]
  const small = places(diskBytes, SMALL_WRITES, 15 * MIB + 12_345)
  return { big, small }
}

/** Writes fresh random data into `disk` (a qcow2 or raw image, no process holding it) with qemu-io, one source file per place. */
async function qemuIoWrites (disk: string, format: string, offsets: number[], dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  const commands: string[] = []
  for (const [i, at] of offsets.entries()) {
    const src = join(dir, `w${i}.bin`)
    await writeFile(src, randomBytes(WRITE_BYTES))
    commands.push('-c', `write -q -s ${src} ${at} ${WRITE_BYTES}`)
  }
  await runTool('qemu-io', ['-f', format, ...commands, disk])
  await rm(dir, { recursive: true, force: true })
}

/** Writes fresh random data at each offset of a raw file (`bytes` each), then flushes it. */
async function rawWrites (path: string, offsets: number[], bytes: number): Promise<void> {
  const h = await open(path, 'r+')
  try {
    for (const at of offsets) await h.write(randomBytes(bytes), 0, bytes, at)
  } finally { await h.close() }
  await datasyncFile(path)
}

/**
 * Starts the VM again (`vm start`) and waits until its guest found its disk
 * (its READY line). Its one write follows at once (a few pages, O_DIRECT and
 * fsync'd, within a second under TCG; it prints no line of its own: the
 * bench's guest reports every 16th write), while the reversal comes after
 * the old primary's refusal and preparation, tens of seconds later: so the
 * disk no longer changes from the reversal on.
 */
async function restartVm (run: BenchRun, box: Box, name: string): Promise<void> {
  const serial = join(box.dir, 'vms', name, 'serial.log')
  // QEMU opens its serial log afresh (truncated) before it reports the VM running, when `vm start` returns
  await cli(box, ['vm', 'start', name])
  const pid = (await box.api.vmList()).find(v => v.name === name)?.pid ?? null
  if (pid !== null) run.qemuPids.add(pid)
  const ready = new RegExp(`^${MARKER.ready} `, 'm')
  await until(run, `${name}: the restarted guest's boot`, TIMEOUT_GUEST_BOOT_MS, async () => {
    const text = await readFile(serial, 'utf8').catch(() => '')
    return ready.test(text) ? true : undefined
  })
}

/** `box`'s events of `vm` from `since` (ms) on, oldest first. */
async function eventsSince (box: Box, vm: string, since: number): Promise<EventInfo[]> {
  return (await box.api.listEvents({ name: vm, last: EVENTS_READ })).events.filter(e => Date.parse(e.time) >= since)
}

const ms = (a: number | undefined, b: number | undefined): number | null => a === undefined || b === undefined ? null : round((b - a) / 1000, 2)
const laterOf = (a: number | undefined, b: number | undefined): number | undefined => a === undefined ? b : b === undefined ? a : Math.max(a, b)

/** Restarts the old primary's daemon (killed in the unplanned phase) on its data directory; the run stops it at the end. */
async function restartPrimary (run: BenchRun, primary: Box, logLevel: string): Promise<void> {
  const daemon = await startDaemon(primary.dir, { detached: true, env: { TANDEM_LOG_LEVEL: logLevel } })
  primary.daemon = daemon
  const entry = run.daemons.find(d => d.dir === primary.dir)
  if (entry !== undefined) entry.daemon = daemon
  const st = await primary.api.status()
  if (st.pid !== null) primary.pid = st.pid
}

/** The old primary asked for a cycle: refused by the term check, it stops in `error` with the code. */
async function showRefusal (run: BenchRun, primary: Box, vm: string): Promise<string> {
  const since = Date.now()
  await cli(primary, ['replication', 'resync', vm])
  return await until(run, `${vm}: the old primary's refusal`, TIMEOUT_REFUSAL_MS, async () => {
    const end = (await eventsSince(primary, vm, since)).find(e => e.kind === 'cycle' && e.phase === 'end')
    if (end === undefined) return undefined
    if (end.outcome === 'ok' || (end.code !== 'P2P_FAILED_OVER' && end.code !== 'P2P_STALE_TERM')) {
      throw new BenchFailed(`${vm}: the old primary's cycle ended ${String(end.outcome)} (${end.code ?? 'no code'}), not refused by the term check`)
    }
    return end.code
  })
}

/**
 * The failback phase (the file's comment): `primary` is the old primary
 * (its daemon dead), `replica` the box that fails over and reverses.
 */
export async function measureFailback (b: { run: BenchRun, dir: string, primary: Box, replica: Box, logLevel: string }, vm: FailbackVm): Promise<FailbackFigures> {
  const { run, primary, replica } = b
  checkStop(run)
  note(`failback: unplanned failover of ${vm.name} to its latest point ${vm.latest.id}, then complete (the copy into its own disk)`)
  const up = await timedCli<JobInfo>(replica, ['failover', 'unplanned', vm.name, '--yes'])
  const vmPid = (await replica.api.vmList()).find(v => v.name === vm.name)?.pid ?? null
  if (vmPid !== null) run.qemuPids.add(vmPid)
  if (up.answer.state !== 'ok' || up.answer.failover?.point.id !== vm.latest.id) {
    throw new BenchFailed(`failover unplanned ${vm.name}: job ${up.answer.state} on point ${String(up.answer.failover?.point.id)}: ${up.answer.error?.code ?? ''}`)
  }
  const done = await timedCli<JobInfo>(replica, ['failover', 'complete', vm.name, '--yes'])
  const newDisk = done.answer.failover?.disks[0]?.path
  if (done.answer.state !== 'ok' || newDisk === undefined) throw new BenchFailed(`failover complete ${vm.name}: job ${done.answer.state}: ${done.answer.error?.code ?? ''}`)
  note(`failback: completed in ${done.seconds.toFixed(1)} s; the VM's disk is ${newDisk}`)

  // The new primary's writes, kept in its dirty bitmap (the file's comment, step 2).
  await cli(replica, ['vm', 'stop', vm.name, '--force', '--timeout', '1s'])
  if (vmPid !== null) run.qemuPids.delete(vmPid)
  const format = (JSON.parse((await runTool('qemu-img', ['info', '--output=json', '-U', newDisk])).stdout) as { format: string }).format
  await qemuIoWrites(newDisk, format, newPlaces(vm.diskBytes), join(b.dir, 'new-writes'))
  await restartVm(run, replica, vm.name)
  // The old primary's divergent writes, its daemon down.
  const old = oldPlaces(vm.diskBytes)
  await rawWrites(vm.disk, old.big, WRITE_BYTES)
  await rawWrites(vm.disk, old.small, SMALL_BYTES)
  note(`failback: ${NEW_WRITES} MiB written on the new primary (${format}), ${OLD_WRITES} MiB + ${SMALL_WRITES} x 4 KiB on the old primary (${OVERLAP} MiB at the same places)`)

  await restartPrimary(run, primary, b.logLevel)
  const refused = await showRefusal(run, primary, vm.name)
  note(`failback: the old primary restarted; its cycle refused with ${refused}`)
  // It keeps its disk at once (docs/failover.md "Salvage"); an operator's reverse comes later, so it is timed after that.
  const t1 = Date.now()
  const prepared = await until(run, `${vm.name}: the old primary's preparation`, TIMEOUT_PREPARATION_MS, async () => {
    return (await primary.api.salvageList(vm.name)).find(s => s.prepared && s.state === 'prepared')
  })
  note(`failback: the old primary kept its disk as point ${String(prepared.point)} within ${((Date.now() - t1) / 1000).toFixed(1)} s of its refusal`)

  checkStop(run)
  const t0 = Date.now()
  const rev = await timedCli<JobInfo>(replica, ['replication', 'reverse', vm.name])
  const info = rev.answer.reverse
  const first = info?.firstCycle
  if (rev.answer.state !== 'ok' || info == null || first == null || first.outcome !== 'ok') {
    throw new BenchFailed(`replication reverse ${vm.name}: job ${rev.answer.state}, first cycle ${String(first?.outcome)} (${first?.code ?? rev.answer.error?.code ?? ''})`)
  }
  const mine = await eventsSince(replica, vm.name, t0)
  const cycleBegin = mine.find(e => e.kind === 'cycle' && e.phase === 'begin')
  const cycleEnd = mine.find(e => e.kind === 'cycle' && e.phase === 'end' && e.outcome === 'ok')
  const record = cycleEnd?.data as unknown as CycleRecord | undefined
  if (record === undefined) throw new BenchFailed(`replication reverse ${vm.name}: no committed cycle in the new primary's log`)
  const endData: Record<string, unknown> = cycleEnd?.data ?? {}
  const theirs = await eventsSince(primary, vm.name, t0)
  const salvageBegin = theirs.find(e => e.kind === 'salvage' && e.phase === 'begin')
  const salvageEnd = theirs.find(e => e.kind === 'salvage' && e.phase === 'end')
  const reverseMs = record.end - t0
  note(`failback: reversed in ${(reverseMs / 1000).toFixed(1)} s (the command ${rev.seconds.toFixed(1)} s); salvage ${String(salvageEnd?.data?.ms)} ms; the first cycle ${endData.tracked === true ? 'tracked' : `untracked (${String(endData.untrackedReason)})`}, ${String(endData.bytesRead)} bytes read`)

  note('failback: counting the blocks that differ between the two disks')
  const newRaw = join(b.dir, 'new-primary.raw')
  await runTool('qemu-img', ['convert', '-U', '-f', format, '-O', 'raw', newDisk, newRaw])
  const diff = await differingBlocks(vm.disk, newRaw)
  await rm(newRaw, { force: true })
  const differingBytes = diff.differing * DIFF_BLOCK_BYTES
  const at = (e: EventInfo | undefined): number | undefined => e === undefined ? undefined : Date.parse(e.time)
  return {
    failback_bytes_vs_differing: differingBytes === 0 ? null : round(first.bytesChanged / differingBytes, 3),
    failback_time_vs_full_copy: round(reverseMs / vm.fullCopyMs, 2),
    failback: {
      differing_mib: round(differingBytes / MIB, 2),
      compared_blocks: diff.compared,
      sent_changed_mib: round(first.bytesChanged / MIB, 2),
      sent_wire_mib: round(first.bytesSent / MIB, 2),
      wire_vs_differing: differingBytes === 0 ? 0 : round(first.bytesSent / differingBytes, 3),
      reverse_s: round(reverseMs / 1000, 2),
      reverse_command_s: round(rev.seconds, 2),
      full_copy_s: round(vm.fullCopyMs / 1000, 2),
      parts_s: {
        request: info.timings.reverseMs === null ? null : round(info.timings.reverseMs / 1000, 2),
        salvage_copy: typeof salvageEnd?.data?.ms === 'number' ? round(salvageEnd.data.ms / 1000, 2) : null,
        salvage_begin_after_command: ms(t0, at(salvageBegin)),
        salvage_end_after_command: ms(t0, at(salvageEnd)),
        cycle_begin_after_command: ms(t0, at(cycleBegin)),
        before_snapshot: ms(at(cycleBegin), record.start),
        fetch_after_salvage: ms(laterOf(at(salvageEnd), at(cycleBegin)), record.start),
        scan_send_commit: ms(record.start, record.end),
        first_cycle: info.timings.firstCycleMs === null ? null : round(info.timings.firstCycleMs / 1000, 2)
      },
      first_cycle_tracked: typeof endData.tracked === 'boolean' ? endData.tracked : null,
      first_cycle_untracked_reason: typeof endData.untrackedReason === 'string' ? endData.untrackedReason : null,
      first_cycle_read_mib: typeof endData.bytesRead === 'number' ? round(endData.bytesRead / MIB, 2) : null,
      written_new_mib: NEW_WRITES * WRITE_BYTES / MIB,
      written_old_mib: round((OLD_WRITES * WRITE_BYTES + SMALL_WRITES * SMALL_BYTES) / MIB, 3),
      complete_s: round(done.seconds, 1)
    }
  }
}
