/**
 * The resync primitive: from the other side's manifest, the blocks that must
 * travel. Table-driven, then on real files: applying the plan makes the copy
 * equal to the original, and nothing else is written.
 */
import t from 'tap'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { planResync } from '../../core/resync.ts'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { scanDisk } from '../../core/scan/index.ts'
import { zeroHash } from '../../core/hash.ts'
import type { Manifest } from '../../core/types.ts'
import { fileHash, sparseFile, tempDir, writePatches, touchedBlocks } from '../helpers/fixtures.ts'
import { scanPool } from '../helpers/engine.ts'

const BS = 4096
const Z = zeroHash(BS)
/** Block i: 'z' = zeros, any other letter = 32 bytes of that letter as its hash. */
function m (letters: string, size = letters.length * BS): Manifest {
  const hashes = new Uint8Array(letters.length * 32)
  for (let i = 0; i < letters.length; i++) {
    if (letters[i] === 'z') hashes.set(Z, i * 32)
    else hashes.fill(letters.charCodeAt(i), i * 32, (i + 1) * 32)
  }
  return { size, blockSize: BS, hashes }
}

const table: Array<{ name: string, local: Manifest, remote: Manifest | undefined, send: number[], zero: number[], resize: boolean }> = [
  { name: 'remote has nothing', local: m('abz'), remote: undefined, send: [0, 1], zero: [2], resize: true },
  { name: 'identical copies', local: m('abc'), remote: m('abc'), send: [], zero: [], resize: false },
  { name: 'some blocks differ', local: m('abcd'), remote: m('xbcy'), send: [0, 3], zero: [], resize: false },
  { name: 'local zeroed a block', local: m('azc'), remote: m('abc'), send: [], zero: [1], resize: false },
  { name: 'remote is shorter', local: m('abcd'), remote: m('ab'), send: [2, 3], zero: [], resize: true },
  { name: 'remote is longer', local: m('ab'), remote: m('abcd'), send: [], zero: [], resize: true }
]
for (const row of table) {
  t.test(row.name, async t => {
    const plan = planResync(row.local, row.remote)
    t.same({ send: plan.send, zero: plan.zero, resize: plan.resize }, { send: row.send, zero: row.zero, resize: row.resize })
    t.equal(plan.bytes, row.send.length * BS)
  })
}

t.test('applying a plan between two real files makes them equal', async t => {
  const dir = await tempDir(t)
  const a = join(dir, 'primary.img')
  const b = join(dir, 'replica-copy.img')
  const MiB = 2 ** 20
  await sparseFile(a, 32 * MiB)
  await writePatches(a, [{ offset: 0, length: 8 * MiB }])
  const { copyFile } = await import('node:fs/promises')
  await copyFile(a, b)
  const changes = [{ offset: 100_000, length: 5000 }, { offset: 20 * MiB + 3, length: 70_000 }]
  await writePatches(a, changes)
  await writePatches(a, [{ offset: 2 * MiB, length: 65536, fill: 0 }]) // zeroed on the primary
  const pool = scanPool(t)
  const manifestOf = async (path: string): Promise<Manifest> => {
    const v = await new FileDiskSource(path).open()
    const r = await scanDisk(v, { pool, blockSize: 65536 })
    await v.close()
    return r.manifest
  }
  const plan = planResync(await manifestOf(a), await manifestOf(b))
  t.same(new Set(plan.send), touchedBlocks(changes, 65536), 'only the changed blocks travel')
  t.same(plan.zero, [32], 'the zeroed block is sent as "zero", without data')
  const src = await open(a, 'r')
  const dst = await open(b, 'r+')
  const buf = Buffer.alloc(65536)
  for (const i of [...plan.send, ...plan.zero]) {
    await src.read(buf, 0, 65536, i * 65536)
    await dst.write(buf, 0, 65536, i * 65536)
  }
  await src.close()
  await dst.close()
  t.equal(await fileHash(b), await fileHash(a))
})
