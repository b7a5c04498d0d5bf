/**
 * The image's artifacts never enter git (issue 15): everything `npm run image`,
 * `image:smoke` and `package` write goes to image/out/, which .gitignore names,
 * and no disk image or package is tracked anywhere. Asked of git itself, in the
 * checkout the tests run from (CI's is a clean clone).
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const git = (...args: string[]): string => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' })
const inCheckout = (() => { try { return git('rev-parse', '--is-inside-work-tree').trim() === 'true' } catch { return false } })()

t.test('what the image\'s scripts write is ignored', { skip: inCheckout ? false : 'not a git checkout' }, async t => {
  for (const file of ['image/out/tandem-0.1.0.raw', 'image/out/tandem-0.1.0.qcow2', 'image/out/tandem_0.1.0_amd64.deb', 'image/out/tandem-0.1.0-linux-x64.tar.gz', 'image/out/smoke-serial.log']) {
    t.equal(git('check-ignore', file).trim(), file, file)
  }
})

t.test('no disk image or package is tracked', { skip: inCheckout ? false : 'not a git checkout' }, async t => {
  const tracked = git('ls-files', '-z').split('\0').filter(f => /\.(raw|qcow2|img|iso|deb|vfat|ext4)$|^image\/out\//.test(f))
  t.same(tracked, [])
})
