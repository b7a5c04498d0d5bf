/**
 * Protect a VM and run a planned failover, both from the page, on two real
 * boxes (docs/web.md "Two boxes"): two `tandem start` processes, paired
 * with the CLI, driven in headless chromium through box A's page.
 *
 * 1. The Protect wizard adds a disk image as a manual-driver VM, protects it
 *    to box B with choices other than the defaults (every 15 minutes, 4
 *    hourly points, app-consistent every 4 hours, the first copy now over
 *    the network), and its progress part follows the initial replication to
 *    its end; both dashboards then show the VM Replicating. The CLI agrees:
 *    the settings chosen, and box B holds a point whose root is the disk's
 *    (recomputed here from the file's bytes: docs/store-format.md).
 * 2. The disk changes (the operator's last writes, the VM then shut down by
 *    its own hypervisor), and a planned failover runs from the VM's page:
 *    the daemon's summary in words, the confirmation, the job's progress to
 *    its end. Box B's page then shows the VM running there, box A's holds
 *    it as Replica, and the disk box B started from is A's final disk, byte
 *    for byte (as the CLI's planned failover test checks it).
 *
 * Screenshots of each step at desktop width, the protect result and the
 * planned summary at phone width too; accessibility checked on every new
 * state; no console error and no CSP violation on any page.
 */
import t, { type Test } from 'tap'
import { copyFile, open } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import type { BoxReplicationStatus } from '../../../appliance/cli/replication.ts'
import type { PointsResult, VmInfo } from '../../../appliance/service/index.ts'
import { DEFAULT_BLOCK_SIZE } from '../../../core/constants.ts'
import { hashBlock } from '../../../core/hash.ts'
import { diskRoot, pointRoot } from '../../../core/manifest.ts'
import { browserMissing, checkAccessible, launchBrowser, openPage, screenshot, VIEWPORTS } from '../../helpers/browser.ts'
import { fileHash, scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { tandemJsonAt } from '../../helpers/tandem-cli.ts'
import { clean, dashboardState, pairBoxes, webBox } from '../fixtures/real-boxes.ts'
import { logIn } from '../fixtures/ui-login.ts'

const MiB = 2 ** 20
/** Small, so that the initial copy is quick; the scattered data makes it more than zeros. */
const DISK_BYTES = 16 * MiB
/** The waits on a daemon's work (a copy, a failover, its reversal): generous, for a loaded machine. */
const TIMEOUT_WORK_MS = 120_000

/** The root of a one-disk point holding `path` as disk `name`, from the file's bytes (docs/store-format.md). */
async function pointRootOf (path: string, name: string): Promise<string> {
  const h = await open(path, 'r')
  try {
    const { size } = await h.stat()
    const hashes: Uint8Array[] = []
    const buf = Buffer.alloc(DEFAULT_BLOCK_SIZE)
    for (let pos = 0; pos < size; pos += DEFAULT_BLOCK_SIZE) {
      const { bytesRead } = await h.read(buf, 0, Math.min(DEFAULT_BLOCK_SIZE, size - pos), pos)
      hashes.push(hashBlock(buf.subarray(0, bytesRead)))
    }
    return pointRoot([{ name, root: diskRoot({ size, blockSize: DEFAULT_BLOCK_SIZE, hashes: Buffer.concat(hashes) }) }])
  } finally {
    await h.close()
  }
}

/**
 * Waits until the dashboard on `page` shows web on `side` (`runs on X,
 * Replica on Y`) and Replicating; checks it and saves screenshot `name`.
 */
async function dashboardReplicating (t: Test, page: Page, side: string, what: string, name: string): Promise<void> {
  await page.getByText(side).waitFor({ timeout: TIMEOUT_WORK_MS })
  await page.waitForFunction(() => [...document.querySelectorAll('li.vm')]
    .some(li => li.querySelector('h3 a')?.textContent === 'web' && li.querySelector('dd')?.firstChild?.textContent === 'Replicating'), undefined, { timeout: TIMEOUT_WORK_MS })
  t.equal(await dashboardState(page, 'web'), 'Replicating', `${what}: Replicating`)
  t.same(await checkAccessible(page), [], `${what}: accessible`)
  await screenshot(page, name)
}

/**
 * Checks `page` as shown now at desktop width (accessible, screenshot
 * `NAME-desktop`), then at phone width (nothing wider than the phone,
 * accessible, `NAME-phone`), and brings it back to desktop width.
 */
async function atBothWidths (t: Test, page: Page, name: string, what: string): Promise<void> {
  t.same(await checkAccessible(page), [], `${what}: accessible`)
  await screenshot(page, `${name}-desktop`)
  await page.setViewportSize(VIEWPORTS.phone)
  try {
    t.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= VIEWPORTS.phone.width, `${what} (phone): nothing wider than the phone`)
    t.same(await checkAccessible(page), [], `${what} (phone): accessible`)
    await screenshot(page, `${name}-phone`)
  } finally {
    await page.setViewportSize(VIEWPORTS.desktop)
  }
}

t.test('protect a VM from the page, watch its first copy, then fail it over (planned) from the page', { skip: browserMissing() }, async t => {
  const root = await tempDir(t)
  const a = await webBox(t, root, 'box-a')
  const b = await webBox(t, root, 'box-b')
  await pairBoxes(b, a)
  const disk = join(root, 'web.raw')
  await sparseFile(disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(41, DISK_BYTES, 10, MiB))

  const browser = await launchBrowser(t)
  const onA = await openPage(browser, 'desktop')
  const onB = await openPage(browser, 'desktop')
  const pa = onA.page
  const pb = onB.page
  await logIn(pa, `${a.url}/#/protect`, a.password, a.setupCode)
  await logIn(pb, `${b.url}/#/`, b.password, b.setupCode)

  // 1. The wizard: the VM added from the page, then each step's choice.
  const step = async (n: number, title: string): Promise<void> => { await pa.getByRole('heading', { level: 2, name: `Step ${n} of 6: ${title}` }).waitFor() }
  await step(1, 'The VM')
  await pa.getByRole('button', { name: 'The VM is not in the list' }).click()
  await pa.getByLabel('VM name').fill('web')
  await pa.getByLabel('Disk image on this box').fill(disk)
  t.same(await checkAccessible(pa), [], 'Protect, adding a disk image: accessible')
  await screenshot(pa, 'protect-planned-1-add-vm-desktop')
  await pa.getByRole('button', { name: 'Add this VM' }).click()
  const vmChoice = pa.getByRole('radio', { name: /^web/ })
  await vmChoice.waitFor()
  t.ok(await vmChoice.isChecked(), 'the VM added is listed and chosen')
  t.match((await tandemJsonAt<VmInfo[]>(a.dir, ['vm', 'list'])).find(v => v.name === 'web'), { driver: 'manual', disks: [{ path: disk }] }, 'box A has it, under the manual driver')
  await pa.getByRole('button', { name: 'Next' }).click()

  await step(2, 'The box that keeps the copy')
  await pa.getByRole('radio', { name: /^box-b/ }).check()
  await pa.getByRole('button', { name: 'Next' }).click()
  await step(3, 'How often')
  await pa.getByRole('radio', { name: 'Every 15 minutes' }).check()
  await pa.getByRole('button', { name: 'Next' }).click()
  await step(4, 'Recovery points')
  await pa.getByLabel('Hourly recovery points kept besides the latest').fill('4')
  await pa.getByLabel('App-consistent points').selectOption('4h')
  await pa.getByRole('button', { name: 'Next' }).click()
  await step(5, 'The first copy')
  await pa.getByRole('radio', { name: 'Now, over the network' }).check()
  await pa.getByRole('button', { name: 'Next' }).click()
  await step(6, 'Check and protect')
  const summary = await pa.locator('ul.protect-summary').innerText()
  for (const words of ['web runs on box-a; box-b keeps its copy.', 'every 15 minutes', 'plus 4 hourly points', 'every 4 hours', 'now, over the network']) {
    t.ok(summary.includes(words), `the summary says: ${words}`)
  }
  t.match(await pa.locator('.protect-step').innerText(), /web is run by another program: Tandem cannot ask its guest to flush its writes, so its points are crash-consistent/, 'and that a manual VM\'s points stay crash-consistent')
  t.same(await checkAccessible(pa), [], 'Protect, the last step: accessible')
  await screenshot(pa, 'protect-planned-2-review-desktop')

  // 2. Protect: the progress part follows the first copy to its end. The enable answers
  // before the first cycle (waiting for its initial replication), so the progress part is
  // drawn at least once; its words are recorded as they change, however quick the copy.
  await pa.evaluate(() => {
    const seen: string[] = []
    ;(globalThis as unknown as { progressSeen: string[] }).progressSeen = seen
    new MutationObserver(() => {
      const words = document.getElementById('progress-words')?.textContent
      if (words != null && seen.at(-1) !== words) seen.push(words)
    }).observe(document.body, { subtree: true, childList: true, characterData: true })
  })
  await pa.getByRole('button', { name: 'Protect web' }).click()
  await pa.getByRole('heading', { level: 2, name: 'web is protected' }).waitFor({ timeout: TIMEOUT_WORK_MS })
  const progressSeen = await pa.evaluate(() => (globalThis as unknown as { progressSeen: string[] }).progressSeen)
  t.comment(`the progress part said: ${progressSeen.join(' | ')}`)
  t.ok(progressSeen.length >= 1, 'the progress part was shown before the end')
  t.match(await pa.locator('.protect-done').innerText(), /The first full copy is on box-b\. New recovery points follow every 15 min/, 'the copy is on box-b, in words')
  await atBothWidths(t, pa, 'protect-planned-3-protected', 'Protect, done')

  await pa.getByRole('link', { name: 'Back to the dashboard' }).click()
  await dashboardReplicating(t, pa, 'runs on box-a, Replica on box-b', 'box A\'s dashboard', 'protect-planned-4-dashboard-a-desktop')
  await dashboardReplicating(t, pb, 'runs on box-a, Replica on box-b', 'box B\'s dashboard', 'protect-planned-4-dashboard-b-desktop')

  const onPrimary = (await tandemJsonAt<BoxReplicationStatus>(a.dir, ['replication', 'status', 'web'])).primary[0]
  t.match(onPrimary, {
    role: 'primary', state: 'replicating', term: 1,
    settings: { frequency: 15 * 60_000, recoveryPoints: 4, appConsistentEvery: 4 * 3_600_000, initial: 'now' }
  }, 'box A replicates web with the choices made on the page')
  const firstPoints = await tandemJsonAt<PointsResult>(b.dir, ['points', 'web'])
  const diskName = firstPoints.points.at(-1)?.disks[0]?.name ?? 'disk0'
  t.ok(firstPoints.points.length >= 1, 'box B holds a recovery point of web')
  t.equal(firstPoints.points.at(-1)?.root, await pointRootOf(disk, diskName), 'its content is the disk: the point\'s root is the one of the file\'s bytes')

  // 3. The operator's last writes, the VM shut down by its own hypervisor: nothing holds the file now.
  await writePatches(disk, scatteredPatches(42, DISK_BYTES, 4, 300_000))
  const final = join(root, 'final.raw')
  await copyFile(disk, final)

  // 4. A planned failover from the VM's page.
  await pa.getByRole('link', { name: 'web', exact: true }).click()
  await pa.getByRole('heading', { level: 2, name: 'Runs here, on box-a' }).waitFor()
  await pa.getByRole('link', { name: /^Fail over/ }).click()
  await pa.getByRole('heading', { level: 1, name: 'Failover of web' }).waitFor()
  await pa.getByRole('heading', { level: 2, name: 'Step 1 of 3: What will happen' }).waitFor()
  const plan = pa.getByRole('region', { name: 'What will happen' })
  await plan.waitFor()
  t.match(await plan.innerText(), /box-b/, 'the summary names the Replica')
  await atBothWidths(t, pa, 'protect-planned-5-planned-summary', 'planned failover, the summary')

  await pa.getByRole('button', { name: 'Next' }).click()
  await pa.getByRole('heading', { level: 2, name: 'Step 2 of 3: Confirm' }).waitFor()
  t.same(await checkAccessible(pa), [], 'planned failover, the confirmation: accessible')
  await screenshot(pa, 'protect-planned-6-planned-confirm-desktop')
  await pa.getByRole('button', { name: 'Fail web over to box-b now' }).click()
  await pa.getByRole('heading', { level: 2, name: 'Step 3 of 3: Failing over' }).waitFor()
  await pa.getByText('Planned failover of web: Done').waitFor({ timeout: TIMEOUT_WORK_MS })
  await pa.getByText(/box-b took web at term 2/).waitFor()
  await pa.getByText('Done: web runs on box-b, which replicates it back to this box: this box is its Replica now.').waitFor({ timeout: TIMEOUT_WORK_MS })
  await pa.getByText(/^Held here as Replica: Replicating\./).waitFor()
  t.pass('the page follows box-b\'s side to its end: this box is the Replica, replicating')
  t.same(await checkAccessible(pa), [], 'planned failover, done: accessible')
  await screenshot(pa, 'protect-planned-7-planned-done-desktop')

  // 5. Box B runs web and replicates it back to box A.
  await pa.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click()
  await dashboardReplicating(t, pb, 'runs on box-b, Replica on box-a', 'box B\'s dashboard, after the failover', 'protect-planned-8-dashboard-b-desktop')
  await dashboardReplicating(t, pa, 'runs on box-b, Replica on box-a', 'box A\'s dashboard, after the failover', 'protect-planned-8-dashboard-a-desktop')
  await pb.getByRole('link', { name: 'web', exact: true }).click()
  await pb.getByRole('heading', { level: 2, name: 'Runs here, on box-b' }).waitFor()
  const vmOnB = (await tandemJsonAt<VmInfo[]>(b.dir, ['vm', 'list'])).find(v => v.name === 'web')
  t.match(vmOnB, { driver: 'manual', relationship: { role: 'primary' } }, 'box B has web now, its primary')
  await pb.locator('.vm-manual code').getByText(vmOnB!.disks[0]!.path, { exact: true }).waitFor()
  t.pass('box B\'s VM page names the disk file its hypervisor must use')
  t.same(await checkAccessible(pb), [], 'box B\'s VM page: accessible')
  await screenshot(pb, 'protect-planned-9-vm-b-desktop')
  await pa.getByRole('link', { name: 'web', exact: true }).click()
  await pa.getByRole('heading', { level: 2, name: 'Replica here, of box-b' }).waitFor()
  t.same(await checkAccessible(pa), [], 'box A\'s VM page, as Replica: accessible')
  await screenshot(pa, 'protect-planned-9-vm-a-desktop')

  t.equal(await fileHash(vmOnB!.disks[0]!.path), await fileHash(final), 'the disk box B started from is box A\'s final disk, byte for byte')
  t.match((await tandemJsonAt<BoxReplicationStatus>(b.dir, ['replication', 'status', 'web'])).primary[0], {
    role: 'primary', term: 2, state: 'replicating', settings: { frequency: 15 * 60_000, recoveryPoints: 4 }
  }, 'box B replicates web, with the settings chosen on the page')
  t.match((await tandemJsonAt<BoxReplicationStatus>(a.dir, ['replication', 'status', 'web'])).replica[0], { term: 2, state: 'replicating' }, 'to box A, its Replica now')
  const back = await tandemJsonAt<PointsResult>(a.dir, ['points', 'web'])
  t.equal(back.points.at(-1)?.root, await pointRootOf(final, diskName), 'box A\'s newest point is that same disk')

  await clean(t, [['box A', onA], ['box B', onB]])
})
