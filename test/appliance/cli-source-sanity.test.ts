/**
 * `tandem replicate` refuses a source that looks aimed wrong (issue 11,
 * "a wrong source replaces the good one"): another disk name, or a disk
 * become empty. Nothing changes in the store, not even the replica image.
 */
import t from 'tap'
import { truncate } from 'node:fs/promises'
import { join } from 'node:path'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { tandemOk, tandemJson, tandem } from '../helpers/tandem-cli.ts'

const MiB = 1024 * 1024

interface PointsDoc { points: Array<{ id: number, disks: Array<{ name: string, size: number }> }> }

t.test('another disk name is refused unless --allow-disk-change', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const other = join(dir, 'other.img')
  const store = join(dir, 'store')
  await sparseFile(src, 2 * MiB)
  await writePatches(src, [{ offset: 0, length: 100_000 }])
  await sparseFile(other, 2 * MiB)
  await writePatches(other, [{ offset: MiB, length: 100_000 }])
  await tandemOk(['replicate', src, '--store', store])

  const refused = await tandem(['replicate', other, '--store', store])
  t.equal(refused.status, 1)
  t.equal(refused.code, 'CORE_SOURCE_DISKS_CHANGED')
  t.notMatch(refused.stderr, /\n\s+at /, 'no stack trace')
  const added = await tandem(['replicate', src, other, '--store', store])
  t.equal(added.code, 'CORE_SOURCE_DISKS_CHANGED', 'a disk added is refused too')
  t.same((await tandemJson<PointsDoc>(['points', '--store', store])).points.map(p => p.id), [1], 'no point was added')

  await tandemOk(['replicate', other, '--store', store, '--allow-disk-change'])
  const points = await tandemJson<PointsDoc>(['points', '--store', store])
  t.same(points.points.map(p => p.disks.map(d => d.name)), [['vm'], ['other']], 'the operator said so: the new disk set is the latest')
})

t.test('a disk become empty is refused and the image is kept', async t => {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const store = join(dir, 'store')
  await sparseFile(src, 2 * MiB)
  await writePatches(src, [{ offset: 0, length: 100_000 }])
  const hash = await fileHash(src)
  await tandemOk(['replicate', src, '--store', store])
  await truncate(src, 0)

  for (const extra of [[], ['--allow-disk-change']]) {
    const refused = await tandem(['replicate', src, '--store', store, ...extra])
    t.equal(refused.status, 1)
    t.equal(refused.code, 'CORE_SOURCE_EMPTY')
  }
  t.same((await tandemJson<PointsDoc>(['points', '--store', store])).points.map(p => p.id), [1], 'no point was added')
  const image = (await tandemOk(['image', '--store', store])).trim()
  t.equal(await fileHash(image), hash, 'the replica image still holds the good disk')
})
