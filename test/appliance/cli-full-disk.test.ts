/**
 * `tandem replicate` on a store whose disk fills up after the commit (issue
 * 11, "errors that mislead"): it exits 1 with CORE_IMAGE_UPDATE_FAILED, the
 * point is kept, and once space is back the next command repairs the image.
 * The store lives on a small tmpfs this test mounts itself (needs root;
 * skipped otherwise, with the reason).
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileHash, sparseFile, tempDir, writePatches } from '../helpers/fixtures.ts'
import { ok, okJson, tandem } from '../helpers/tandem-cli.ts'

const MiB = 2 ** 20

function canMount (): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'tandem-mount-probe-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' })
    execFileSync('umount', [probe])
    return true
  } catch {
    return false
  } finally {
    rmSync(probe, { recursive: true, force: true })
  }
}

t.test('the image update runs out of space: CORE_IMAGE_UPDATE_FAILED, the point is kept', { skip: canMount() ? false : 'needs root to mount a tmpfs' }, async t => {
  const dir = await tempDir(t)
  const small = join(dir, 'small')
  await mkdir(small)
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', small])
  t.teardown(() => { execFileSync('umount', ['-l', small]) })
  const src = join(dir, 'vm.img')
  const store = join(small, 'store')
  await sparseFile(src, 64 * MiB)
  await writePatches(src, [{ offset: 0, length: 2 * MiB }])
  await ok(['replicate', src, '--store', store])
  // 20 MiB of random data: its packs fit, the image's 20 MiB more do not.
  await writePatches(src, [{ offset: 8 * MiB, length: 20 * MiB }])
  const hash = await fileHash(src)
  const full = await tandem(['replicate', src, '--store', store])
  t.equal(full.status, 1)
  t.equal(full.code, 'CORE_IMAGE_UPDATE_FAILED', 'not CORE_WRITE_FAILED: the point is safe and the message says so')
  t.notMatch(full.stderr, /\n\s+at /, 'no stack trace')

  execFileSync('mount', ['-o', 'remount,size=80m', small])
  t.same((await okJson<{ points: Array<{ id: number }> }>(['points', '--store', store])).points.map(p => p.id), [1, 2], 'point 2 was committed')
  const image = (await ok(['image', '--store', store])).trim()
  t.equal(await fileHash(image), hash, 'the next command repaired the image')
  await ok(['verify', '--store', store, '--point', 'all', '--image'])
})
