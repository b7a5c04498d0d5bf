/**
 * A test failover with a drill, run from the Replica's page, on two real
 * boxes (docs/web.md "Two boxes"): box A runs the busybox test guest in a
 * qemu-driver VM (direct kernel boot, TCG) and protects it to box B with the
 * CLI, a cycle every few seconds; its kernel is the bzImage, so that its
 * log shows on the screen the drill takes. On B's page: the VM page's timeline of
 * points; the Test failover wizard: an older point, "Check it (a drill)"
 * with the serial sign the guest prints, the daemon's summary, the start,
 * the job's progress until the drill ends and the point is proven; the
 * drill's screenshot shown (loaded, and its bytes through the page's
 * session are the PNG on B's disk), with its path on the box; then the VM
 * page's timeline marks the point proven, with the same screenshot.
 * Screenshots at desktop width, the drill's result at phone width;
 * accessibility checked, no console error, no CSP violation. Every QEMU
 * the test started is killed by its pid at teardown.
 */
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import type { PointsResult, VmInfo } from '../../../appliance/service/index.ts'
import { browserMissing, checkAccessible, launchBrowser, openPage, screenshot, VIEWPORTS, type WatchedPage } from '../../helpers/browser.ts'
import { cycleOk, eventLine } from '../../helpers/event-log-wait.ts'
import { scatteredPatches, sparseFile, tempDir, writePatches } from '../../helpers/fixtures.ts'
import { ensureDisplayKernel, ensureTestGuest } from '../../helpers/guest/build-guest.ts'
import { tandemAt, tandemJsonAt } from '../../helpers/tandem-cli.ts'
import { requireTools, TEST_GUEST_TOOLS } from '../../helpers/tools.ts'
import { clean, pairBoxes, webBox } from '../fixtures/real-boxes.ts'
import { logIn } from '../fixtures/ui-login.ts'

requireTools(t, ['qemu-img', ...TEST_GUEST_TOOLS])

const MiB = 2 ** 20
const DISK_BYTES = 16 * MiB
/**
 * The kernel's log on the screen too (`console=tty0`: what the drill's
 * screenshot shows), the guest's own lines on the serial console (the last
 * `console=` is /dev/console); the guest writes a few pages every 200 ms,
 * so the points differ.
 */
const APPEND = 'console=tty0 console=ttyS0 panic=-1 tandem.every=4 tandem.delay=200000'
/**
 * The sign of life: a line the test guest prints once it runs, its ready
 * line or any of its write counts (test/helpers/guest/build-guest.ts
 * MARKER): the kernel's lines, on the serial console too, may cut the one
 * ready line in two, never all the counts that follow every 4 writes.
 */
const SIGN = '^TANDEM-GUEST-(?:READY pages=|WRITES )\\d+$'
/** "Every few seconds". */
const FREQUENCY = '3s'
/**
 * How long the page may take to show the drill's end: serving the point,
 * booting the guest under TCG on a machine shared with other tests, the
 * screenshot and the stop. The drill's own limit for the sign is 5 min.
 */
const TIMEOUT_DRILL_MS = 6 * 60_000
/** How long a page may take to show what the daemon already did (a load, a live update). */
const TIMEOUT_PAGE_MS = 60_000

/** The PNG `src` names, fetched through the page's own session (its cookie), as base64. */
async function fetchedThroughPage (page: Page, src: string): Promise<{ status: number, type: string | null, base64: string }> {
  return await page.evaluate(async url => {
    const r = await fetch(url)
    const bytes = new Uint8Array(await r.arrayBuffer())
    let binary = ''
    for (const b of bytes) binary += String.fromCharCode(b)
    return { status: r.status, type: r.headers.get('content-type'), base64: btoa(binary) }
  }, src)
}

/** Waits until the image `selector` names has loaded (or failed); its natural width then (0 when it failed). */
async function loadedWidth (page: Page, selector: string): Promise<number> {
  await page.waitForFunction(s => (document.querySelector(s) as HTMLImageElement | null)?.complete === true, selector, { timeout: TIMEOUT_PAGE_MS })
  return await page.locator(selector).evaluate(el => (el as HTMLImageElement).naturalWidth)
}

t.test('a drill from the Replica\'s page: choose a point, check it with the serial sign, watch it, see its screenshot', { skip: browserMissing() }, async t => {
  const guest = await ensureTestGuest()
  // The bzImage: booted through its real-mode setup, the kernel prints on the VGA screen the drill takes.
  const kernel = await ensureDisplayKernel(guest)
  const root = await tempDir(t)
  const a = await webBox(t, root, 'box-a')
  const b = await webBox(t, root, 'box-b')
  await pairBoxes(b, a)
  // Registered after the boxes, so run before their daemons stop (teardowns run last first).
  const pids: number[] = []
  t.teardown(async () => {
    await tandemAt(a.dir, ['vm', 'stop', 'qvm', '--force', '--timeout', '1s']).catch(() => undefined)
    const testPid = await readFile(join(b.dir, 'failover', 'qvm', 'test', 'qemu.pid'), 'utf8').catch(() => '')
    if (testPid !== '') pids.push(Number(testPid))
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL') } catch {} }
  })

  // 1. Box A runs the guest and protects it to B every few seconds; two points reach B.
  const disk = join(root, 'qvm.raw')
  await sparseFile(disk, DISK_BYTES)
  await writePatches(disk, scatteredPatches(14, DISK_BYTES, 8, MiB))
  await tandemJsonAt(a.dir, ['vm', 'add', 'qvm', '--driver', 'qemu', '--disk', disk, '--memory', '128', '--kernel', kernel, '--initrd', guest.initrd, '--append', APPEND])
  const started = await tandemJsonAt<VmInfo>(a.dir, ['vm', 'start', 'qvm'])
  t.equal(started.state, 'running', 'the guest runs on box A')
  pids.push(started.pid!)
  const enabled = await tandemAt(a.dir, ['replication', 'enable', 'qvm', '--to', 'box-b', '--frequency', FREQUENCY])
  t.equal(enabled.status, 0, `protected to box B with the CLI: ${enabled.stderr}`)
  await eventLine(a.dir, cycleOk, await eventLine(a.dir, cycleOk, 0))
  const held = await tandemJsonAt<PointsResult>(b.dir, ['points', 'qvm'])
  t.ok(held.points.length >= 2, 'an older point and the latest on box B')
  // The oldest point is the first of its hour: retention keeps it while cycles go on (core/store/retention.ts).
  const point = held.points[0]!

  // 2. B's VM page: the timeline of its points.
  const browser = await launchBrowser(t)
  const desktop = await openPage(browser, 'desktop')
  const page = desktop.page
  page.setDefaultTimeout(TIMEOUT_PAGE_MS)
  await logIn(page, `${b.url}/#/vm/qvm`, b.password, b.setupCode)
  await page.getByRole('heading', { level: 2, name: 'Replica here, of box-a' }).waitFor()
  const pointItem = page.locator('ol.timeline li.point').filter({ has: page.getByText(`Point ${point.id}`, { exact: true }) })
  await pointItem.waitFor()
  t.match(await pointItem.innerText(), /Crash-consistent[\s\S]*Not proven by a drill/, 'the older point, not proven yet')
  t.same(await checkAccessible(page), [], 'the VM page: accessible')
  await screenshot(page, 'drill-1-vm-points-desktop')

  // 3. The Test failover wizard: that point, a drill with the guest's serial line as its sign.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Failover' }).click()
  await page.getByRole('link', { name: 'qvm' }).click()
  await page.getByRole('heading', { level: 1, name: 'Failover of qvm' }).waitFor()
  await page.getByRole('button', { name: 'Test failover' }).click()
  await page.getByRole('heading', { name: 'Step 1 of 3: Choose a point' }).waitFor()
  await page.getByLabel(new RegExp(`^Point ${point.id}\\b`)).check()
  await page.getByLabel(/^Check it \(a drill\)/).check()
  await page.getByLabel('A serial console line matches a pattern').check()
  await page.getByLabel(/^Pattern/).fill(SIGN)
  t.same(await checkAccessible(page), [], 'the point and the drill: accessible')
  await screenshot(page, 'drill-2-choose-desktop')
  await page.getByRole('button', { name: 'Review' }).click()
  await page.getByRole('heading', { name: 'Step 2 of 3: What will happen' }).waitFor()
  const summary = page.getByRole('region', { name: 'What will happen' })
  await summary.getByText(new RegExp(`serve recovery point ${point.id} of qvm`)).waitFor()
  await summary.getByText(/serial console line matching .*TANDEM-GUEST-.*take a screenshot/).waitFor()
  t.pass('the summary names the point and the sign')
  t.same(await checkAccessible(page), [], 'the summary: accessible')
  await screenshot(page, 'drill-3-summary-desktop')

  // 4. The start; the job's progress until the drill ends.
  await page.getByRole('button', { name: 'Start the drill' }).click()
  await page.getByRole('heading', { name: 'Step 3 of 3: The drill' }).waitFor()
  const job = page.locator('.job')
  await job.getByText('Drill of qvm: Running').waitFor()
  await page.getByText(new RegExp(`^Point ${point.id} boots in a test VM on an isolated network; the drill waits up to 5 min for a serial console line matching /.*TANDEM-GUEST-.*/, then takes a screenshot of its screen and stops it\\. Started `)).waitFor()
  t.pass('the drill runs, and the page says what it waits for')
  await screenshot(page, 'drill-4-running-desktop')
  await page.getByText(`Point ${point.id} of qvm is proven`).waitFor({ timeout: TIMEOUT_DRILL_MS })
  t.match(await job.innerText(), /Drill of qvm: Done/, 'the drill ended well')
  t.match(await page.locator('.card.done > p').first().innerText(), /serial/, 'with what it saw')

  // 5. Its screenshot: shown, the very PNG on B's disk, and its path as text.
  const shot = page.getByRole('img', { name: `The screen of point ${point.id}'s test VM when the drill saw it boot` })
  await shot.waitFor()
  t.ok(await loadedWidth(page, '.card.done .proof img') > 0, 'the drill\'s screenshot is loaded')
  const path = await page.locator('.card.done .proof figcaption code').innerText()
  t.ok(path.startsWith(join(b.dir, 'drills') + '/') && path.endsWith('.png'), `its path on box B: ${path}`)
  const src = await shot.getAttribute('src') ?? ''
  t.match(src, /^\/v1\/drills\/[^/]+\/screenshots\/[^/]+\.png$/, 'served by the drills route')
  const fetched = await fetchedThroughPage(page, src)
  t.same([fetched.status, fetched.type], [200, 'image/png'], 'a PNG, through the page\'s session')
  t.ok(Buffer.from(fetched.base64, 'base64').equals(await readFile(path)), 'its bytes are the PNG file on box B\'s disk')
  const proven = (await tandemJsonAt<PointsResult>(b.dir, ['points', 'qvm'])).points.find(p => p.id === point.id)
  t.match(proven?.proven, { sign: 'serial', screenshot: path }, 'box B holds the point proven, with that screenshot')
  t.same(await checkAccessible(page), [], 'the drill\'s result: accessible')
  await screenshot(page, 'drill-5-proven-desktop')
  await page.setViewportSize(VIEWPORTS.phone)
  t.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= VIEWPORTS.phone.width, 'the result at phone width: nothing wider than the phone')
  t.same(await checkAccessible(page), [], 'the drill\'s result at phone width: accessible')
  await screenshot(page, 'drill-6-proven-phone')
  await page.setViewportSize(VIEWPORTS.desktop)

  // 6. The VM page's timeline: the point proven by a drill, with its screenshot.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click()
  await page.getByRole('link', { name: 'qvm' }).first().click()
  await page.getByRole('heading', { level: 1, name: 'qvm' }).waitFor()
  await pointItem.locator('.tag.proven').waitFor()
  t.match(await pointItem.innerText(), /Proven by a drill[\s\S]*the serial console showed the expected line/, 'the point is proven by a drill')
  t.ok(await loadedWidth(page, 'ol.timeline li.point.proven .proof img') > 0, 'its screenshot shows on the timeline')
  t.equal(await pointItem.locator('.proof img').getAttribute('src'), src, 'the same screenshot')
  t.same(await checkAccessible(page), [], 'the VM page with the proven point: accessible')
  await screenshot(page, 'drill-7-vm-proven-desktop')

  const phones: Array<[string, WatchedPage]> = []
  const phone = await openPage(browser, 'phone')
  phones.push(['box B (phone)', phone])
  phone.page.setDefaultTimeout(TIMEOUT_PAGE_MS)
  await logIn(phone.page, `${b.url}/#/vm/qvm`, b.password, b.setupCode)
  await phone.page.locator('ol.timeline li.point.proven .proof img').waitFor()
  t.ok(await loadedWidth(phone.page, 'ol.timeline li.point.proven .proof img') > 0, 'the screenshot on the timeline (phone)')
  t.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth) <= VIEWPORTS.phone.width, 'the VM page (phone): nothing wider than the phone')
  await screenshot(phone.page, 'drill-8-vm-proven-phone')
  await clean(t, [['box B', desktop], ...phones])
})
