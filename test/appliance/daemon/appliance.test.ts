/**
 * The Appliance in-process, with real libp2p on loopback and real stores:
 * a primary paired through the service replicates into DATA/store/ and the
 * point restores byte-exact; a stranger is refused; stop() releases the
 * lock and every store; a second Appliance on the same data directory is
 * APP_DAEMON_RUNNING; pairing attempts are logged.
 */
import t, { type Test } from 'tap'
import { PassThrough } from 'node:stream'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import type { WebStatusInfo } from '../../../appliance/service/index.ts'
import { replicateToPeer } from '../../../appliance/replication/replicate-to-peer.ts'
import { joinPairing } from '../../../p2p/pairing/pairing-service.ts'
import { sendOffer } from '../../../p2p/relationship/index.ts'
import { decodeInvite } from '../../../p2p/pairing/window.ts'
import { materializePoint } from '../../../core/restore.ts'
import { RecoveryPointStore } from '../../../core/store/index.ts'
import { fileHash, scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { scanPool } from '../../helpers/engine.ts'
import { startNode } from '../../helpers/boxes.ts'
import { sampleDescription } from '../../p2p/fixtures/relationship.ts'

const BS = 65536

/** An initialized data directory on loopback and its running Appliance; its log lines, parsed. */
async function appliance (t: Test, dir: string): Promise<{ app: Appliance, logs: Array<Record<string, unknown>> }> {
  await initDataDir(dir, { name: 'replica-box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const logs: Array<Record<string, unknown>> = []
  const log = new PassThrough()
  log.setEncoding('utf8').on('data', (s: string) => { for (const line of s.split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>) })
  const app = await Appliance.start({ dataDir: dir, log })
  t.teardown(async () => { await app.stop() })
  return { app, logs }
}

t.test('a paired primary replicates into the data directory\'s store', async t => {
  const root = await tempDir(t)
  const dataDir = join(root, 'data')
  const { app, logs } = await appliance(t, dataDir)
  const status = await app.status()
  const address = multiaddr(status.addresses[0]!)

  const primary = await startNode(t, join(root, 'primary.key'))
  const image = join(root, 'disk0.img')
  await sparseFile(image, 32 * BS)
  await writePatches(image, scatteredPatches(7, 32 * BS, 20, 3 * BS))
  const cycle = {
    node: primary, replica: address, relationship: 'vm1', stateDir: join(root, 'primary-state'),
    disks: [{ name: 'disk0', path: image }], pool: scanPool(t), blockSize: BS
  }

  await t.rejects(replicateToPeer(cycle), 'an unpaired primary cannot replicate')

  const open = await app.pairOpen()
  const paired = await joinPairing(primary, address, { pin: open.pin! }, { name: 'primary-box', role: 'primary' }, { add: async () => {} })
  t.equal(paired.peerId, status.peerId)
  t.same((await app.pairList()).map(p => [p.peerId, p.name, p.role]), [[primary.peerId.toString(), 'primary-box', 'primary']])
  t.ok(logs.some(l => l.confirmationCode === paired.confirmationCode), 'the pairing and its confirmation code are logged')
  t.ok(logs.some(l => l.msg === 'pairing attempt ended' && l.outcome === 'ok'), 'the attempt is logged')

  await t.rejects(replicateToPeer(cycle), { code: 'P2P_RELATIONSHIP_UNKNOWN' }, 'a paired primary replicates only a relationship it offered')
  await sendOffer(primary, address, sampleDescription({ relationship: 'vm1', vm: { ...sampleDescription().vm, name: 'vm1', driver: 'manual', boot: null, disks: [{ name: 'disk0', size: 32 * BS, format: 'raw' }], nics: [] } }))
  await replicateToPeer(cycle)
  await app.stop()
  t.ok(logs.some(l => l.msg === 'replication session ended' && l.outcome === 'committed'), 'the session is logged')

  // Stopped: the store is closed and free for another process.
  const store = await RecoveryPointStore.open(join(dataDir, 'store', primary.peerId.toString(), 'vm1'))
  try {
    const latest = (await store.latestPoint())!
    await materializePoint(store, latest.id, 'disk0', join(root, 'restored.img'))
  } finally {
    await store.close()
  }
  t.equal(await fileHash(join(root, 'restored.img')), await fileHash(image), 'the point restores byte-exact')
})

t.test('one Appliance per data directory; stop releases it', async t => {
  const dataDir = join(await tempDir(t), 'data')
  const { app } = await appliance(t, dataDir)
  await t.rejects(Appliance.start({ dataDir, log: new PassThrough() }), { code: 'APP_DAEMON_RUNNING' })
  const before = await app.status()
  await app.stop()
  await app.stop()
  const again = await Appliance.start({ dataDir, log: new PassThrough() })
  t.teardown(async () => { await again.stop() })
  t.equal((await again.status()).peerId, before.peerId, 'same identity after a restart')
})

t.test('an invite-only window shows no PIN and refuses one', async t => {
  const root = await tempDir(t)
  const { app } = await appliance(t, join(root, 'data'))
  const address = multiaddr((await app.status()).addresses[0]!)
  const joiner = await startNode(t, join(root, 'joiner.key'))
  const me = { name: 'joiner', role: 'primary' as const }
  const open = await app.pairOpen({ mode: 'invite' })
  t.equal(open.mode, 'invite')
  t.equal(open.pin, null, 'no PIN shown')
  await t.rejects(joinPairing(joiner, address, { pin: '12345678' }, me, { add: async () => {} }), { code: 'P2P_PAIRING_FAILED' }, 'a PIN is refused')
  const invite = decodeInvite(open.invite!)
  t.equal((await joinPairing(joiner, address, { invite }, me, { add: async () => {} })).peerId, (await app.status()).peerId, 'the invite pairs')
  const pinOnly = await app.pairOpen({ mode: 'pin' })
  t.match(pinOnly, { mode: 'pin', invite: null })
  t.match(pinOnly.pin, /^\d{8}$/)
})

t.test('service errors carry their codes', async t => {
  const { app } = await appliance(t, join(await tempDir(t), 'data'))
  await t.rejects(app.pairRemove('12D3KooWGRbfabh3dcHT5spviCYeMKCCsm8Pj38PMwDjKvxgojGV'), { code: 'APP_PEER_NOT_FOUND' })
  await t.rejects(app.pairJoin({ pin: '12345678', addr: 'not-an-address' }), { code: 'APP_USAGE' })
  await t.rejects(app.pairJoin({ invite: 'tandem-pair:1:nope' }), { code: 'P2P_INVITE_INVALID' })
  await t.rejects(app.pairOpen({ ttl: 10 }), { code: 'APP_USAGE' })
  await t.rejects(app.pairJoin({ pin: '12345678', addr: '/ip4/127.0.0.1/tcp/1' }), { code: 'P2P_PAIRING_UNREACHABLE' })
})

t.test('a listen address in use is APP_LISTEN_FAILED, and the failed start releases the directory', async t => {
  const taken = createServer()
  await new Promise<void>(resolve => { taken.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { taken.close() })
  const port = (taken.address() as { port: number }).port
  const dataDir = join(await tempDir(t), 'data')
  await initDataDir(dataDir, { listen: [`/ip4/127.0.0.1/tcp/${port}`] })
  await t.rejects(Appliance.start({ dataDir, log: new PassThrough() }), { code: 'APP_LISTEN_FAILED' })
  await t.rejects(Appliance.start({ dataDir, log: new PassThrough() }), { code: 'APP_LISTEN_FAILED' }, 'again: not APP_DAEMON_RUNNING, the lock was released')
})


t.test('status carries the web server\'s part that the composition root gives, asked at each call', async t => {
  const root = await tempDir(t)
  await initDataDir(join(root, 'plain'), { name: 'plain', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const plain = await Appliance.start({ dataDir: join(root, 'plain'), log: new PassThrough() })
  t.teardown(async () => { await plain.stop() })
  t.equal((await plain.status()).web, null, 'none given: null')

  const dir = join(root, 'web')
  await initDataDir(dir, { name: 'web', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const web: WebStatusInfo = { url: 'https://web:7443/', fingerprint: 'SHA256 AB', setupCode: 'ABCD-EFGH-JKLM', passwordSet: false }
  let answer: Promise<WebStatusInfo> = Promise.resolve(web)
  const logs: string[] = []
  const log = new PassThrough().setEncoding('utf8').on('data', (s: string) => { logs.push(s) })
  const app = await Appliance.start({ dataDir: dir, log, webStatus: async () => await answer })
  t.teardown(async () => { await app.stop() })
  t.same((await app.status()).web, web)
  answer = Promise.resolve({ ...web, setupCode: null, passwordSet: true })
  t.match((await app.status()).web, { setupCode: null, passwordSet: true }, 'asked again')
  answer = Promise.reject(new Error('unreadable'))
  const status = await app.status()
  t.equal(status.web, null, 'a failure is shown as null')
  t.equal(status.state, 'running', 'and the status is still answered')
  t.ok(logs.join('').includes('the web server\'s part could not be read'), 'and logged')
})
