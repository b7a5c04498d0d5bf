/**
 * A small file system for full-disk tests: a tmpfs mounted on a fresh
 * directory under the test's temp dir, unmounted at teardown. Mounting needs
 * root (as .ci/run runs the suite): without it the test fails, naming why,
 * never skips. Files using it call requireTools(t, ['mount', 'umount']).
 */
import { execFileSync } from 'node:child_process'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Test } from 'tap'
import { tempDir } from './fixtures.ts'

/** Mounts a tmpfs of `size` (e.g. '16m'); undefined, with the test failed, when not root. */
export async function smallDisk (t: Test, size: string): Promise<string | undefined> {
  if (process.getuid?.() !== 0) {
    t.fail('needs root to mount a tmpfs (run the suite as root, as .ci/run does)')
    return undefined
  }
  const dir = join(await tempDir(t), 'small')
  await mkdir(dir)
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' })
  t.teardown(() => { execFileSync('umount', ['-l', dir]) })
  return dir
}

/** Gives a mounted tmpfs a new size (space comes back, or goes). */
export function resizeDisk (dir: string, size: string): void {
  execFileSync('mount', ['-o', `remount,size=${size}`, dir])
}
