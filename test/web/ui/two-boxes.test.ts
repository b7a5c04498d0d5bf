/**
 * Two real boxes in a browser (docs/web.md "Two boxes"): two `tandem start`
 * processes, each initialized with `--api 127.0.0.1:PORT` (HTTPS, its own
 * self-signed certificate), driven in headless chromium through their own
 * pages only: the admin password set on each with the one-time code
 * `tandem status --json` shows; box A opens a pairing window, box B joins
 * with the PIN and the address A's page shows; both pages show the same
 * confirmation code and list each other. Then a manual-driver VM on A is
 * protected to B with the CLI (protect-planned.test.ts protects from the page) and
 * both dashboards, loaded before and never reloaded, show it replicating
 * through the live channel. Screenshots of each step at desktop width, and
 * of both dashboards at phone width; accessibility checked, no console
 * error and no CSP violation on any page.
 */
import t from 'tap'
import { join } from 'node:path'
import type { PeerInfo, StatusInfo } from '../../../appliance/service/index.ts'
import { browserMissing, checkAccessible, launchBrowser, openPage, screenshot, type WatchedPage } from '../../helpers/browser.ts'
import { sparseFile, tempDir } from '../../helpers/fixtures.ts'
import { addManualVm, tandemAt, tandemJsonAt } from '../../helpers/tandem-cli.ts'
import { clean, dashboardState, webBox } from '../fixtures/real-boxes.ts'
import { logIn } from '../fixtures/ui-login.ts'

/** The demo VM's disk: small, so that its initial replication is quick. */
const DISK_BYTES = 8 * 1024 * 1024
/** Long enough that the live channel, not a cycle's timing, is what the dashboards wait on. */
const FREQUENCY = '30s'

t.test('two boxes: set the passwords, pair through their pages, watch a VM replicate live', { skip: browserMissing() }, async t => {
  const root = await tempDir(t)
  const a = await webBox(t, root, 'box-a')
  const b = await webBox(t, root, 'box-b')
  for (const x of [a, b]) {
    t.match(x.url, /^https:\/\/127\.0\.0\.1:\d+$/, `${x.name}: served over HTTPS on loopback`)
    t.match(x.status.web?.fingerprint, /^SHA256 [0-9A-F:]{95}$/, `${x.name}: its certificate's fingerprint`)
  }
  const browser = await launchBrowser(t)
  const onA = await openPage(browser, 'desktop')
  const onB = await openPage(browser, 'desktop')
  const pa = onA.page
  const pb = onB.page

  // 1. The first admin password, with each box's one-time code.
  await pa.goto(`${a.url}/`)
  await pa.getByRole('heading', { level: 1, name: 'Set the admin password' }).waitFor()
  t.same(await checkAccessible(pa), [], 'the set-password page: accessible')
  await screenshot(pa, 'two-boxes-1-set-password-desktop')
  await logIn(pa, `${a.url}/#/pairing`, a.password, a.setupCode)
  await logIn(pb, `${b.url}/#/pairing`, b.password, b.setupCode)
  for (const x of [a, b]) t.equal((await tandemJsonAt<StatusInfo>(x.dir, ['status'])).web?.passwordSet, true, `${x.name}: its password is set`)

  // 2. A opens a window; B joins it with the PIN and the address A's page shows.
  await pa.getByRole('button', { name: 'Open a pairing window' }).click()
  const pin = (await pa.locator('strong.pin').innerText()).replace(/\s/g, '')
  t.match(pin, /^\d{8}$/, 'box A shows a PIN')
  const address = await pa.locator('.addresses code').first().innerText()
  t.match(address, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${a.status.peerId}$`), 'and its address')
  await screenshot(pa, 'two-boxes-2-window-open-desktop')
  await pb.getByLabel('PIN (8 digits)').fill(pin)
  await pb.getByLabel('Its address').fill(address)
  await screenshot(pb, 'two-boxes-3-join-desktop')
  await pb.getByRole('button', { name: 'Join with the PIN' }).click()
  await pb.getByText('Paired with box-a').waitFor()
  const codeOnB = await pb.locator('section[aria-labelledby="join-title"] .joined strong.pin').innerText()
  await pa.getByText('box-b joined this box').waitFor()
  const codeOnA = await pa.locator('section[aria-labelledby="open-title"] .joined strong.pin').innerText()
  t.match(codeOnA, /^\d{6}$/, 'box A shows a confirmation code')
  t.equal(codeOnB, codeOnA, 'both pages show the same confirmation code')
  await pa.locator('ul.peers').getByText('box-b').waitFor()
  await pb.locator('ul.peers').getByText('box-a').waitFor()
  t.pass('each page lists the other box')
  t.same(await checkAccessible(pa), [], 'box A\'s pairing page, paired: accessible')
  t.same(await checkAccessible(pb), [], 'box B\'s pairing page, paired: accessible')
  await screenshot(pa, 'two-boxes-4-paired-a-desktop')
  await screenshot(pb, 'two-boxes-4-paired-b-desktop')
  t.same((await tandemJsonAt<PeerInfo[]>(a.dir, ['pair', 'list'])).map(p => p.name), ['box-b'], 'box A has paired box B')
  t.same((await tandemJsonAt<PeerInfo[]>(b.dir, ['pair', 'list'])).map(p => p.name), ['box-a'], 'box B has paired box A')

  // 3. Both dashboards open, then a VM on A protected to B: they follow through the live channel.
  for (const [page, x] of [[pa, a], [pb, b]] as const) {
    await page.getByRole('link', { name: 'Dashboard' }).click()
    await page.getByText(`${x.name}: no VM is protected yet.`).waitFor()
    await page.locator('header .live.open').waitFor()
    await page.evaluate(() => { (globalThis as unknown as { notReloaded: boolean }).notReloaded = true })
  }
  await screenshot(pa, 'two-boxes-5-dashboard-empty-desktop')
  const disk = join(root, 'web.img')
  await sparseFile(disk, DISK_BYTES)
  await addManualVm(a.dir, 'web', disk)
  const enabled = await tandemAt(a.dir, ['replication', 'enable', 'web', '--to', b.status.peerId, '--frequency', FREQUENCY])
  t.equal(enabled.status, 0, `replication enabled with the CLI: ${enabled.stderr}`)
  await pa.getByText('runs on box-a, Replica on box-b').waitFor()
  await pb.getByText('runs on box-a, Replica on box-b').waitFor()
  t.pass('both dashboards show the VM, each naming both boxes')
  for (const [page, x] of [[pa, a], [pb, b]] as const) {
    await page.waitForFunction(() => [...document.querySelectorAll('li.vm dd')].some(dd => dd.firstChild?.textContent === 'Replicating'))
    t.equal(await dashboardState(page, 'web'), 'Replicating', `${x.name}'s dashboard: replicating`)
    t.equal(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded), true, `${x.name}'s dashboard followed without a reload`)
    t.same(await checkAccessible(page), [], `${x.name}'s dashboard: accessible`)
  }
  await screenshot(pa, 'two-boxes-6-dashboard-a-desktop')
  await screenshot(pb, 'two-boxes-6-dashboard-b-desktop')

  // 4. The dashboards at phone width.
  const phones: Array<[string, WatchedPage]> = []
  for (const x of [a, b]) {
    const phone = await openPage(browser, 'phone')
    phones.push([`${x.name} (phone)`, phone])
    await logIn(phone.page, `${x.url}/#/`, x.password, x.setupCode)
    await phone.page.getByText('runs on box-a, Replica on box-b').waitFor()
    t.equal(await dashboardState(phone.page, 'web'), 'Replicating', `${x.name}'s dashboard (phone): replicating`)
    t.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth) <= 390, `${x.name} (phone): nothing wider than the phone`)
    t.same(await checkAccessible(phone.page), [], `${x.name}'s dashboard (phone): accessible`)
    await screenshot(phone.page, `two-boxes-7-dashboard-${x.name === 'box-a' ? 'a' : 'b'}-phone`)
  }
  await clean(t, [['box A', onA], ['box B', onB], ...phones])
})
