/**
 * Replication end-to-end: two `tandem start` processes on loopback, driven
 * only through the CLI. The primary protects a manual-driver VM whose disk
 * changes between cycles; the Replica daemon is killed (-9) in the middle of
 * a cycle and restarted, then the primary daemon is: the relationship goes
 * on each time, and every retained point on the Replica verifies and
 * restores byte-exact to one of the disk's states, the newest to the last.
 *
 * The VM is added with `tandem vm add --driver manual`; the Replica
 * records the relationship offer before the first cycle.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import type { ReplicationInfo, ReplicationMeasureInfo, StatusInfo } from '../../../appliance/service/index.ts'
import { fileHash, scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import type { BoxReplicationStatus } from '../../../appliance/cli/replication.ts'
import { cycleBegin, cycleOk, eventLine, lineCount } from '../../helpers/event-log-wait.ts'
import { addManualVm, pairedDaemons, startDaemon, tandem, tandemAt, tandemJsonAt } from '../../helpers/tandem-cli.ts'

const BS = 65536
const SIZE = 64 * 1024 * 1024

const json = tandemJsonAt

t.test('replication through the CLI survives kill -9 of either daemon mid-cycle', async (t: Test) => {
  const root = await tempDir(t)
  const disk = join(root, 'disk0.img')
  await sparseFile(disk, SIZE)
  await writePatches(disk, scatteredPatches(1, SIZE, 16, BS))
  const states = new Set([await fileHash(disk)])
  const { p, r, daemons } = await pairedDaemons(t, root)
  await addManualVm(p, 'vm1', disk)

  const usage = await tandemAt(p, ['replication', 'enable', 'vm1'])
  t.equal(usage.status, 2, 'enable without --to is a usage error')
  const badSetting = await tandemAt(p, ['replication', 'enable', 'vm1', '--to', 'box-r', '--frequency', 'often'])
  t.equal(badSetting.code, 'APP_SETTING_INVALID')

  const enable = await tandemAt(p, ['replication', 'enable', 'vm1', '--to', 'box-r', '--frequency', '2s', '--json'])
  t.equal(enable.status, 0, enable.stderr)
  t.equal((JSON.parse(enable.stdout) as ReplicationInfo).state, 'waiting-initial-replication')
  let seen = await eventLine(p, cycleOk, 0)
  t.equal((await json<BoxReplicationStatus>(p, ['replication', 'status', 'vm1'])).primary[0]!.state, 'replicating')

  // A large change; the Replica is killed as soon as the next cycle begins, then started again.
  await writePatches(disk, scatteredPatches(2, SIZE, 64, 8 * BS))
  states.add(await fileHash(disk))
  seen = await eventLine(p, cycleBegin, seen)
  daemons.r.child.kill('SIGKILL')
  await daemons.r.done
  daemons.r = await startDaemon(r)
  seen = await eventLine(p, cycleOk, seen)

  // Again, killing the primary this time; after restart its relationship goes on.
  await writePatches(disk, scatteredPatches(3, SIZE, 64, 8 * BS))
  states.add(await fileHash(disk))
  seen = await eventLine(p, cycleBegin, seen)
  daemons.p.child.kill('SIGKILL')
  await daemons.p.done
  daemons.p = await startDaemon(p)
  seen = await eventLine(p, cycleOk, await lineCount(p))
  const [status] = (await json<BoxReplicationStatus>(p, ['replication', 'status'])).primary
  t.equal(status!.state, 'replicating', 'the relationship goes on after the restart')

  // The disk stops changing; one more cycle holds its last state.
  await eventLine(p, cycleOk, seen)
  const last = await fileHash(disk)
  const m = await json<ReplicationMeasureInfo>(p, ['replication', 'measure', 'vm1'])
  t.ok(m.successCount >= 3, 'measure counts the successful cycles')
  const text = await tandemAt(p, ['replication', 'status'])
  t.match(text.stdout, /vm1 .*box|vm1/, 'the text status names the VM')

  const unconfirmed = await tandemAt(p, ['replication', 'remove', 'vm1'])
  t.equal(unconfirmed.code, 'APP_CONFIRMATION_REQUIRED')
  await daemons.p.stop()
  await daemons.r.stop()

  // Every retained point verifies and restores to one of the disk's states; the newest to the last.
  const peerId = (await json<StatusInfo>(p, ['status'])).peerId
  const store = join(r, 'store', peerId, 'vm1')
  const verify = await tandem(['verify', '--store', store])
  t.equal(verify.status, 0, `every retained point verifies: ${verify.stdout}${verify.stderr}`)
  const { points } = JSON.parse((await tandem(['points', '--store', store, '--json'])).stdout) as { points: Array<{ id: number }> }
  t.ok(points.length >= 1)
  for (const point of points) {
    const out = join(root, `restored-${point.id}.img`)
    const restored = await tandem(['restore', '--store', store, '--point', String(point.id), '--out', out])
    t.equal(restored.status, 0, restored.stderr)
    t.ok(states.has(await fileHash(out)), `point ${point.id} is one of the disk's states`)
  }
  const newest = join(root, 'restored-latest.img')
  t.equal((await tandem(['restore', '--store', store, '--point', 'latest', '--out', newest])).status, 0)
  t.equal(await fileHash(newest), last, 'the newest point is the disk as it is now')
})
