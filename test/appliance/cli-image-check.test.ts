/**
 * `tandem image` checks before it answers (issue 11, section 8): an image
 * written over since it was built (even at the same size, with its mtime put
 * back) is repaired from the store before its path is printed, and
 * `--verify` compares every block.
 */
import t from 'tap'
import { copyFile, rename, stat, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { tandemOk, tandemJson } from '../helpers/tandem-cli.ts'

const MiB = 1024 * 1024

interface ImageDoc { point: number, disk: string, path: string, checked: 'record' | 'blocks', repaired: boolean, repairedBlocks: number }

async function setup (t: Parameters<typeof tempDir>[0]): Promise<{ src: string, store: string, image: string, hash: string }> {
  const dir = await tempDir(t)
  const src = join(dir, 'vm.img')
  const store = join(dir, 'store')
  await sparseFile(src, 4 * MiB)
  await writePatches(src, [{ offset: 0, length: MiB }])
  await tandemOk(['replicate', src, '--store', store])
  const image = (await tandemOk(['image', '--store', store])).trim()
  return { src, store, image, hash: await fileHash(src) }
}

t.test('an image overwritten at the same size and mtime is repaired before its path is printed', async t => {
  const { store, image, hash } = await setup(t)
  const before = await stat(image)
  await writePatches(image, [{ offset: 2 * MiB, length: 1000 }])
  await utimes(image, before.atime, before.mtime) // the size and mtime are what they were
  t.equal((await stat(image)).size, before.size)
  t.not(await fileHash(image), hash)

  const doc = await tandemJson<ImageDoc>(['image', '--store', store])
  t.equal(doc.path, image)
  t.equal(doc.repaired, true, 'the image did not match its point and was repaired')
  t.equal(doc.repairedBlocks, 1)
  t.equal(await fileHash(image), hash, 'the path printed is of an image equal to the point')
  const again = await tandemJson<ImageDoc>(['image', '--store', store])
  t.same([again.checked, again.repaired], ['record', false], 'once repaired, the quick check trusts it again')
})

t.test('an image replaced by another file (a new inode) is checked block by block', async t => {
  const { store, image, hash } = await setup(t)
  await copyFile(image, `${image}.copy`)
  await rename(`${image}.copy`, image)
  const doc = await tandemJson<ImageDoc>(['image', '--store', store])
  t.same([doc.checked, doc.repaired], ['blocks', false], 'the same bytes: checked, nothing to repair')
  t.equal(await fileHash(image), hash)
})

t.test('--verify compares every block even when the quick check passes', async t => {
  const { store, image, hash } = await setup(t)
  const doc = await tandemJson<ImageDoc>(['image', '--store', store, '--verify'])
  t.same([doc.checked, doc.repaired, doc.repairedBlocks], ['blocks', false, 0])
  await writePatches(image, [{ offset: 3 * MiB, length: 10 }])
  const fixed = await tandemJson<ImageDoc>(['image', '--store', store, '--verify'])
  t.same([fixed.checked, fixed.repaired, fixed.repairedBlocks], ['blocks', true, 1])
  t.equal(await fileHash(image), hash)
})
