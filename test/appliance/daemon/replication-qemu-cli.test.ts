/**
 * A qemu-driver VM replicated end to end, driven only through the CLI: two
 * `tandem start` processes on loopback; the busybox test guest (direct
 * kernel boot, TCG) is added with a raw disk and started, replication is
 * enabled every 2 s while the guest writes, so several live cycles (point
 * in time views, dirty bitmaps) commit; then the VM is stopped (forced:
 * the guest ignores ACPI) so its disk file is final, and the next cycle
 * reads it offline. On the Replica every retained point verifies and the
 * newest restores byte-exact to the stopped VM's disk.
 *
 * The first cycle asks for an app-consistent point (`--app-consistent-every`)
 * of a guest without an agent: it is crash-consistent, with a reason.
 * Pending bytes are a count while the tracked VM runs, unknown once it stops.
 */
import t from 'tap'
import { join } from 'node:path'
import type { BoxReplicationStatus } from '../../../appliance/cli/replication.ts'
import type { EventsResult, PairOpenResult, PointsResult, ReplicationInfo, ReplicationMeasureInfo, StatusInfo, VmInfo } from '../../../appliance/service/index.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { cycleBegin, cycleEnd, cycleOk, eventLine, lineCount, type LoggedEvent } from '../../helpers/event-log-wait.ts'
import { fileHash, sparseFile, tempDir } from '../../helpers/fixtures.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { startDaemon, tandem, tandemAt, type RunningDaemon, tandemJsonAt } from '../../helpers/tandem-cli.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])

const MiB = 2 ** 20
const DISK_SIZE = 16 * MiB
/** Live cycles that must commit while the guest writes before it is stopped. */
const LIVE_CYCLES = 3

const json = tandemJsonAt

const dataOf = (e: LoggedEvent): Record<string, unknown> => (e.data ?? {}) as Record<string, unknown>

t.test('a running qemu VM replicates with tracked live cycles; the stopped disk restores byte-exact', async t => {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const p = join(root, 'p')
  const r = join(root, 'r')
  t.equal((await tandemAt(p, ['init', '--name', 'box-p', '--listen', '/ip4/127.0.0.1/tcp/0'])).status, 0)
  t.equal((await tandemAt(r, ['init', '--name', 'box-r', '--listen', '/ip4/127.0.0.1/tcp/0'])).status, 0)
  const daemons: { p?: RunningDaemon, r?: RunningDaemon } = {}
  const pids: number[] = []
  t.teardown(async () => {
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
    await daemons.p?.stop()
    await daemons.r?.stop()
  })
  daemons.p = await startDaemon(p)
  daemons.r = await startDaemon(r)
  const open = await json<PairOpenResult>(r, ['pair', 'open'])
  t.equal((await tandemAt(p, ['pair', 'join', '--pin', open.pin!, '--addr', open.addresses[0]!])).status, 0, 'paired')

  const disk = join(root, 'guest.raw')
  await sparseFile(disk, DISK_SIZE)
  await json<VmInfo>(p, ['vm', 'add', 'guest', '--disk', disk, '--memory', '128', '--kernel', guest.kernel, '--initrd', guest.initrd, '--append', 'console=ttyS0 panic=-1 quiet'])
  const started = await json<VmInfo>(p, ['vm', 'start', 'guest'])
  t.equal(started.state, 'running')
  pids.push(started.pid!)

  const enabled = await json<ReplicationInfo>(p, ['replication', 'enable', 'guest', '--to', 'box-r', '--frequency', '2s', '--app-consistent-every', '1m'])
  t.equal(enabled.state, 'waiting-initial-replication')

  // The guest writes all along; wait for the initial cycle and LIVE_CYCLES more, all live.
  let seen = await eventLine(p, cycleOk, 0)
  for (let i = 0; i < LIVE_CYCLES; i++) seen = await eventLine(p, cycleOk, seen)
  // Tracked now: the running VM's pending bytes are its dirty bitmaps' count (a cycle may be in flight: still a count).
  const running = await json<BoxReplicationStatus>(p, ['replication', 'status', 'guest'])
  t.type(running.primary[0]!.dataAtRisk.bytes, 'number', 'pending bytes of the running, tracked VM are known')
  t.type((await json<ReplicationMeasureInfo>(p, ['replication', 'measure', 'guest'])).pendingSizeBytes, 'number', 'in measure too')

  // The disk's content made final: the guest ignores ACPI, so the stop is forced (QEMU quits, closing the disk cleanly).
  const stopped = await json<VmInfo>(p, ['vm', 'stop', 'guest', '--force', '--timeout', '1s'])
  t.equal(stopped.state, 'stopped')
  const final = await fileHash(disk)
  t.equal((await json<BoxReplicationStatus>(p, ['replication', 'status', 'guest'])).primary[0]!.dataAtRisk.bytes, null, 'unknown once the VM is stopped')
  t.match((await tandemAt(p, ['replication', 'measure', 'guest'])).stdout, /unknown pending/, 'the text says so')
  // The next cycle that begins after the stop reads the disk offline (one in flight at the stop may end either way).
  await eventLine(p, cycleOk, await eventLine(p, cycleBegin, await lineCount(p)))

  const cycles = (await json<EventsResult>(p, ['events', 'guest', '--last', '1000'])).events.filter(e => cycleEnd(e as unknown as LoggedEvent))
  const ok = cycles.filter(e => e.outcome === 'ok')
  t.ok(ok.length >= LIVE_CYCLES + 2, `initial, ${LIVE_CYCLES} live and one offline cycle committed`)
  t.match(dataOf(ok[0] as unknown as LoggedEvent), { appConsistentRequested: true, appConsistentSucceeded: false, consistency: 'crash', tracked: false }, 'app-consistency asked of a guest without an agent: crash-consistent; the first point reads every block')
  t.type(dataOf(ok[0] as unknown as LoggedEvent).untrackedReason, 'string', 'and says why')
  t.match(ok[0]!.reason, /crash-consistent: ./, 'the cycle\'s reason says why it is not app-consistent')
  for (const c of ok.slice(1, 1 + LIVE_CYCLES)) {
    const d = dataOf(c as unknown as LoggedEvent)
    t.equal(d.tracked, true, 'a live cycle read only the blocks its dirty bitmap named')
    t.ok((d.bytesChanged as number) < DISK_SIZE, 'and changed less than the disk')
  }
  t.equal(dataOf(ok.at(-1) as unknown as LoggedEvent).tracked, false, 'the offline cycle compared every block')
  const measured = await json<ReplicationMeasureInfo>(p, ['replication', 'measure', 'guest'])
  t.ok(measured.successCount >= ok.length, 'measure counts the committed cycles')
  // The interval (1m) counts from the last attempt: the first cycle asks and gets a crash-consistent point, the cycles within the minute after it do not ask.
  const askedAndMissed = cycles.filter(c => c.outcome !== 'interrupted' && c.data?.appConsistentRequested === true && c.data.appConsistentSucceeded === false).length
  t.ok(askedAndMissed >= 1 && measured.appConsistentFailureCount >= askedAndMissed, 'measure counts the app-consistent requests that got crash-consistent points')
  const firstStart = dataOf(ok[0] as unknown as LoggedEvent).start as number
  const withinMinute = ok.slice(1).filter(c => (dataOf(c as unknown as LoggedEvent).start as number) < firstStart + 60_000)
  t.same(withinMinute.map(c => dataOf(c as unknown as LoggedEvent).appConsistentRequested), withinMinute.map(() => false), 'no cycle within the interval asks again')

  const peerId = (await json<StatusInfo>(p, ['status'])).peerId
  // `replication status` on each box: the primary's own relationship with its cycles' health; the Replica's held one.
  const onP = await json<BoxReplicationStatus>(p, ['replication', 'status'])
  // (its health may warn of missed intervals when a loaded machine slows a 2 s cycle under TCG)
  t.match(onP, { primary: [{ vm: 'guest', role: 'primary', state: 'replicating', health: /^(normal|warning)$/, healthRule: /^(ok|missed-warning)$/ }], replica: [] }, 'the primary lists its relationship')
  t.type(onP.primary[0]!.lastReplicationTime, 'string')
  t.type(onP.primary[0]!.achievedRpo.currentMs, 'number')
  const onR = await json<BoxReplicationStatus>(r, ['replication', 'status'])
  t.match(onR, { primary: [], replica: [{ vm: 'guest', role: 'replica', peer: peerId, state: 'replicating', health: 'normal', healthRule: 'ok' }] }, 'the Replica lists the relationship it holds, not as a primary one')
  t.type(onR.replica[0]!.lastReplicationTime, 'string')
  t.type(onR.replica[0]!.achievedRpoMs, 'number')
  t.type(onR.replica[0]!.healthReason, 'string')
  const byName = await json<BoxReplicationStatus>(r, ['replication', 'status', 'guest'])
  t.match(byName, { primary: [], replica: [{ vm: 'guest', role: 'replica' }] }, 'by name')
  t.equal(byName.replica.length, 1)
  const text = await tandemAt(r, ['replication', 'status'])
  t.match(text.stdout, /^guest \(guest\) {2}Replica of /m, 'the text names the Replica relationship')
  t.notMatch(text.stdout, /primary →/, 'and shows no primary entry on the Replica')
  t.equal((await tandemAt(r, ['replication', 'status', 'other'])).code, 'APP_RELATIONSHIP_NOT_FOUND')
  t.equal((await tandemAt(r, ['replication', 'measure', 'guest'])).code, 'APP_RELATIONSHIP_NOT_FOUND', 'measure is the primary\'s (its cycle records)')

  // The Replica's points through its daemon, once the primary has stopped (no cycle commits meanwhile).
  await daemons.p.stop()
  const points = await json<PointsResult>(r, ['points', 'guest'])
  t.equal(points.peer, peerId)
  t.ok(points.points.length >= 2, 'retained points')
  const first = points.points[0]!
  t.equal(first.consistency, 'crash')
  t.type(first.consistencyNote, 'string', 'the oldest point says why it is not app-consistent')

  // The offline tools read the store once no daemon writes it (a read-only open while the
  // Replica receives is CORE_STORE_UNAVAILABLE, docs/cli.md).
  await daemons.r.stop()
  const store = join(r, 'store', peerId, 'guest')
  const offline = JSON.parse((await tandem(['points', '--store', store, '--json'])).stdout) as { points: Array<{ id: number }> }
  t.same(offline.points.map(x => x.id), points.points.map(x => x.id), 'the store holds the points the daemon listed')
  const verify = await tandem(['verify', '--store', store, '--point', 'all'])
  t.equal(verify.status, 0, `every retained point verifies: ${verify.stdout}${verify.stderr}`)
  const out = join(root, 'restored.raw')
  const restored = await tandem(['restore', '--store', store, '--point', 'latest', '--out', out])
  t.equal(restored.status, 0, restored.stderr)
  t.equal(await fileHash(out), final, 'the newest point is the stopped VM\'s disk, byte for byte')
})
