/**
 * Initial replication from a seed, end to end: two `tandem start`
 * processes on loopback, driven only through the CLI (docs/seeds.md).
 * `replication enable --initial seed:PATH` writes the seed on the primary;
 * the disk changes after that; `seed import --from PATH` on the Replica
 * commits it as the first point; the primary's first cycle then sends only
 * the blocks that changed since the seed, and the Replica's newest point
 * restores to the disk as it is. Wrong seeds and wrong moments are refused
 * with their codes.
 */
import t, { type Test } from 'tap'
import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { JobInfo, ReplicationInfo, StatusInfo } from '../../../appliance/service/index.ts'
import type { BoxReplicationStatus } from '../../../appliance/cli/replication.ts'
import { fileHash, scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { cycleOk, eventLine, type LoggedEvent } from '../../helpers/event-log-wait.ts'
import { addManualVm, pairedDaemons, tandem, tandemAt, tandemJsonAt } from '../../helpers/tandem-cli.ts'

const BS = 65536
const SIZE = 64 * 1024 * 1024

const json = tandemJsonAt

t.test('initial replication from a seed carried to the Replica', async (t: Test) => {
  const root = await tempDir(t)
  const disk = join(root, 'disk0.img')
  await sparseFile(disk, SIZE)
  await writePatches(disk, scatteredPatches(1, SIZE, 64, 4 * BS))
  const { p, r, daemons } = await pairedDaemons(t, root)
  await addManualVm(p, 'vm1', disk)

  // Enabling writes the seed (the command follows the export job to its end).
  const seed = join(root, 'usb', 'vm1.seed')
  const noDir = await tandemAt(p, ['replication', 'enable', 'vm1', '--to', 'box-r', '--initial', `seed:${join(root, 'missing-dir', 'x.seed')}`])
  t.equal(noDir.status, 1, 'a seed path whose directory does not exist fails the export')
  t.equal((await tandemAt(p, ['replication', 'remove', 'vm1', '--yes'])).status, 0, 'the relationship stood; it is removed again')

  await mkdir(join(root, 'usb'))
  const enabled = await json<ReplicationInfo & { seedExport: JobInfo['seedExport'] }>(p, ['replication', 'enable', 'vm1', '--to', 'box-r', '--frequency', '2s', '--initial', `seed:${seed}`])
  t.equal(enabled.state, 'waiting-initial-replication')
  t.equal(enabled.seedExport?.path, seed, 'the enable reports the seed it wrote')
  t.ok((await stat(seed)).size > 0, 'the seed is on the "USB disk"')
  const seededHash = await fileHash(disk)

  const waiting = (await json<BoxReplicationStatus>(p, ['replication', 'status', 'vm1'])).primary[0]!
  t.equal(waiting.state, 'waiting-initial-replication', 'no cycle runs before the import')
  t.match(waiting.reason, /seed import/, 'the reason says what to run next')

  const again = await tandemAt(p, ['seed', 'export', 'vm1', '--to', seed])
  t.equal(again.code, 'CORE_OUTPUT_EXISTS', 'an existing seed is not overwritten without --force')
  t.equal((await tandemAt(p, ['seed', 'export', 'nope', '--to', seed])).code, 'APP_RELATIONSHIP_NOT_FOUND')

  // The disk changes after the seed was written: the first cycle must carry exactly that.
  await writePatches(disk, scatteredPatches(2, SIZE, 4, BS))

  // Wrong seeds are refused on the Replica before anything is imported.
  const notSeed = await tandemAt(r, ['seed', 'import', '--from', disk])
  t.equal(notSeed.code, 'CORE_SEED_INVALID')
  const bareStore = join(root, 'bare-store')
  t.equal((await tandem(['replicate', disk, '--store', bareStore])).status, 0)
  const bareSeed = join(root, 'bare.seed')
  t.equal((await tandem(['seed', 'export', '--store', bareStore, '--out', bareSeed])).status, 0)
  t.equal((await tandemAt(r, ['seed', 'import', '--from', bareSeed])).code, 'APP_SEED_NO_ORIGIN', 'a bare store\'s seed names no relationship')
  t.equal((await tandemAt(p, ['seed', 'import', '--from', seed])).code, 'APP_SEED_MISMATCH', 'the primary does not hold the relationship as Replica')

  const imported = await json<JobInfo>(r, ['seed', 'import', '--from', seed])
  t.equal(imported.state, 'ok')
  t.equal(imported.seedImport?.vm, 'vm1')
  t.equal(imported.seedImport?.point.root, enabled.seedExport?.root, 'the Replica holds the point the seed carried')
  t.equal((await tandemAt(r, ['seed', 'import', '--from', seed])).code, 'APP_INVALID_STATE', 'a seed is for initial replication only')

  // The primary notices within an interval; its first cycle sends only the blocks changed since the seed.
  let first: LoggedEvent | undefined
  await eventLine(p, e => { if (cycleOk(e)) { first = e; return true } return false }, 0)
  const data = first!.data as { bytesChanged: number, bytesSent: number }
  t.ok(data.bytesChanged <= 8 * BS, `only the changed blocks were sent (${data.bytesChanged} bytes changed)`)
  t.ok(data.bytesSent < SIZE / 8, `far less than the disk on the wire (${data.bytesSent} bytes)`)
  const replicating = (await json<BoxReplicationStatus>(p, ['replication', 'status', 'vm1'])).primary[0]!
  t.equal(replicating.state, 'replicating')
  t.equal((await tandemAt(p, ['seed', 'export', 'vm1', '--to', join(root, 'late.seed')])).code, 'APP_INVALID_STATE', 'no seed once initial replication is done')

  await daemons.p.stop()
  await daemons.r.stop()
  const peerId = (await json<StatusInfo>(p, ['status'])).peerId
  const store = join(r, 'store', peerId, 'vm1')
  const { points } = JSON.parse((await tandem(['points', '--store', store, '--json'])).stdout) as { points: Array<{ id: number }> }
  t.ok(points.length >= 2, 'the seed\'s point and the first cycle\'s')
  const seedOut = join(root, 'seed-point.img')
  t.equal((await tandem(['restore', '--store', store, '--point', String(points[0]!.id), '--out', seedOut])).status, 0)
  t.equal(await fileHash(seedOut), seededHash, 'the seed\'s point is the disk as it was when the seed was written')
  const newest = join(root, 'newest.img')
  t.equal((await tandem(['restore', '--store', store, '--point', 'latest', '--out', newest])).status, 0)
  t.equal(await fileHash(newest), await fileHash(disk), 'the newest point is the disk as it is now')
})
