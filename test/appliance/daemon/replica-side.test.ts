/**
 * The Replica side of a real Appliance, in-process, with real libp2p on
 * loopback: a paired primary's offer is recorded as a replica relationship
 * and survives a restart; a stranger's is refused; cycles into the offered
 * relationship's store show as points through the service, retention keeps
 * the latest plus `recoveryPoints`, a pinned point is never pruned; a
 * removal keeps the points, still listed through the service. The event
 * log reads through the service, `after` a seq included.
 */
import t, { type Test } from 'tap'
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { replicateToPeer } from '../../../appliance/replication/replicate-to-peer.ts'
import { joinPairing } from '../../../p2p/pairing/pairing-service.ts'
import { sendOffer, sendRemove, sendUpdate } from '../../../p2p/relationship/index.ts'
import { scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { scanPool } from '../../helpers/engine.ts'
import { startNode } from '../../helpers/boxes.ts'
import { sampleDescription } from '../../p2p/fixtures/relationship.ts'

const BS = 65536

async function start (t: Test, dataDir: string): Promise<Appliance> {
  const app = await Appliance.start({ dataDir, log: new PassThrough() })
  t.teardown(async () => { await app.stop() })
  return app
}

const description = (recoveryPoints: number, suspended = false): ReturnType<typeof sampleDescription> => sampleDescription({
  relationship: 'web-1',
  suspended,
  vm: { name: 'web', driver: 'manual', vcpus: 1, memoryMiB: 512, boot: null, disks: [{ name: 'disk0', size: 32 * BS, format: 'raw' }], nics: [] },
  settings: { frequency: 30_000, recoveryPoints, appConsistentEvery: null, bandwidth: null, initial: { mode: 'now' } }
})

t.test('offers from a paired primary: recorded, kept across a restart; a stranger is refused', async t => {
  const root = await tempDir(t)
  const dataDir = join(root, 'data')
  await initDataDir(dataDir, { name: 'replica-box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  let app = await start(t, dataDir)
  let address = multiaddr((await app.status()).addresses[0]!)

  const stranger = await startNode(t, join(root, 'stranger.key'))
  await t.rejects(sendOffer(stranger, address, description(2)), 'a stranger cannot offer')
  t.same(await app.replicaStatus(), [], 'nothing recorded')

  const primary = await startNode(t, join(root, 'primary.key'))
  const open = await app.pairOpen()
  await joinPairing(primary, address, { pin: open.pin! }, { name: 'primary-box', role: 'primary' }, { add: async () => {} })
  await sendOffer(primary, address, description(2))
  const [status] = await app.replicaStatus()
  t.match(status, { relationship: 'web-1', vm: 'web', role: 'replica', peer: primary.peerId.toString(), state: 'waiting-initial-replication', recoveryPoints: 2, lastPointTime: null })
  t.match(status!.vmShape, { driver: 'manual', disks: [{ name: 'disk0', format: 'raw' }] })
  t.ok((await app.listEvents({ name: 'web' })).events.some(e => e.kind === 'replica-added'), 'the offer is an event')
  const all = (await app.listEvents()).events
  const newest = all.at(-1)!.seq
  t.same((await app.listEvents({ after: newest })).events, [], 'nothing after the newest event')
  t.same((await app.listEvents({ after: newest + 5 })).events, [], 'nor after a seq not written yet')
  t.same((await app.listEvents({ after: all[0]!.seq, last: 1 })).events, [all[1]], 'after a seq: the oldest newer one first')
  t.same((await app.listEvents({ after: 0 })).events, all.slice(0, 200), 'after 0: from the start')
  await t.rejects(app.listEvents({ after: -1 }), { code: 'APP_USAGE' })
  await t.rejects(app.listEvents({ after: 1.5 }), { code: 'APP_USAGE' })

  await sendUpdate(primary, address, description(2, true))
  await app.stop()
  app = await start(t, dataDir)
  address = multiaddr((await app.status()).addresses[0]!)
  t.match(await app.replicaStatus(), [{ relationship: 'web-1', state: 'suspended', recoveryPoints: 2 }], 'the record survived the restart')
  await t.rejects(app.points('nothing'), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
  await t.rejects(app.points('../x'), { code: 'APP_USAGE' })
  t.same((await app.points('web')).points, [], 'no points before the first cycle')
})

t.test('cycles become points; retention keeps the latest and recoveryPoints more; a pinned point stays; remove keeps them', async t => {
  const root = await tempDir(t)
  const dataDir = join(root, 'data')
  await initDataDir(dataDir, { name: 'replica-box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const app = await start(t, dataDir)
  const address = multiaddr((await app.status()).addresses[0]!)
  const primary = await startNode(t, join(root, 'primary.key'))
  const peer = primary.peerId.toString()
  await joinPairing(primary, address, { pin: (await app.pairOpen()).pin! }, { name: 'primary-box', role: 'primary' }, { add: async () => {} })
  await sendOffer(primary, address, description(1))

  const image = join(root, 'disk0.img')
  await sparseFile(image, 32 * BS)
  const cycle = { node: primary, replica: address, relationship: 'web-1', stateDir: join(root, 'primary-state'), disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS }
  const ids: number[][] = []
  for (let i = 0; i < 4; i++) {
    await writePatches(image, scatteredPatches(10 + i, 32 * BS, 4, BS))
    await replicateToPeer(cycle)
    ids.push((await app.points('web')).points.map(p => p.id))
  }
  t.same(ids[0], [1], 'the first point')
  t.equal(ids[3]!.length, 2, 'recoveryPoints 1: the latest and one more')
  t.equal(ids[3]!.at(-1), 4, 'the latest is kept')
  const shown = await app.points('web')
  t.match(shown, { relationship: 'web-1', vm: 'web', peer, removed: false })
  t.match(shown.points.at(-1), { id: 4, consistency: 'crash', size: 32 * BS, term: 1, disks: [{ name: 'disk0', size: 32 * BS }] })
  t.match(await app.replicaStatus(), [{ state: 'replicating' }], 'the first point ended the initial replication')
  t.ok((await app.listEvents({ name: 'web-1' })).events.some(e => e.kind === 'point-received'), 'points are events')

  // The latest point: retention drops it once newer points come, unless it is the first of its hour.
  const keep = ids[3]!.at(-1)!
  const unpin = app.replica.pins.pin(peer, 'web-1', keep)
  for (let i = 0; i < 2; i++) {
    await writePatches(image, scatteredPatches(20 + i, 32 * BS, 4, BS))
    await replicateToPeer(cycle)
  }
  const pinned = (await app.points('web')).points.map(p => p.id)
  t.ok(pinned.includes(keep), 'the pinned point was not pruned')
  t.equal(pinned.at(-1), 6)
  unpin()
  await writePatches(image, scatteredPatches(30, 32 * BS, 4, BS))
  await replicateToPeer(cycle)
  const after = (await app.points('web')).points
  const hour = (iso: string): number => Math.floor(Date.parse(iso) / 3_600_000)
  const keptTime = shown.points.at(-1)!.time
  const firstOfItsHour = after.every(p => p.id >= keep || hour(p.time) !== hour(keptTime))
  if (firstOfItsHour) t.pass('the cycles crossed an hour: the pinned point is the first of its hour, which retention keeps anyway')
  else t.notOk(after.map(p => p.id).includes(keep), 'unpinned, retention takes it')

  await sendRemove(primary, address, { relationship: 'web-1', term: 1 })
  t.same(await app.replicaStatus(), [], 'the relationship is forgotten')
  const kept = await app.points('web-1')
  t.match(kept, { relationship: 'web-1', vm: null, peer, removed: true })
  t.equal(kept.points.at(-1)!.id, 7, 'its points are kept and listed by relationship id')
  t.match(await app.points(`${peer}/web-1`), { removed: true }, 'or as PEER/RELATIONSHIP')
  await t.rejects(app.points('web'), { code: 'APP_RELATIONSHIP_NOT_FOUND' }, 'the VM name is no longer held')
})
