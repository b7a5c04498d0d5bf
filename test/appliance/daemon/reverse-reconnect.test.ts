/**
 * After a reversal the new primary must be able to dial its new Replica
 * (the old primary) on its own: a Replica never dials its primary, and
 * libp2p learns no listen address from a connection the other side opened,
 * so the old primary names where it listens in its answer to `reverse`
 * (docs/relationship-protocol.md "Reverse") and the new primary keeps it
 * with its state (docs/primary-state.md). Two daemons in-process on fixed
 * loopback ports: a planned failover of a manual-driver VM, then the old
 * primary's daemon restarted (the link it opened is gone): the next cycle
 * commits, and so does one after the new primary's own restart.
 */
import t from 'tap'
import { join } from 'node:path'
import { readReplicaAddresses } from '../../../appliance/replication/replica-addresses.ts'
import { freePort, scatteredPatches, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { addManualVm, enableReplication, restartablePair, runCycle, startBox } from '../../helpers/paired-daemons.ts'

const MiB = 2 ** 20
const DISK_BYTES = 4 * MiB

t.test('a planned failover, the old primary restarted: the new primary reaches it again', async t => {
  const root = await tempDir(t)
  const primaryListen = `/ip4/127.0.0.1/tcp/${await freePort()}`
  const { p, r, primaryDir, replicaDir } = await restartablePair(t, root, 'files', primaryListen)
  const primary = p.app!
  const replica = r.app!
  const disk = join(root, 'files.raw')
  await addManualVm(primary, 'files', disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(1, DISK_BYTES, 4, 256 * 1024))
  t.equal((await enableReplication(primary, 'files', { to: 'box-r', frequency: '1h', recoveryPoints: '0' })).outcome, 'ok')
  const job = await primary.jobRegistry.wait((await primary.failoverPlanned('files')).id)
  t.equal(job.state, 'ok', job.error?.message ?? 'handed over')
  const onReplica = replica.jobRegistry.list().find(j => j.kind === 'failover' && j.vm === 'files')!
  t.match(await replica.jobRegistry.wait(onReplica.id), { state: 'ok', failover: { planned: true } })
  t.match(replica.relationships.get('files'), { role: 'primary', term: 2, state: 'replicating' })

  t.same(await readReplicaAddresses(join(replicaDir, 'primary', 'files')), [primaryListen], 'the new primary keeps where its new Replica listens')

  // The old primary restarts: the connection it had opened is gone.
  await primary.stop()
  await startBox(p, primaryDir)
  t.match(await runCycle(replica, 'files'), { outcome: 'ok' }, 'the new primary dials its Replica again')

  // The new primary restarts too: it finds the addresses with its state.
  await replica.stop()
  const again = await startBox(r, replicaDir)
  t.match(await runCycle(again, 'files'), { outcome: 'ok' }, 'and after its own restart')
})
