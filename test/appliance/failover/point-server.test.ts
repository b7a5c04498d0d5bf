/**
 * A Replica's recovery point served over NBD by a real Appliance
 * (in-process, real libp2p on loopback, real store, real qemu-img): the
 * primary is a bare node that pairs, offers its relationship and sends
 * cycles (replicateToPeer), as in replica-side.test.ts.
 *
 * - qemu-img convert of each served disk gives the disk as it was at that
 *   point; serving it twice gives two independent servings;
 * - while a point is served and read in a loop, cycles with recoveryPoints 0
 *   prune every other point (repacking the packs the served point shares):
 *   every read stays right, the served point survives, and once closed it is
 *   pruned by the next cycle;
 * - the daemon's stop closes a serving (socket gone, clients cut off); a
 *   stale socket left by a crash is removed at start;
 * - a corrupt block is EIO for the reads that touch it (qemu-img convert
 *   fails), logged by the daemon; other blocks and disks still read.
 */
import t, { type Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { copyFile, readdir, readFile, stat } from 'node:fs/promises'
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { replicateToPeer } from '../../../appliance/replication/replicate-to-peer.ts'
import { hashAt } from '../../../core/manifest.ts'
import { NbdClient } from '../../../core/nbd/index.ts'
import { packPath } from '../../../core/store/pack.ts'
import type { TandemNode } from '../../../p2p/node/index.ts'
import { joinPairing } from '../../../p2p/pairing/pairing-service.ts'
import { sendOffer, sendUpdate } from '../../../p2p/relationship/index.ts'
import { startNode } from '../../helpers/boxes.ts'
import { scanPool } from '../../helpers/engine.ts'
import { flipByte, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { requireTools } from '../../helpers/tools.ts'
import { sampleDescription } from '../../p2p/fixtures/relationship.ts'

requireTools(t, ['qemu-img'])

const run = promisify(execFile)
const BS = 65536
const MiB = 2 ** 20
/** Larger than a point export's block cache (16 MiB): reads of the whole disk keep reaching the store. */
const DISK0 = 24 * MiB
const DISK1 = 2 * MiB

interface Box {
  root: string
  dataDir: string
  app: Appliance
  logs: string[]
  primary: TandemNode
  peer: string
  /** The primary's disk files, by name. */
  disks: { disk0: string, disk1: string }
  /** One cycle of the primary: a point on the Replica. */
  cycle: () => Promise<void>
  /** Sends the relationship's description again with this `recoveryPoints`. */
  retain: (recoveryPoints: number) => Promise<void>
}

const description = (recoveryPoints: number): ReturnType<typeof sampleDescription> => sampleDescription({
  relationship: 'web-1',
  vm: {
    name: 'web',
    driver: 'manual',
    vcpus: 1,
    memoryMiB: 512,
    boot: null,
    disks: [{ name: 'disk0', size: DISK0, format: 'raw' }, { name: 'disk1', size: DISK1, format: 'raw' }],
    nics: []
  },
  settings: { frequency: 30_000, recoveryPoints, appConsistentEvery: null, bandwidth: null, initial: { mode: 'now' } }
})

async function startApp (t: Test, dataDir: string, logs: string[]): Promise<Appliance> {
  const log = new PassThrough()
  log.on('data', (chunk: Buffer) => { logs.push(...chunk.toString().split('\n').filter(l => l !== '')) })
  const app = await Appliance.start({ dataDir, log })
  t.teardown(async () => { await app.stop() })
  return app
}

/** A Replica daemon holding relationship web-1 (VM `web`, two disks) of a paired bare primary. */
async function replicaBox (t: Test, recoveryPoints: number): Promise<Box> {
  const root = await tempDir(t)
  const dataDir = join(root, 'data')
  await initDataDir(dataDir, { name: 'replica-box', listen: ['/ip4/127.0.0.1/tcp/0'] })
  const logs: string[] = []
  const app = await startApp(t, dataDir, logs)
  const address = multiaddr((await app.status()).addresses[0]!)
  const primary = await startNode(t, join(root, 'primary.key'))
  await joinPairing(primary, address, { pin: (await app.pairOpen()).pin! }, { name: 'primary-box', role: 'primary' }, { add: async () => {} })
  await sendOffer(primary, address, description(recoveryPoints))
  const disks = { disk0: join(root, 'disk0.img'), disk1: join(root, 'disk1.img') }
  await sparseFile(disks.disk0, DISK0)
  await sparseFile(disks.disk1, DISK1)
  const pool = scanPool(t)
  const init = { node: primary, replica: address, relationship: 'web-1', stateDir: join(root, 'primary-state'), disks: Object.entries(disks).map(([name, path]) => ({ name, path })), pool, blockSize: BS }
  return {
    root,
    dataDir,
    app,
    logs,
    primary,
    peer: primary.peerId.toString(),
    disks,
    cycle: async () => { await replicateToPeer(init) },
    retain: async n => { await sendUpdate(primary, address, description(n)) }
  }
}

/** Copies the primary's disks as they are now (the expected content of the next point). */
async function snapshotDisks (box: Box, tag: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const [name, path] of Object.entries(box.disks)) {
    out[name] = join(box.root, `${tag}-${name}.raw`)
    await copyFile(path, out[name])
  }
  return out
}

async function convert (uri: string, out: string): Promise<Buffer> {
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, out])
  return await readFile(out)
}

const ids = async (box: Box): Promise<number[]> => (await box.app.points('web')).points.map(p => p.id)

t.test('a served point converts to its disks as they were; serving twice gives two servings', async t => {
  const box = await replicaBox(t, 4)
  await writePatches(box.disks.disk0, [{ offset: 0, length: 4 * MiB }, { offset: 20 * MiB, length: MiB }])
  await writePatches(box.disks.disk1, [{ offset: MiB, length: MiB }])
  const at1 = await snapshotDisks(box, 'p1')
  await box.cycle()
  await writePatches(box.disks.disk0, [{ offset: 0, length: 2 * MiB }])
  await writePatches(box.disks.disk1, [{ offset: 0, length: MiB }])
  await box.cycle()
  t.same(await ids(box), [1, 2])

  const serving = await box.app.replica.servePoint('web', 1)
  t.match(serving, { peer: box.peer, relationship: 'web-1', point: 1 })
  t.equal(serving.socket.startsWith(join(box.dataDir, 'exports') + '/'), true, 'the socket is under DATA/exports/')
  t.equal((await stat(serving.socket)).mode & 0o777, 0o600)
  t.equal((await stat(join(box.dataDir, 'exports'))).mode & 0o777, 0o700)
  t.same(serving.disks.map(d => [d.name, d.size, d.uri]), [
    ['disk0', DISK0, `nbd+unix:///disk0?socket=${serving.socket}`],
    ['disk1', DISK1, `nbd+unix:///disk1?socket=${serving.socket}`]
  ])
  t.same([...box.app.replica.pins.pinned(box.peer, 'web-1')], [1], 'the point is pinned')
  for (const d of serving.disks) {
    const got = await convert(d.uri, join(box.root, `out-${d.name}.raw`))
    t.ok(got.equals(await readFile(at1[d.name]!)), `${d.name} equals the disk at point 1`)
  }

  const again = await box.app.replica.servePoint('web-1', 1)
  t.not(again.socket, serving.socket, 'a second serving has its own socket')
  await serving.close()
  await serving.close()
  t.equal(existsSync(serving.socket), false, 'closed: its socket is gone')
  t.same([...box.app.replica.pins.pinned(box.peer, 'web-1')], [1], 'the other serving still pins the point')
  const got = await convert(again.disks[1]!.uri, join(box.root, 'again.raw'))
  t.ok(got.equals(await readFile(at1.disk1!)), 'and still serves it')
  await again.close()
  t.same([...box.app.replica.pins.pinned(box.peer, 'web-1')], [], 'no pin left')

  await t.rejects(box.app.replica.servePoint('web', 9), { code: 'APP_POINT_NOT_FOUND' })
  await t.rejects(box.app.replica.servePoint('nothing', 1), { code: 'APP_RELATIONSHIP_NOT_FOUND' })
  t.same([...box.app.replica.pins.pinned(box.peer, 'web-1')], [], 'a failed serve leaves no pin')
  t.same(await readdir(join(box.dataDir, 'exports')), [], 'nor a socket')
})

t.test('cycles with recoveryPoints 0 while a point is served and read: reads stay right, the point survives until closed', async t => {
  const box = await replicaBox(t, 1)
  await writePatches(box.disks.disk0, [{ offset: 0, length: DISK0 }])
  await box.cycle()
  // Point 2 shares a quarter of disk0 with point 1: pruning point 1 leaves its pack a quarter live, so it is repacked under the reader.
  await writePatches(box.disks.disk0, [{ offset: 0, length: 18 * MiB }])
  const at2 = await readFile((await snapshotDisks(box, 'p2')).disk0!)
  await box.cycle()
  t.same(await ids(box), [1, 2])
  const serving = await box.app.replica.servePoint('web', 2)
  await box.retain(0)

  const client = await NbdClient.connect({ socketPath: serving.socket, exportName: 'disk0' })
  let reading = true
  let passes = 0
  const wrong: string[] = []
  const loop = (async () => {
    while (reading) {
      try {
        const got = Buffer.from(await client.read(0, DISK0))
        if (!got.equals(at2)) wrong.push(`pass ${passes}: different bytes`)
      } catch (err) {
        wrong.push(`pass ${passes}: ${(err as { code?: string }).code ?? String(err)}`)
      }
      passes++
    }
  })()
  const seen: number[][] = []
  for (let i = 0; i < 4; i++) {
    const before = passes
    await writePatches(box.disks.disk0, [{ offset: (i % 2) * 6 * MiB, length: 18 * MiB }])
    await box.cycle()
    seen.push(await ids(box))
    // At least one whole read between cycles, so reads overlap every cycle's commit work.
    while (passes === before && wrong.length === 0) await new Promise(resolve => { setImmediate(resolve) })
  }
  reading = false
  await loop
  await client.close()
  t.same(wrong, [], `${passes} reads of the served point, all right`)
  t.same(seen, [[2, 3], [2, 4], [2, 5], [2, 6]], 'only the served point and the latest are kept')
  const after = await convert(serving.disks[0]!.uri, join(box.root, 'p2-after.raw'))
  t.ok(after.equals(at2), 'qemu-img convert after the cycles: still point 2')

  await serving.close()
  await writePatches(box.disks.disk0, [{ offset: 0, length: MiB }])
  await box.cycle()
  t.same(await ids(box), [7], 'closed, the point is pruned by the next cycle')
})

t.test('daemon stop closes a serving; a stale socket left by a crash is removed at start', async t => {
  const box = await replicaBox(t, 4)
  await writePatches(box.disks.disk0, [{ offset: 0, length: MiB }])
  await box.cycle()
  const serving = await box.app.replica.servePoint('web', 1)
  const client = await NbdClient.connect({ socketPath: serving.socket, exportName: 'disk0' })
  await client.read(0, BS)
  await box.app.stop()
  t.equal(existsSync(serving.socket), false, 'the socket is gone')
  await t.rejects(client.read(0, BS), { code: 'CORE_NBD_DISCONNECTED' }, 'its client was cut off')
  await client.close()
  t.ok(box.logs.some(l => l.includes('"msg":"daemon stopped"')), 'the daemon stopped')

  // A crash: a process listening on a socket under exports/ dies without removing it.
  const stale = join(box.dataDir, 'exports', 'web-1-p1-1.sock')
  const child = spawn(process.execPath, ['-e', 'require("node:net").createServer().listen(process.argv[1], () => { console.log("ready") })', stale], { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>(resolve => { child.stdout!.once('data', () => { resolve() }) })
  const exited = new Promise(resolve => { child.once('exit', resolve) })
  child.kill('SIGKILL')
  await exited
  t.ok(existsSync(stale), 'the crash left its socket')

  const app = await startApp(t, box.dataDir, box.logs)
  t.same(await readdir(join(box.dataDir, 'exports')), [], 'emptied at start')
  const next = await app.replica.servePoint('web', 1)
  await next.close()
  await app.stop()
})

t.test('a corrupt block: EIO for the reads touching it, logged; other blocks and disks read', async t => {
  const box = await replicaBox(t, 4)
  await writePatches(box.disks.disk0, [{ offset: 0, length: 4 * MiB }])
  await writePatches(box.disks.disk1, [{ offset: 0, length: DISK1 }])
  const at1 = await snapshotDisks(box, 'p1')
  await box.cycle()
  // Damage block 3 of disk0 in its pack, as a bad sector would.
  const where = await box.app.replica.sink.readStore(box.peer, 'web-1', async store => await store.locate(hashAt(await store.manifest(1, 'disk0'), 3)))
  await flipByte(packPath(join(box.app.replica.sink.replicaDir(box.peer, 'web-1'), 'packs'), where!.pack), where!.offset + 100)

  const serving = await box.app.replica.servePoint('web', 1)
  await t.rejects(convert(serving.disks[0]!.uri, join(box.root, 'bad.raw')), 'qemu-img convert of disk0 fails')
  const client = await NbdClient.connect({ socketPath: serving.socket, exportName: 'disk0' })
  await t.rejects(client.read(3 * BS + 10, 100), { code: 'CORE_NBD_REQUEST_FAILED', details: { errno: 'EIO' } }, 'a read touching the block: EIO')
  const ref0 = await readFile(at1.disk0!)
  t.ok(Buffer.from(await client.read(0, 3 * BS)).equals(ref0.subarray(0, 3 * BS)), 'the blocks before it read')
  t.ok(Buffer.from(await client.read(4 * BS, 4 * BS)).equals(ref0.subarray(4 * BS, 8 * BS)), 'the blocks after it read')
  await client.close()
  t.ok((await convert(serving.disks[1]!.uri, join(box.root, 'disk1.raw'))).equals(await readFile(at1.disk1!)), 'the other disk converts whole')
  await serving.close()

  const failures = box.logs.map(l => JSON.parse(l) as { msg: string, level: number, err?: { code?: string }, relationship?: string, point?: number, disk?: string })
    .filter(l => l.msg.startsWith('a served recovery point could not be read'))
  t.ok(failures.length > 0, 'the daemon logged the failed reads')
  t.match(failures[0], { level: 50, err: { code: 'CORE_BLOCK_CORRUPT' }, relationship: 'web-1', point: 1, disk: 'disk0' })
})
