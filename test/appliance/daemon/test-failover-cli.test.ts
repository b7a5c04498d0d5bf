/**
 * Test failover and drills end to end, driven only through the CLI: two
 * `tandem start` processes on loopback; the primary protects a
 * manual-driver VM whose disk the busybox test guest boots (its kernel and
 * initrd named with `vm add --kernel --initrd`, which the Replica learns).
 *
 * - `failover test --dry-run` says what would happen and starts nothing;
 * - `failover test --check` is a drill: a screenshot (a PNG), a time, the
 *   point proven (`points`, `replication status`);
 * - a test runs, the Replica's daemon is killed (-9) with its test VM
 *   running: the restarted daemon stops that QEMU, removes its files and
 *   says so in the event log; a new test works, and `stop-test` leaves
 *   nothing behind;
 * - wrong uses exit with their codes.
 */
import t from 'tap'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pngSize } from '../../../appliance/drivers/qemu/drill/index.ts'
import type { EventsResult, JobInfo, PointsResult, TestFailoverInfo, TestPlanInfo, TestStopPlanInfo } from '../../../appliance/service/index.ts'
import type { BoxReplicationStatus } from '../../../appliance/cli/replication.ts'
import { cycleOk, eventLine } from '../../helpers/event-log-wait.ts'
import { scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { pairedDaemons, startDaemon, tandemAt, tandemJsonAt } from '../../helpers/tandem-cli.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])

const MiB = 2 ** 20
const json = tandemJsonAt

/**
 * Whether the process runs: a QEMU whose daemon was killed is reparented
 * to this machine's init, which may leave it a zombie for a while after it
 * ended (an empty command line).
 */
async function runs (pid: number): Promise<boolean> {
  return (await readFile(`/proc/${pid}/cmdline`).catch(() => Buffer.alloc(0))).length > 0
}

t.test('failover test --check, kill -9 of the Replica with a test VM running, stop-test', async t => {
  const guest = await ensureTestGuest()
  const root = await tempDir(t)
  const disk = join(root, 'tiny.raw')
  await sparseFile(disk, 16 * MiB)
  await writePatches(disk, scatteredPatches(7, 16 * MiB, 8, MiB))
  const { p, r, daemons } = await pairedDaemons(t, root)
  const pids: number[] = []
  t.teardown(() => { for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} } })

  await json(p, ['vm', 'add', 'tiny', '--disk', disk, '--driver', 'manual', '--memory', '128', '--kernel', guest.kernel, '--initrd', guest.initrd, '--append', 'console=ttyS0 panic=-1'])
  await json(p, ['replication', 'enable', 'tiny', '--to', 'box-r', '--frequency', '1h'])
  await eventLine(p, cycleOk, 0)
  const [point] = (await json<PointsResult>(r, ['points', 'tiny'])).points
  t.ok(point, 'the first point reached the Replica')

  // A dry run says what would happen, in words, and starts nothing.
  const dry = await tandemAt(r, ['failover', 'test', 'tiny', '--check', '--serial', 'READY', '--dry-run'])
  t.equal(dry.status, 0, dry.stderr)
  t.match(dry.stdout, /dry run: nothing was started/)
  t.match(dry.stdout, new RegExp(`serve recovery point ${point!.id} of tiny .*the latest`))
  t.match(dry.stdout, /isolated|no NIC/)
  t.match(dry.stdout, /throw-away overlays/)
  t.match(dry.stdout, /replication goes on/)
  t.match(await json<TestPlanInfo>(r, ['failover', 'test', 'tiny', '--dry-run']), { testVm: 'tiny-test', latest: true, check: null })
  t.same(await readdir(join(r, 'failover')), [], 'nothing started')

  // A drill: a PNG, a time, the point proven.
  const drill = await json<JobInfo>(r, ['failover', 'test', 'tiny', '--check', '--serial', '^TANDEM-GUEST-READY pages=\\d+$', '--timeout', '2m'])
  t.match(drill, { kind: 'drill', state: 'ok', drill: { point: point!.id, proof: { sign: 'serial' } } })
  const proof = drill.drill!.proof
  t.ok(pngSize(await readFile(proof.screenshot)).width > 0, 'a PNG of the screen')
  t.ok(proof.signOfLifeMs > 0, 'a time to the sign of life')
  t.same((await json<PointsResult>(r, ['points', 'tiny'])).points[0]!.proven, proof, 'points shows the point proven')
  const status = await tandemAt(r, ['replication', 'status', 'tiny'])
  t.match(status.stdout, new RegExp(`last proven point ${point!.id}`), 'replication status shows the last proven point')
  t.match((await json<BoxReplicationStatus>(r, ['replication', 'status', 'tiny'])).replica[0], { lastProvenPoint: proof, test: null })

  // A test VM runs; the Replica's daemon is killed.
  const test = await json<TestFailoverInfo>(r, ['failover', 'test', 'tiny'])
  t.match(test, { testVm: 'tiny-test', state: 'running', point: { id: point!.id } })
  const runDir = join(r, 'failover', 'tiny', 'test')
  const qemuPid = Number(await readFile(join(runDir, 'qemu.pid'), 'utf8'))
  pids.push(qemuPid)
  await daemons.r.stop('SIGKILL')
  t.ok(await runs(qemuPid), 'the test VM outlived its daemon')

  // The restarted daemon stops it and removes its files, and says so.
  daemons.r = await startDaemon(r)
  t.notOk(await runs(qemuPid), 'the leftover QEMU was stopped')
  t.same(await readdir(join(r, 'failover')), [], 'its overlays and run directory were removed')
  const events = await json<EventsResult>(r, ['events', 'tiny'])
  t.match(events.events.find(e => e.kind === 'test-failover-cleanup'), { reason: /tiny-test .* was stopped, and its overlays and run directory removed/, data: { found: true } })
  t.same(await json(r, ['replication', 'status', 'tiny']).then(s => (s as BoxReplicationStatus).replica[0]!.test), null, 'no test runs after the restart')

  // A new test works, and stop-test leaves nothing.
  const again = await json<TestFailoverInfo>(r, ['failover', 'test', 'tiny', '--point', String(point!.id)])
  t.equal(again.state, 'running')
  const pid2 = Number(await readFile(join(runDir, 'qemu.pid'), 'utf8'))
  pids.push(pid2)
  t.match((await tandemAt(r, ['failover', 'test', 'tiny'])).code, 'APP_INVALID_STATE', 'one test per VM')
  const dryStop = await tandemAt(r, ['failover', 'stop-test', 'tiny', '--dry-run'])
  t.equal(dryStop.status, 0, dryStop.stderr)
  t.match(dryStop.stdout, /^dry run: nothing was stopped\. `tandem failover stop-test tiny` would:/)
  t.match(dryStop.stdout, /stop tiny-test \(running\), powering it off after/)
  t.match(dryStop.stdout, new RegExp(`stop serving recovery point ${point!.id} `))
  t.match(dryStop.stdout, /change nothing of tiny's replication/)
  t.ok(await runs(pid2), 'the dry run stopped nothing')
  t.match(await json<TestStopPlanInfo>(r, ['failover', 'stop-test', 'tiny', '--dry-run', '--json']), { vm: 'tiny', state: 'replicating', runDir, test: { testVm: 'tiny-test', point: { id: point!.id } } })
  const second = await tandemAt(r, ['failover', 'test', 'tiny', '--dry-run'])
  t.same([second.status, second.code], [1, 'APP_INVALID_STATE'], 'a second test is refused, in a dry run too')
  const stopped = await tandemAt(r, ['failover', 'stop-test', 'tiny'])
  t.equal(stopped.status, 0, stopped.stderr)
  t.match(stopped.stdout, /tiny-test and its overlays are gone/)
  t.notOk(await runs(pid2), 'no QEMU left')
  t.same(await readdir(join(r, 'failover')), [], 'no run directory left')
  t.same(await readdir(join(r, 'exports')), [], 'no NBD socket left')
  t.same((await readdir(join(r, 'drills', 'tiny'))).sort(), [proof.screenshot.slice(proof.screenshot.lastIndexOf('/') + 1), 'proofs.json'].sort(), 'only the drill evidence is kept')

  // Wrong uses.
  const none = await tandemAt(r, ['failover', 'stop-test', 'tiny'])
  t.same([none.status, none.code], [1, 'APP_INVALID_STATE'])
  const noneDry = await tandemAt(r, ['failover', 'stop-test', 'tiny', '--dry-run'])
  t.same([noneDry.status, noneDry.code], [1, 'APP_INVALID_STATE'], 'a dry run with no test refuses as the stop does')
  const unknown = await tandemAt(r, ['failover', 'test', 'nope'])
  t.same([unknown.status, unknown.code], [1, 'APP_RELATIONSHIP_NOT_FOUND'])
  const noPoint = await tandemAt(r, ['failover', 'test', 'tiny', '--point', '999'])
  t.same([noPoint.status, noPoint.code], [1, 'APP_POINT_NOT_FOUND'])
  const usage = await tandemAt(r, ['failover', 'test', 'tiny', '--serial', 'x'])
  t.same([usage.status, usage.code], [2, 'APP_USAGE'], '--serial goes with --check')
  const badEvery = await tandemAt(r, ['failover', 'drill-schedule', 'tiny', '--every', '5m'])
  t.same([badEvery.status, badEvery.code], [1, 'APP_SETTING_INVALID'])
})
