/**
 * kill -9 at several moments of a cycle (mid-scan, packs sealed, right after
 * the commit batch, mid replica-image update, after it) and at random times:
 * the store reopens, lists no partial point, the last committed point
 * verifies and restores exactly, the image is repaired, the next cycle works.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RecoveryPointStore, recoverImages } from '../../core/store/index.ts'
import { GARBAGE_PACK_RANGE, GARBAGE_POINT_RANGE, PENDING_PACK_RANGE, PENDING_POINT_RANGE } from '../../core/store/keys.ts'
import { pointFileName } from '../../core/store/point-file.ts'
import { materializePoint } from '../../core/restore.ts'
import { verifyImage, verifyPoint } from '../../core/verify.ts'
import { listedPages, referencedBlockCount, storedPages } from '../helpers/store-facts.ts'
import { fileHash, prng, scatteredPatches, sparseFile, tempDir, testSeed, writePatches, type Patch } from '../helpers/fixtures.ts'
import { cycle, scanPool } from '../helpers/engine.ts'

const MiB = 2 ** 20
const SIZE = 96 * MiB + 4321

const child = fileURLToPath(new URL('./fixtures/crash-child.ts', import.meta.url))

const patches = (seed: number, n: number): Patch[] => scatteredPatches(seed, SIZE, n, 150_000)

/** Runs the child; resolves with its exit signal. `killAfterMs` kills it from outside once it is ready. */
async function runChild (storeDir: string, image: string, moment: string, killAfterMs?: number): Promise<NodeJS.Signals | null> {
  const p = spawn(process.execPath, [child, storeDir, image, moment], { stdio: ['ignore', 'pipe', 'inherit'] })
  p.stdout.on('data', (d: Buffer) => {
    if (killAfterMs !== undefined && d.toString().includes('ready')) setTimeout(() => { p.kill('SIGKILL') }, killAfterMs)
  })
  return await new Promise((resolve, reject) => {
    p.on('error', reject)
    p.on('exit', (_code, signal) => { resolve(signal) })
  })
}

/** Keys the sweep acts on; none may outlive the open that follows a crash. */
async function sweepKeys (store: RecoveryPointStore): Promise<string[]> {
  const out: string[] = []
  for (const range of [PENDING_PACK_RANGE, GARBAGE_PACK_RANGE, PENDING_POINT_RANGE, GARBAGE_POINT_RANGE]) {
    for await (const key of store.db.keys(range)) out.push(key)
  }
  return out
}

const moments: Array<{ moment: string, committed: boolean, repaired: string[] }> = [
  { moment: 'scan', committed: false, repaired: [] },
  { moment: 'packs-sealed', committed: false, repaired: [] },
  { moment: 'point-file-written', committed: false, repaired: [] },
  { moment: 'committed', committed: true, repaired: ['disk0'] },
  { moment: 'image', committed: true, repaired: ['disk0'] },
  { moment: 'image-updated', committed: true, repaired: [] },
  { moment: 'points-removed', committed: true, repaired: [] }
]

const seed = testSeed(t)
const rnd = prng(seed)
const random = [0, 1, 2].map(() => ({ moment: 'never', committed: undefined as boolean | undefined, delay: Math.floor(rnd() * 1500) }))

for (const row of [...moments, ...random]) {
  const delay = 'delay' in row ? row.delay : undefined
  t.test(`kill -9 at ${row.moment}${delay === undefined ? '' : ` (after ${delay} ms, seed ${seed})`}`, async t => {
    const dir = await tempDir(t)
    const src = join(dir, 'vm.img')
    const storeDir = join(dir, 'store')
    const pool = scanPool(t)
    await sparseFile(src, SIZE)
    await writePatches(src, patches(seed, 30))
    const hash1 = await fileHash(src)
    let store = await RecoveryPointStore.open(storeDir, { create: true })
    await cycle(store, pool, src)
    await store.close()

    await writePatches(src, patches(seed + 7, 20))
    const hash2 = await fileHash(src)
    const signal = await runChild(storeDir, src, row.moment, delay)
    if (delay === undefined) t.equal(signal, 'SIGKILL', 'the child died by SIGKILL')

    store = await RecoveryPointStore.open(storeDir)
    t.teardown(async () => { await store.close().catch(() => {}) })
    const repaired = await recoverImages(store)
    if ('repaired' in row) t.same(repaired, row.repaired, 'an image the crash left half-updated is repaired')
    const points = await store.listPoints()
    const ids = points.map(p => p.id)
    if (row.moment === 'points-removed') t.same(ids, [2], 'the pruned point is gone, the new one is there')
    else if (row.committed === true) t.same(ids, [1, 2], 'the committed point is there')
    else if (row.committed === false) t.same(ids, [1], 'no partial point is listed')
    else t.ok(ids.length === 1 || ids.length === 2, `points after a random kill: ${ids.join(',')}`)

    const latest = points[points.length - 1]!
    t.ok((await verifyPoint(store, latest.id)).ok, 'the last committed point verifies')
    t.ok((await verifyImage(store, latest.id, 'disk0', store.imagePath('disk0'), pool)).ok, 'the replica image matches it')
    const out = join(dir, 'latest.img')
    await materializePoint(store, latest.id, 'disk0', out)
    t.equal(await fileHash(out), latest.id === 1 ? hash1 : hash2, 'it restores exactly')

    const packs = await store.packs()
    const files = (await readdir(store.packsDir)).map(f => f.replace(/\.pack$/, ''))
    t.same(files.sort(), [...packs.keys()].sort(), 'no orphan pack files remain')
    t.same(store.strays, [], 'and no strays: every pack a crash left was named pending or garbage')
    const pointFiles = (await readdir(store.pointsDir)).sort()
    t.same(pointFiles, ids.map(pointFileName), 'a point file for each committed point, none other')
    t.same(await sweepKeys(store), [], 'no pending or garbage key is left')

    const next = await cycle(store, pool, src)
    t.equal(next.point.id, latest.id + 1, 'the next cycle succeeds')
    t.equal(await store.blockCount(), await referencedBlockCount(store), 'no block is kept that no point needs, none missing')
    t.same(await storedPages(store), await listedPages(store), 'likewise for manifest pages')
    t.equal(await fileHash(store.imagePath('disk0')), hash2, 'and brings the image to the source')
  })
}
