/**
 * replicateToPeer's consistency label across a resume: a cycle begun
 * app-consistent (the guest was frozen) and resumed from a view that is only
 * crash-consistent must not commit an `app` point: it starts again, labelled
 * as it is now. A crash-consistent cycle in flight resumes as it was.
 */
import t, { type Test } from 'tap'
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { PrimaryState } from '../../../appliance/replication/primary-state.ts'
import { replicateToPeer } from '../../../appliance/replication/replicate-to-peer.ts'
import { NO_TRACKING } from '../../../appliance/replication/cycle-source.ts'
import { RecoveryPointStore } from '../../../core/store/index.ts'
import { joinPairing } from '../../../p2p/pairing/pairing-service.ts'
import { sendOffer } from '../../../p2p/relationship/index.ts'
import { scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { scanPool } from '../../helpers/engine.ts'
import { startNode } from '../../helpers/boxes.ts'
import { sampleDescription } from '../../p2p/fixtures/relationship.ts'

const BS = 65536

async function setup (t: Test): Promise<{ root: string, dataDir: string, cycle: Parameters<typeof replicateToPeer>[0], app: Appliance }> {
  const root = await tempDir(t)
  const dataDir = join(root, 'data')
  await initDataDir(dataDir, { name: 'replica-box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const app = await Appliance.start({ dataDir, log: new PassThrough().resume() })
  t.teardown(async () => { await app.stop() })
  const address = multiaddr((await app.status()).addresses[0]!)
  const primary = await startNode(t, join(root, 'primary.key'))
  const open = await app.pairOpen()
  await joinPairing(primary, address, { pin: open.pin! }, { name: 'primary-box', role: 'primary' }, { add: async () => {} })
  const image = join(root, 'disk0.img')
  await sparseFile(image, 16 * BS)
  await writePatches(image, scatteredPatches(5, 16 * BS, 8, BS))
  await sendOffer(primary, address, sampleDescription({ relationship: 'vm1', vm: { ...sampleDescription().vm, name: 'vm1', driver: 'manual', boot: null, disks: [{ name: 'disk0', size: 16 * BS, format: 'raw' }], nics: [] } }))
  return { root, dataDir, app, cycle: { node: primary, replica: address, relationship: 'vm1', stateDir: join(root, 'state'), disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS } }
}

t.test('an app-consistent cycle in flight resumed from a crash-consistent view is labelled crash', async t => {
  const { dataDir, app, cycle } = await setup(t)
  const state = await PrimaryState.open(cycle.stateDir)
  const begun = await state.begin(Date.now() - 60_000, 1, 'app')
  const report = await replicateToPeer({ ...cycle, consistency: 'crash' })
  t.equal(report.consistency, 'crash')
  t.equal(report.resumed, false, 'not resumed: started again')
  t.not(report.time, begun.time)
  await app.stop()
  const store = await RecoveryPointStore.open(join(dataDir, 'store', cycle.node.peerId.toString(), 'vm1'))
  t.teardown(async () => { await store.close() })
  t.equal((await store.latestPoint())!.consistency, 'crash', 'the Replica\'s point says crash')
})

t.test('a crash-consistent cycle in flight resumes as it was', async t => {
  const { cycle } = await setup(t)
  const state = await PrimaryState.open(cycle.stateDir)
  const begun = await state.begin(Date.now() - 60_000, 1, 'crash')
  const report = await replicateToPeer({ ...cycle, consistency: 'app' })
  t.equal(report.resumed, true)
  t.equal(report.time, begun.time)
  t.equal(report.consistency, 'crash', 'never promoted to app')
})

t.test('the reason a point is crash-consistent reaches the Replica\'s point', async t => {
  const { dataDir, app, cycle } = await setup(t)
  const note = 'the VM has no guest agent: crash-consistent'
  const report = await replicateToPeer({ ...cycle, consistency: 'crash', consistencyNote: note })
  t.equal(report.consistency, 'crash')
  t.same(report.untracked, { disk0: NO_TRACKING }, 'a file has no change tracking: the report says every block was compared')
  await app.stop()
  const store = await RecoveryPointStore.open(join(dataDir, 'store', cycle.node.peerId.toString(), 'vm1'))
  t.teardown(async () => { await store.close() })
  t.match(await store.latestPoint(), { consistency: 'crash', consistencyNote: note }, 'the point carries the note')
})
