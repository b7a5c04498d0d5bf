/**
 * A recovery point served from the store by NbdServer, read by real
 * tools: qemu-img convert gives back materializePoint's disk; a qcow2
 * overlay on top takes the guest's writes while the point stays as it
 * was; nbdinfo lists the export and maps zero blocks as holes; our own
 * client reads it pipelined; a corrupt block is EIO to every client and
 * the rest of the disk still reads.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { isZeroBlock } from '../../../core/manifest.ts'
import { NbdClient, NBD_STATE_HOLE, NBD_STATE_ZERO } from '../../../core/nbd/index.ts'
import { openPointExport } from '../../../core/point-export.ts'
import { materializePoint } from '../../../core/restore.ts'
import type { RecoveryPointStore } from '../../../core/store/index.ts'
import { verifyPoint } from '../../../core/verify.ts'
import { sparseFile, tempDir, writePatches, type Teardown } from '../../helpers/fixtures.ts'
import { cycle, openStore, scanPool } from '../../helpers/engine.ts'
import { damageStoredBlock } from '../../helpers/store-facts.ts'
import { requireTools } from '../../helpers/tools.ts'
import { sh } from './servers.ts'
import { startNbdServer, type StartedServer } from './server-fixtures.ts'

requireTools(t, ['qemu-img', 'qemu-io', 'nbdinfo'])

const BS = 64 * 1024
const MiB = 1024 * 1024
const SIZE = 24 * MiB + 3000 // not a multiple of the block size, nor of 512

interface Served { store: RecoveryPointStore, ref: Buffer, s: StartedServer, dir: string, failures: Array<{ code: unknown, where: unknown }> }

/**
 * Point 1 of a disk with zero blocks, random data, duplicate blocks (the
 * same 0x42 block at three places) and a partial last block, served as
 * export "disk0"; `ref` is materializePoint's image of it.
 */
async function servedPoint (t: Teardown, damage?: number): Promise<Served> {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  await sparseFile(src, SIZE)
  await writePatches(src, [
    { offset: 0, length: 3 * BS },
    { offset: MiB, length: BS, fill: 0x42 },
    { offset: 5 * MiB, length: BS, fill: 0x42 },
    { offset: 9 * MiB, length: BS, fill: 0x42 },
    { offset: 10 * MiB + 777, length: 2 * MiB },
    { offset: 24 * MiB, length: 3000 }
  ])
  const store = await openStore(t, join(dir, 'store'))
  await cycle(store, scanPool(t), src)
  const refPath = join(dir, 'ref.img')
  await materializePoint(store, 1, 'disk0', refPath)
  if (damage !== undefined) await damageStoredBlock(store, 1, damage)
  const failures: Served['failures'] = []
  const s = await startNbdServer(t, [await openPointExport(store, 1, 'disk0')], {
    onError: (err, where) => { failures.push({ code: (err as { code?: unknown }).code, where }) }
  })
  return { store, ref: await readFile(refPath), s, dir, failures }
}

/**
 * The export through qemu-img convert. QEMU rounds an export's size up to
 * 512 bytes and reads the tail past its end as zeros, so the image is
 * `ref` then zeros up to the next 512.
 */
async function converted (p: Served, name: string): Promise<Buffer> {
  const out = join(p.dir, name)
  await sh('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', p.s.uri('disk0'), out])
  return await readFile(out)
}

function sameAsRef (t: { ok: (v: unknown, m: string) => void, equal: (a: unknown, b: unknown, m: string) => void }, image: Buffer, ref: Buffer, what: string): void {
  t.equal(image.length, Math.ceil(ref.length / 512) * 512, `${what}: size rounded up to 512 by QEMU`)
  t.ok(image.subarray(0, ref.length).equals(ref), `${what}: byte for byte the materialized point`)
  t.ok(image.subarray(ref.length).every(b => b === 0), `${what}: the rounding is zeros`)
}

t.test('qemu-img convert of the export equals materializePoint', async t => {
  const p = await servedPoint(t)
  sameAsRef(t, await converted(p, 'out.raw'), p.ref, 'convert')
  t.same(p.failures, [])
})

t.test('a qcow2 overlay on the export takes writes; the point is unchanged', async t => {
  const p = await servedPoint(t)
  const overlay = join(p.dir, 'overlay.qcow2')
  await sh('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', p.s.uri('disk0'), overlay])
  const info = JSON.parse(await sh('qemu-img', ['info', '--output=json', overlay])) as { 'virtual-size': number, 'backing-filename': string }
  t.equal(info['backing-filename'], p.s.uri('disk0'), 'backed by the export')
  t.equal(info['virtual-size'], Math.ceil(SIZE / 512) * 512, 'the export size (rounded to 512 by QEMU)')
  const out = await sh('qemu-io', ['-f', 'qcow2', overlay,
    '-c', 'write -P 0x77 0 64k', // over random data
    '-c', `write -P 0x78 ${5 * MiB} 4k`, // into a duplicate block
    '-c', 'read -P 0x77 0 64k',
    '-c', `read -P 0x78 ${5 * MiB} 4k`,
    '-c', `read -P 0x42 ${5 * MiB + 4096} 60k`, // the rest of that block, from the export
    '-c', `read -P 0x42 ${MiB} 64k`, // the same block elsewhere, untouched
    '-c', `read -P 0 ${2 * MiB} 1M` // a zero stretch
  ])
  t.notMatch(out, /Pattern verification failed|error/i, 'qemu-io read back what it wrote, and the export elsewhere')
  const image = join(p.dir, 'through-overlay.raw')
  await sh('qemu-img', ['convert', '-O', 'raw', overlay, image])
  const expected = Buffer.from(p.ref)
  expected.fill(0x77, 0, BS)
  expected.fill(0x78, 5 * MiB, 5 * MiB + 4096)
  t.ok((await readFile(image)).subarray(0, SIZE).equals(expected), 'the overlay is the point plus the writes')
  sameAsRef(t, await converted(p, 'after.raw'), p.ref, 'the export after the writes')
  t.match(await verifyPoint(p.store, 1), { ok: true }, 'the point verifies')
})

t.test('nbdinfo lists the export and its size, and maps zero blocks as holes', async t => {
  const p = await servedPoint(t)
  const list = JSON.parse(await sh('nbdinfo', ['--list', '--json', `nbd+unix:///?socket=${p.s.socket}`])) as { exports: Array<{ 'export-name': string, 'export-size': number, 'is_read_only': boolean, contexts: string[] }> }
  t.match(list.exports, [{ 'export-name': 'disk0', 'export-size': SIZE, is_read_only: true, contexts: ['base:allocation'] }])
  t.equal((await sh('nbdinfo', ['--size', p.s.uri('disk0')])).trim(), String(SIZE))
  const map = JSON.parse(await sh('nbdinfo', ['--map', '--json', p.s.uri('disk0')])) as Array<{ offset: number, length: number, type: number }>
  const m = await p.store.manifest(1, 'disk0')
  const holes: boolean[] = []
  for (const run of map) {
    for (let at = run.offset; at < run.offset + run.length; at += BS) holes.push(run.type === (NBD_STATE_HOLE | NBD_STATE_ZERO))
  }
  t.same(holes, Array.from({ length: Math.ceil(SIZE / BS) }, (_, i) => isZeroBlock(m, i)), 'a hole at each zero block, data elsewhere')
  t.ok(map.some(r => r.type === 3) && map.some(r => r.type === 0), 'both holes and data')
})

t.test('our NbdClient reads the export, pipelined, and its allocation', async t => {
  const p = await servedPoint(t)
  const client = await NbdClient.connect({ socketPath: p.s.socket, exportName: 'disk0', metaContexts: ['base:allocation'] })
  t.teardown(async () => { await client.close() })
  t.equal(client.size, SIZE)
  t.equal(client.blockSize.preferred, BS, 'the store block size is preferred')
  t.ok(Buffer.from(await client.read(0, SIZE)).equals(p.ref), 'the whole disk')
  const ranges = Array.from({ length: 48 }, (_, i) => ({ offset: (i * 517_003) % (SIZE - MiB), length: 1 + ((i * 104_729) % MiB) }))
  const parts = await Promise.all(ranges.map(async r => await client.read(r.offset, r.length)))
  ranges.forEach((r, i) => { t.ok(Buffer.from(parts[i]!).equals(p.ref.subarray(r.offset, r.offset + r.length)), `read ${i}`) })
  const extents = await client.blockStatus('base:allocation', 0, SIZE)
  const m = await p.store.manifest(1, 'disk0')
  t.ok(extents.every(e => Array.from({ length: Math.ceil(e.length / BS) }, (_, k) => Math.floor(e.offset / BS) + k)
    .every(i => isZeroBlock(m, i) === (e.flags === (NBD_STATE_HOLE | NBD_STATE_ZERO)))), 'holes exactly at zero blocks')
})

t.test('a corrupt block in the store: EIO to every client for reads touching it, correct data elsewhere', async t => {
  const CORRUPT = 1 // the second block: random data
  const p = await servedPoint(t, CORRUPT)
  t.notOk(isZeroBlock(await p.store.manifest(1, 'disk0'), CORRUPT), 'the damaged block is a stored one')
  const client = await NbdClient.connect({ socketPath: p.s.socket, exportName: 'disk0' })
  t.teardown(async () => { await client.close() })
  await t.rejects(client.read(BS + 100, 10), { code: 'CORE_NBD_REQUEST_FAILED', details: { errno: 'EIO' } })
  await t.rejects(client.read(0, 4 * BS), { code: 'CORE_NBD_REQUEST_FAILED', details: { errno: 'EIO' } }, 'a range across it')
  t.ok(Buffer.from(await client.read(0, BS)).equals(p.ref.subarray(0, BS)), 'the block before')
  t.ok(Buffer.from(await client.read(2 * BS, SIZE - 2 * BS)).equals(p.ref.subarray(2 * BS)), 'everything after')
  t.ok(p.failures.length >= 2 && p.failures.every(f => f.code === 'CORE_BLOCK_CORRUPT'), 'each failure reported to onError as CORE_BLOCK_CORRUPT')
  t.match(p.failures[0], { where: { exportName: 'disk0', command: 'read', offset: BS + 100, length: 10 } })
  await t.rejects(sh('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', p.s.uri('disk0'), join(p.dir, 'bad.raw')]), 'qemu-img convert fails on it')
  const out = await sh('qemu-io', ['-r', '-f', 'raw', p.s.uri('disk0'), '-c', `read ${BS} 4k`]).catch((err: { stdout?: string, stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`)
  t.match(out, /Input\/output error/, 'QEMU sees EIO')
})
