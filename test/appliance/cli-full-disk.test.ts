/**
 * The `tandem` command on a store whose disk is full (issue 11): the
 * read-only commands still work (they write nothing to the store), a write
 * says CORE_WRITE_FAILED rather than CORE_STORE_UNAVAILABLE, and nothing
 * committed is lost. The store lives on a small tmpfs this test mounts
 * (needs root); without root the test fails, naming why, never skips. A
 * disk that fills up after the commit is CORE_IMAGE_UPDATE_FAILED: the point
 * is kept, and once space is back the next command repairs the image.
 */
import t from 'tap'
import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { tandem, tandemOk } from '../helpers/tandem-cli.ts'
import { resizeDisk, smallDisk } from '../helpers/tmpfs.ts'
import { requireTools } from '../helpers/tools.ts'

requireTools(t, ['mount', 'umount'])

const MiB = 2 ** 20

/** Writes to `path` until the file system says ENOSPC. */
async function fill (path: string): Promise<void> {
  const h = await open(path, 'w')
  const chunk = Buffer.alloc(MiB, 1)
  try {
    for (;;) await h.write(chunk)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
  } finally {
    await h.close().catch(() => {})
  }
  // Whatever fits of a smaller write, so that not one byte is left.
  const last = await open(path, 'a')
  try { for (;;) await last.write(Buffer.alloc(512, 1)) } catch {} finally { await last.close().catch(() => {}) }
}

t.test('a full store disk: points, verify and restore work; a cycle is CORE_WRITE_FAILED', async t => {
  const dir = await tempDir(t)
  const small = await smallDisk(t, '16m')
  if (small === undefined) return

  const image = join(dir, 'vm.img')
  const store = join(small, 'store')
  await sparseFile(image, 4 * MiB)
  await writePatches(image, [{ offset: 0, length: 500_000 }])
  await tandemOk(['replicate', image, '--store', store])
  const hash1 = await fileHash(image)
  await fill(join(small, 'filler'))
  const packs = await readdir(join(store, 'packs'))

  const points = JSON.parse(await tandemOk(['points', '--store', store, '--json'])) as { points: Array<{ id: number }> }
  t.same(points.points.map(p => p.id), [1], 'points lists the point')
  await tandemOk(['verify', '--point', 'all', '--image', '--store', store])
  const out = join(dir, 'restored.img')
  await tandemOk(['restore', '--point', 'latest', '--out', out, '--store', store])
  t.equal(await fileHash(out), hash1, 'restore writes the point elsewhere')
  // Even with the temporary directory on the full disk (the index copy goes to memory then).
  await tandemOk(['points', '--store', store], { env: { TMPDIR: small } })

  const r = await tandem(['restore', '--point', 'latest', '--out', join(small, 'out.img'), '--store', store])
  t.equal(r.code, 'CORE_WRITE_FAILED', 'restoring onto the full disk')
  await writePatches(image, [{ offset: 2 * MiB, length: 1 * MiB }])
  const c = await tandem(['replicate', image, '--store', store])
  t.equal(c.code, 'CORE_WRITE_FAILED', 'a cycle on the full disk')
  t.same(await readdir(join(store, 'packs')), packs, 'no pack lost or left behind')
  t.same((JSON.parse(await tandemOk(['points', '--store', store, '--json'])) as { points: Array<{ id: number }> }).points.map(p => p.id), [1])
})

t.test('the image update runs out of space: CORE_IMAGE_UPDATE_FAILED, the point is kept', async t => {
  const dir = await tempDir(t)
  const small = await smallDisk(t, '40m')
  if (small === undefined) return
  const src = join(dir, 'vm.img')
  const store = join(small, 'store')
  await sparseFile(src, 64 * MiB)
  await writePatches(src, [{ offset: 0, length: 2 * MiB }])
  await tandemOk(['replicate', src, '--store', store])
  // 20 MiB of random data: its packs fit, the image's 20 MiB more do not.
  await writePatches(src, [{ offset: 8 * MiB, length: 20 * MiB }])
  const hash = await fileHash(src)
  const full = await tandem(['replicate', src, '--store', store])
  t.equal(full.status, 1)
  t.equal(full.code, 'CORE_IMAGE_UPDATE_FAILED', 'not CORE_WRITE_FAILED: the point is safe and the message says so')
  t.notMatch(full.stderr, /\n\s+at /, 'no stack trace')

  resizeDisk(small, '80m')
  t.same((JSON.parse(await tandemOk(['points', '--store', store, '--json'])) as { points: Array<{ id: number }> }).points.map(p => p.id), [1, 2], 'point 2 was committed')
  const image = (await tandemOk(['image', '--store', store])).trim()
  t.equal(await fileHash(image), hash, 'the next command repaired the image')
  await tandemOk(['verify', '--store', store, '--point', 'all', '--image'])
})
