/**
 * The term check on a real Replica daemon, in-process, driven by a raw
 * primary node (so the test picks every term it sends): a hostile or buggy
 * primary whose term is lower than the Replica's record is refused with
 * P2P_STALE_TERM for its cycle, manifest request, offer, update and
 * removal, and nothing is written; once this box fails the relationship
 * over, everything the old primary sends is refused with P2P_FAILED_OVER,
 * a cycle already past its cycle-begin included (refused at its commit).
 * The store stays exactly as it was: the same points, each verified, no
 * staging left.
 */
import t, { type Test } from 'tap'
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { DiskSource } from '../../../core/disk-view/index.ts'
import { FileDiskSource } from '../../../core/disk-view/index.ts'
import { StagedCycle } from '../../../core/store/index.ts'
import { verifyPoint } from '../../../core/verify.ts'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { fetchReplicaManifests, replicateToPeer, type ReplicateToPeerInit } from '../../../appliance/replication/replicate-to-peer.ts'
import type { TandemNode } from '../../../p2p/node/index.ts'
import type { SessionEvent } from '../../../p2p/replication/index.ts'
import { joinPairing } from '../../../p2p/pairing/pairing-service.ts'
import { sendOffer, sendRemove, sendUpdate, type RelationshipDescription } from '../../../p2p/relationship/index.ts'
import { scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { scanPool } from '../../helpers/engine.ts'
import { startNode } from '../../helpers/boxes.ts'

const BS = 65536
const DISK_BYTES = 32 * BS

/** A Replica daemon, and a wait for the end of its replication sessions (a refused session's staging is dropped after the primary hears why). */
async function start (t: Test, dataDir: string): Promise<{ app: Appliance, sessionEnd: (outcome: string) => Promise<void> }> {
  const ended: SessionEvent[] = []
  let waiters: Array<() => void> = []
  const app = await Appliance.start({
    dataDir,
    log: new PassThrough().resume(),
    onReplicationSession: e => { ended.push(e); const w = waiters; waiters = []; for (const f of w) f() }
  })
  t.teardown(async () => { await app.stop() })
  const sessionEnd = async (outcome: string): Promise<void> => {
    while (!ended.some(e => e.outcome === outcome)) await new Promise<void>(resolve => { waiters.push(resolve) })
    ended.length = 0
  }
  return { app, sessionEnd }
}

const description = (term: number): RelationshipDescription => ({
  relationship: 'web-1',
  term,
  suspended: false,
  vm: { name: 'web', driver: 'manual', vcpus: 1, memoryMiB: 512, boot: null, disks: [{ name: 'disk0', size: DISK_BYTES, format: 'raw' }], nics: [] },
  settings: { frequency: 3_600_000, recoveryPoints: 24, appConsistentEvery: null, bandwidth: null, initial: { mode: 'now' } }
})

const codeOf = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'accepted', (err: { code?: string }) => err.code ?? String(err))

/** What the Replica's store holds: its points (each verified) and its staged cycles. */
async function storeFacts (app: Appliance, peer: string): Promise<{ points: string[], verified: boolean[], staged: string[] }> {
  const facts = await app.replica.sink.readStore(peer, 'web-1', async store => {
    const points = await store.listPoints()
    const verified = []
    for (const p of points) verified.push((await verifyPoint(store, p.id, { record: false })).ok)
    return { points: points.map(p => `${p.id}:${p.root}:${p.term ?? 0}`), verified, staged: await StagedCycle.list(store) }
  })
  return facts!
}

interface Setup { app: Appliance, sessionEnd: (outcome: string) => Promise<void>, primary: TandemNode, peer: string, address: Multiaddr, image: string, cycle: ReplicateToPeerInit }

async function setup (t: Test): Promise<Setup> {
  const root = await tempDir(t)
  const dataDir = join(root, 'data')
  await initDataDir(dataDir, { name: 'replica-box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const { app, sessionEnd } = await start(t, dataDir)
  const address = multiaddr((await app.status()).addresses[0]!)
  const primary = await startNode(t, join(root, 'primary.key'))
  await joinPairing(primary, address, { pin: (await app.pairOpen()).pin! }, { name: 'primary-box', role: 'primary' }, { add: async () => {} })
  const image = join(root, 'disk0.img')
  await sparseFile(image, DISK_BYTES)
  await writePatches(image, scatteredPatches(1, DISK_BYTES, 6, BS))
  const cycle: ReplicateToPeerInit = { node: primary, replica: address, relationship: 'web-1', stateDir: join(root, 'primary-state'), disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS, term: 1 }
  await sendOffer(primary, address, description(1))
  await replicateToPeer(cycle)
  await writePatches(image, scatteredPatches(2, DISK_BYTES, 6, BS))
  await replicateToPeer(cycle)
  return { app, sessionEnd, primary, peer: primary.peerId.toString(), address, image, cycle }
}

t.test('a primary with a lower term than the Replica\'s record: every request refused with P2P_STALE_TERM, nothing written', async t => {
  const { app, sessionEnd, primary, peer, address, image, cycle } = await setup(t)
  // The Replica's record moves to term 3 (as after a failover that was completed and reversed); the sender still says 1.
  t.equal(await codeOf(sendUpdate(primary, address, description(3))), 'accepted')
  t.equal(app.relationships.get('web-1')?.term, 3)
  const before = await storeFacts(app, peer)
  t.ok(before.points.length >= 1)

  await writePatches(image, scatteredPatches(3, DISK_BYTES, 6, BS))
  t.equal(await codeOf(replicateToPeer({ ...cycle, term: 1 })), 'P2P_STALE_TERM', 'a cycle-begin at term 1')
  await sessionEnd('P2P_STALE_TERM')
  t.equal(await codeOf(fetchReplicaManifests({ ...cycle, term: 2 })), 'P2P_STALE_TERM', 'a manifest request at term 2')
  t.equal(await codeOf(sendUpdate(primary, address, description(2))), 'P2P_STALE_TERM', 'an update at term 2')
  t.equal(await codeOf(sendOffer(primary, address, description(1))), 'P2P_STALE_TERM', 'an offer at term 1')
  t.equal(await codeOf(sendRemove(primary, address, { relationship: 'web-1', term: 2 })), 'P2P_STALE_TERM', 'a removal at term 2')
  t.match(app.relationships.get('web-1'), { term: 3, state: 'replicating' }, 'the record is as it was')
  t.same(await storeFacts(app, peer), before, 'the store holds the same points, each verified, and no staging')
  t.ok(before.verified.every(ok => ok))

  // At the record's term the same primary goes on (the cycle in flight at term 1 is dropped first).
  t.equal((await fetchReplicaManifests({ ...cycle, term: 3 })).point !== null, true, 'a manifest request at term 3 is answered')
  const stateDir = join(cycle.stateDir, '..', 'fresh-state')
  const report = await replicateToPeer({ ...cycle, stateDir, term: 3, fromReplica: true })
  t.equal(report.term, 3)
  const after = await storeFacts(app, peer)
  t.not(after.points.at(-1), before.points.at(-1), 'a cycle at term 3 commits')
  t.match(after.points.at(-1), /:3$/, 'its point records term 3')
})

t.test('failed over here: the old primary is refused with P2P_FAILED_OVER, a cycle caught at its commit too, and nothing is written', async t => {
  const { app, sessionEnd, primary, peer, address, image, cycle } = await setup(t)
  const before = await storeFacts(app, peer)

  // The cycle is admitted (cycle-begin at term 1), then the Replica fails over while the primary reads its disk.
  await writePatches(image, scatteredPatches(3, DISK_BYTES, 6, BS))
  const file = new FileDiskSource(image)
  let failover: ReturnType<Appliance['replica']['failedOver']> | undefined
  const gated: DiskSource = {
    description: file.description,
    open: async signal => {
      const view = await file.open(signal)
      // no fd: the scan reads through read(), so the first read happens after cycle-accept
      return {
        size: view.size,
        read: async (offset, length, into, s) => {
          failover ??= app.replica.failedOver('web', { reason: 'the primary is gone (test)' })
          await failover
          await view.read(offset, length, into, s)
        },
        close: async () => { await view.close() }
      }
    }
  }
  t.equal(await codeOf(replicateToPeer({ ...cycle, disks: [{ name: 'disk0', source: gated }] })), 'P2P_FAILED_OVER', 'refused at the commit')
  await sessionEnd('P2P_FAILED_OVER')
  const recorded = await failover!
  t.match(recorded.relationship, { state: 'failed-over-waiting-completion', term: 2, reason: 'the primary is gone (test)' })
  t.same(await storeFacts(app, peer), before, 'no point from the old primary after the failover, no staging left, every point verified')
  t.ok(before.verified.every(ok => ok))
  t.not(await recorded.primaryTold, 'accepted', 'a primary that does not answer the relationship protocol is not told (the term check tells it)')
  const notice = (await app.listEvents({ name: 'web' })).events.filter(e => e.kind === 'failover-notice')
  t.match(notice, [{ code: String, data: { term: 2 } }], 'the attempt to tell the primary is an event')

  for (const term of [1, 2, 3]) {
    t.equal(await codeOf(replicateToPeer({ ...cycle, term })), 'P2P_FAILED_OVER', `a cycle at term ${term}`)
    t.equal(await codeOf(fetchReplicaManifests({ ...cycle, term })), 'P2P_FAILED_OVER', `a manifest request at term ${term}`)
    t.equal(await codeOf(sendUpdate(primary, address, description(term))), 'P2P_FAILED_OVER', `an update at term ${term}`)
    t.equal(await codeOf(sendRemove(primary, address, { relationship: 'web-1', term })), 'P2P_FAILED_OVER', `a removal at term ${term}`)
  }
  t.match(app.relationships.get('web-1'), { state: 'failed-over-waiting-completion', term: 2 })
  t.same(await storeFacts(app, peer), before, 'still nothing written')
  t.match(await app.replicaStatus(), [{ relationship: 'web-1', state: 'failed-over-waiting-completion', term: 2 }])

  // Cancelled: the term goes back and the same primary is taken again.
  t.match(await app.replica.failoverCancelled('web'), { state: 'replicating', term: 1 })
  t.equal(await codeOf(replicateToPeer({ ...cycle, term: 1 })), 'accepted', 'the old primary replicates again at its term')
  t.not((await storeFacts(app, peer)).points.at(-1), before.points.at(-1), 'and commits a point')
  await t.rejects(app.replica.failedOver('nothing'), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
})
