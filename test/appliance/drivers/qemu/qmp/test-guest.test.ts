/**
 * The tiny test guest (test/helpers/guest) boots under TCG, announces READY
 * and writes to its disk, which the host then sees. Skipped only when no
 * Debian 6.1 kernel package can be had from apt.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { sparseFile, tempDir } from '../../../../helpers/fixtures.ts'
import { TestGuestError, ensureTestGuest, type TestGuest } from '../../../../helpers/guest/build-guest.ts'
import { startTestGuest } from '../../../../helpers/guest/run-guest.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../../../helpers/tools.ts'

requireTools(t, [...TEST_GUEST_TOOLS])

const MiB = 1024 * 1024
const PAGE = 4096

const built: { guest?: TestGuest, skip?: string } = await ensureTestGuest().then(
  guest => ({ guest }),
  (err: unknown) => {
    if (err instanceof TestGuestError && err.code === 'TEST_GUEST_KERNEL_UNAVAILABLE') {
      return { skip: `no Debian 6.1 kernel package from apt (${err.message})` }
    }
    throw err
  }
)

/** Per 4 KiB page of `disk`: how many pages are all zero, all `fill`, or anything else. */
function pageKinds (disk: Buffer, fill: number): { zero: number, filled: number, other: number } {
  const out = { zero: 0, filled: 0, other: 0 }
  const zero = Buffer.alloc(PAGE)
  const full = Buffer.alloc(PAGE, fill)
  for (let p = 0; p < disk.length; p += PAGE) {
    const page = disk.subarray(p, p + PAGE)
    if (page.equals(zero)) out.zero++
    else if (page.equals(full)) out.filled++
    else out.other++
  }
  return out
}

t.test('the guest boots, writes random blocks to its disk, and stops', { skip: built.skip ?? false }, async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'disk.raw')
  await sparseFile(disk, 64 * MiB)
  const started = performance.now()
  const vm = await startTestGuest({ disk, format: 'raw', workDir: dir, guest: built.guest! })
  t.teardown(vm.stop)
  await vm.ready
  const readyAt = performance.now()
  t.comment(`boot to READY under TCG: ${((readyAt - started) / 1000).toFixed(2)} s`)

  const writes = await vm.waitForWrites(64)
  const rate = writes / ((performance.now() - readyAt) / 1000)
  // The raw file is readable by the host while the guest runs.
  const during = await readFile(disk)
  t.ok(during.some(b => b !== 0), 'guest writes are visible in the raw file while it runs')
  await vm.stop()
  t.comment(`guest write rate: ${rate.toFixed(1)} writes/s (1..16 pages of 4 KiB each)`)

  const after = await readFile(disk)
  t.equal(after.length, 64 * MiB, 'the disk keeps its size')
  const kinds = pageKinds(after, 0)
  t.ok(kinds.other > 0, `the guest's random data is on the disk (${kinds.other} of ${after.length / PAGE} pages)`)
  const serial = await readFile(vm.serialLog, 'utf8')
  t.match(serial, /^TANDEM-GUEST-READY pages=16384$/m, 'the serial log records READY with the disk size')
  t.notMatch(serial, /TANDEM-GUEST-ERROR/, 'the guest reported no error')
})

t.test('tandem.writes=N powers off after N writes; tandem.pattern fills blocks', { skip: built.skip ?? false }, async t => {
  const dir = await tempDir(t)
  const disk = join(dir, 'disk.raw')
  await sparseFile(disk, 64 * MiB)
  const vm = await startTestGuest({
    disk, format: 'raw', workDir: dir, guest: built.guest!, kernelArgs: ['tandem.writes=24', 'tandem.every=8', 'tandem.pattern=a5', 'tandem.delay=0']
  })
  t.teardown(vm.stop)
  const done = await vm.waitFor(/^TANDEM-GUEST-DONE (\d+)/)
  t.equal(done[1], '24', 'the guest stops after the requested writes')
  const { code } = await vm.exited
  t.equal(code, 0, 'QEMU exits by itself after the guest powers off')
  const kinds = pageKinds(await readFile(disk), 0xa5)
  t.equal(kinds.other, 0, 'every page is either untouched or the pattern')
  t.ok(kinds.filled > 0, `the pattern is on the disk (${kinds.filled} pages)`)
})
