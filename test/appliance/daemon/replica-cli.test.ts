/**
 * End to end on loopback: the Replica is a real daemon (`tandem start`, a
 * separate process) driven only through the CLI; the primary is an
 * in-process Appliance (until `tandem replication enable` exists) that pairs
 * with the Replica's PIN, offers the relationship over the relationship
 * protocol and replicates with the existing path. `tandem points NAME
 * --json` on the Replica then shows the points, retention keeps the latest
 * plus `recoveryPoints`, each kept point restores byte-exact to the disk as
 * it was, `tandem events NAME` tells what happened, and all of it survives
 * a restart of the Replica daemon.
 */
import t, { type Test } from 'tap'
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { replicateToPeer } from '../../../appliance/replication/replicate-to-peer.ts'
import type { EventsResult, PairOpenResult, PointsResult } from '../../../appliance/service/index.ts'
import { sendOffer } from '../../../p2p/relationship/index.ts'
import { fileHash, scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { scanPool } from '../../helpers/engine.ts'
import { startDaemon, tandem, tandemAt, type RunningDaemon, tandemJsonAt } from '../../helpers/tandem-cli.ts'
import { sampleDescription } from '../../p2p/fixtures/relationship.ts'

const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
const BS = 65536
const DISK_BYTES = 32 * BS

const json = tandemJsonAt

async function replicaDaemon (t: Test, dir: string): Promise<RunningDaemon> {
  const daemon = await startDaemon(dir)
  t.teardown(async () => { await daemon.stop() })
  return daemon
}

t.test('a Replica daemon shows the points of what a paired primary protects there', async t => {
  const root = await tempDir(t)
  const replicaDir = join(root, 'replica')
  t.equal((await tandemAt(replicaDir, ['init', '--name', 'replica-box', '--listen', LOOPBACK])).status, 0)
  let daemon = await replicaDaemon(t, replicaDir)

  const primaryDir = join(root, 'primary')
  await initDataDir(primaryDir, { name: 'primary-box', listen: [LOOPBACK] })
  const primary = await Appliance.start({ dataDir: primaryDir, log: new PassThrough() })
  t.teardown(async () => { await primary.stop() })

  const open = await json<PairOpenResult>(replicaDir, ['pair', 'open'])
  await primary.pairJoin({ pin: open.pin!, addr: open.addresses[0]! })
  const replicaAddress = multiaddr(open.addresses[0]!)

  const noneYet = await tandemAt(replicaDir, ['points', 'web'])
  t.equal(noneYet.status, 1)
  t.equal(noneYet.code, 'APP_RELATIONSHIP_NOT_FOUND', 'nothing is protected here yet')

  await sendOffer(primary.node, replicaAddress, sampleDescription({
    relationship: 'web-1',
    vm: { name: 'web', driver: 'manual', vcpus: 1, memoryMiB: 512, boot: null, disks: [{ name: 'disk0', size: DISK_BYTES, format: 'raw' }], nics: [] },
    settings: { frequency: 30_000, recoveryPoints: 1, appConsistentEvery: null, bandwidth: null, initial: { mode: 'now' } }
  }))
  t.same((await json<PointsResult>(replicaDir, ['points', 'web'])).points, [], 'the relationship is held, no point yet')

  const image = join(root, 'disk0.img')
  await sparseFile(image, DISK_BYTES)
  const cycle = { node: primary.node, replica: replicaAddress, relationship: 'web-1', stateDir: join(root, 'primary-state'), disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS }
  const hashes = new Map<number, string>()
  for (let i = 0; i < 4; i++) {
    await writePatches(image, scatteredPatches(40 + i, DISK_BYTES, 5, BS))
    await replicateToPeer(cycle)
    const doc = await json<PointsResult>(replicaDir, ['points', 'web'])
    hashes.set(doc.points.at(-1)!.id, await fileHash(image))
  }
  const doc = await json<PointsResult>(replicaDir, ['points', 'web'])
  t.match(doc, { relationship: 'web-1', vm: 'web', peer: (await primary.status()).peerId, removed: false })
  t.equal(doc.points.length, 2, 'retention keeps the latest and recoveryPoints (1) more')
  t.equal(doc.points.at(-1)!.id, 4)
  t.match(doc.points.at(-1), { consistency: 'crash', size: DISK_BYTES, disks: [{ name: 'disk0', size: DISK_BYTES }] })
  t.match(doc.points[0]!.time, /^\d{4}-\d\d-\d\dT/)

  const text = await tandemAt(replicaDir, ['points', 'web'])
  t.match(text.stdout, /2 recovery points/, 'the text form')

  const events = await json<EventsResult>(replicaDir, ['events', 'web'])
  const kinds = events.events.map(e => e.kind)
  t.equal(kinds[0], 'replica-added', 'oldest first')
  t.ok(kinds.filter(k => k === 'point-received').length === 4, 'a point-received event per cycle')
  t.ok(events.events.some(e => e.kind === 'state' && e.data?.to === 'replicating'), 'the first point ended the initial replication')
  t.equal((await json<EventsResult>(replicaDir, ['events', '--last', '1'])).events.length, 1)
  t.equal((await tandemAt(replicaDir, ['events', '--last', '0'])).status, 2, '--last 0 is a usage error')

  // Restart the Replica daemon: what it protects and its points are still there.
  await daemon.stop()
  daemon = await replicaDaemon(t, replicaDir)
  const after = await json<PointsResult>(replicaDir, ['points', 'web'])
  t.same(after.points.map(p => p.id), doc.points.map(p => p.id), 'the same points after a restart')
  await daemon.stop()

  // Stopped: each kept point restores byte-exact with the offline tool on the store.
  for (const p of after.points) {
    const out = join(root, `restored-${p.id}.img`)
    const r = await tandem(['restore', '--store', after.store, '--point', String(p.id), '--disk', 'disk0', '--out', out])
    t.equal(r.status, 0, `restore point ${p.id}: ${r.stderr}`)
    t.equal(await fileHash(out), hashes.get(p.id), `point ${p.id} restores byte-exact to the disk as it was`)
  }
})
