/**
 * The Failover page in headless chromium, served by the real browser-facing
 * server over a fake service whose plans follow the request and whose jobs
 * move along (test/web/fixtures/failover-service.ts): each wizard's steps,
 * the requests exactly as sent (`yes` only once the operator ticked the
 * box), the daemon's summary shown, progress from a moving job. Desktop and
 * phone screenshots, accessibility checked, no console error and no CSP
 * violation.
 */
import t, { type Test } from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { browserMissing, checkAccessible, launchBrowser, openPage, screenshot, type WatchedPage } from '../../helpers/browser.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { servedUi } from '../fixtures/ui-server.ts'
import { REPLICA_STATUS } from '../fixtures/fake-service.ts'
import { FailoverService } from '../fixtures/failover-service.ts'
import { logIn } from '../fixtures/ui-login.ts'

const PASSWORD = 'failover password'

/** The requests of `method` the service got, in order. */
const sent = (service: FailoverService, method: string): unknown[] => service.calls.filter(([m]) => m === method).map(([, arg]) => arg)

async function clean (t: Test, watched: WatchedPage, what: string): Promise<void> {
  t.same(watched.errors, [], `${what}: no console error or exception`)
  t.same(await watched.cspViolations(), [], `${what}: no CSP violation`)
  t.ok(await watched.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${what}: nothing wider than the window`)
}

async function summaryHas (page: Page, text: RegExp): Promise<void> {
  await page.getByRole('region', { name: /^What (?:will happen|stopping does|cancelling does)$/ }).getByText(text).waitFor()
}

t.test('test failover: a point, a drill with its sign of life, the summary, progress; then a test and its stop', { skip: browserMissing() }, async t => {
  const service = new FailoverService()
  const box = await servedUi(t, service)
  const browser = await launchBrowser(t)
  const watched = await openPage(browser, 'desktop')
  const { page } = watched
  await logIn(page, `${box.url}/#/failover`, PASSWORD, box.setupCode)
  await page.getByRole('heading', { level: 1, name: 'Failover' }).waitFor()
  await page.getByRole('link', { name: 'web' }).waitFor()
  t.match(await page.locator('.fo-vms').innerText(), /Held here as Replica: Replicating[\s\S]*Test failover, Unplanned failover[\s\S]*vm1[\s\S]*Runs here, replicated to box-b/, 'each VM with what it can do')
  t.same(await checkAccessible(page), [], 'the list: accessible')
  await screenshot(page, 'failover-list-desktop')

  await page.getByRole('link', { name: 'web' }).click()
  await page.getByRole('heading', { level: 1, name: 'Failover of web' }).waitFor()
  await page.getByRole('button', { name: 'Test failover' }).click()
  await page.getByRole('heading', { name: 'Step 1 of 3: Choose a point' }).waitFor()
  await page.getByLabel(/^Point 3 \(the latest\)/).waitFor()
  t.ok(await page.getByLabel(/^Point 3 \(the latest\)/).isChecked(), 'the latest point is chosen at first')
  t.match(await page.getByLabel(/^Point 2/).evaluate(e => (e as HTMLInputElement).labels?.[0]?.textContent ?? ''), /Crash-consistent, 1 MB, proven by a drill/, 'a point with its consistency and its proof')
  t.match(await page.getByLabel(/^Point 1/).evaluate(e => (e as HTMLInputElement).labels?.[0]?.textContent ?? ''), /App-consistent, 1 MB, not proven by a drill/)
  await page.getByLabel(/^Point 2/).check()
  await page.getByLabel(/^Check it \(a drill\)/).check()
  await page.getByLabel('A serial console line matches a pattern').check()
  await page.getByLabel(/^Pattern/).fill('login: ')
  t.same(await checkAccessible(page), [], 'the point picker and the drill: accessible')
  await screenshot(page, 'failover-test-point-desktop')
  await page.getByRole('button', { name: 'Review' }).click()
  await page.getByRole('heading', { name: 'Step 2 of 3: What will happen' }).waitFor()
  t.same(sent(service, 'failoverTestPlan'), [{ name: 'web', point: 2, check: true, sign: { kind: 'serial', pattern: 'login: ' } }], 'the plan asked for the chosen point and sign')
  await summaryHas(page, /serve recovery point 2 of web .*1 newer point held here/)
  await summaryHas(page, /wait up to 5 min for a serial console line matching \/login: \/, take a screenshot/)
  t.same(sent(service, 'failoverDrill'), [], 'nothing started before the start')
  t.same(await checkAccessible(page), [], 'the summary: accessible')
  await screenshot(page, 'failover-test-summary-desktop')
  // The drill's screenshot: a PNG of 720x400, as QEMU's text screen is.
  service.drillPng = join(await tempDir(t), 'abababababab-20260102T000000Z.png')
  await writeFile(service.drillPng, await page.screenshot({ clip: { x: 0, y: 0, width: 720, height: 400 } }))
  await page.getByRole('button', { name: 'Start the drill' }).click()
  await page.getByText('Point 2 of web is proven').waitFor()
  const shot = page.getByRole('img', { name: 'The screen of point 2\'s test VM when the drill saw it boot' })
  await page.waitForFunction(() => (document.querySelector('.done .proof img') as HTMLImageElement | null)?.complete === true)
  t.equal(await shot.evaluate(el => (el as HTMLImageElement).naturalWidth), 720, 'the drill\'s screenshot shows, through the login')
  t.same(sent(service, 'drillScreenshot'), [{ name: 'web-1', file: 'abababababab-20260102T000000Z.png' }], 'the file its proof names, of its relationship')
  t.match(await page.locator('.done .proof figcaption').innerText(), new RegExp(`Sign of life after 4 s\\. Screenshot on the box: ${service.drillPng}$`), 'and its path on the box')
  t.same(sent(service, 'failoverDrill'), [{ name: 'web', point: 2, sign: { kind: 'serial', pattern: 'login: ' } }], 'the drill of that point, with that sign')
  t.ok(sent(service, 'job').length >= 4, 'the job was followed until it ended')
  t.match(await page.locator('.job').innerText(), /Drill of web: Done/)
  await screenshot(page, 'failover-drill-done-desktop')

  await page.getByRole('button', { name: 'Another test' }).click()
  await page.getByLabel(/^Check it \(a drill\)/).uncheck()
  await page.getByRole('button', { name: 'Review' }).click()
  await page.getByRole('button', { name: 'Start the test' }).click()
  await page.getByRole('heading', { name: 'The running test' }).waitFor()
  t.same(sent(service, 'failoverTest'), [{ name: 'web', point: 2 }], 'the test of the point still chosen')
  t.match(await page.locator('.test-running').innerText(), /web-test is running, on point 3[\s\S]*nbd\+unix:\/\/\/disk0\?socket=/, 'the test VM and its NBD disk')
  t.same(await checkAccessible(page), [], 'the running test: accessible')
  await screenshot(page, 'failover-test-running-desktop')
  await page.getByRole('button', { name: 'Stop the test…' }).click()
  await summaryHas(page, /discard everything the test wrote since/)
  t.same(sent(service, 'failoverStopTest'), [], 'its summary first, nothing stopped')
  await screenshot(page, 'failover-test-stop-desktop')
  await page.getByRole('button', { name: 'Yes, stop the test' }).click()
  await page.getByRole('heading', { name: 'Step 1 of 3: Choose a point' }).waitFor()
  t.same(sent(service, 'failoverStopTest'), ['web'], 'stopped')
  await clean(t, watched, 'desktop')

  const phone = await openPage(browser, 'phone')
  await logIn(phone.page, `${box.url}/#/failover/web`, PASSWORD, box.setupCode)
  await phone.page.getByRole('button', { name: 'Test failover' }).click()
  await phone.page.getByLabel(/^Point 2/).check()
  await screenshot(phone.page, 'failover-test-point-phone', { fullPage: true })
  await phone.page.getByRole('button', { name: 'Review' }).click()
  await summaryHas(phone.page, /serve recovery point 2 of web/)
  t.same(await checkAccessible(phone.page), [], 'the summary (phone): accessible')
  await screenshot(phone.page, 'failover-test-summary-phone', { fullPage: true })
  await clean(t, phone, 'phone')
})

t.test('unplanned failover to an older point: yes only once ticked; then complete, or cancel', { skip: browserMissing() }, async t => {
  const service = new FailoverService()
  const box = await servedUi(t, service)
  const browser = await launchBrowser(t)
  const watched = await openPage(browser, 'desktop')
  const { page } = watched
  await logIn(page, `${box.url}/#/failover/web`, PASSWORD, box.setupCode)
  await page.getByRole('button', { name: 'Unplanned failover' }).click()
  await page.getByLabel(/^Point 1/).check()
  await page.getByRole('button', { name: 'Review' }).click()
  await page.getByRole('heading', { name: 'Step 2 of 4: What will happen' }).waitFor()
  t.same(sent(service, 'failoverPlan'), [{ name: 'web', action: 'unplanned', point: 1 }], 'the dry run of that point')
  await summaryHas(page, /raise the term of web from 1 to 2/)
  await summaryHas(page, /the 2 newer points will be dropped if you complete/)
  await summaryHas(page, /NIC net0 is on bridge br0 on the primary/)
  await screenshot(page, 'failover-unplanned-summary-desktop')
  await page.getByRole('button', { name: 'Next' }).click()
  await page.getByRole('heading', { name: 'Step 3 of 4: Confirm' }).waitFor()
  t.match(await page.locator('.confirm').innerText(), /Point 1 is not the latest: 2 newer points held here will be dropped if you complete/, 'the words say how many newer points')
  const go = page.getByRole('button', { name: 'Fail web over now' })
  t.ok(await go.isDisabled(), 'no failover before the box is ticked')
  t.same(await checkAccessible(page), [], 'the confirmation: accessible')
  await screenshot(page, 'failover-unplanned-confirm-desktop')
  await page.getByLabel('I understand: the 2 newer points will be lost if I complete').check()
  await go.click()
  await page.getByRole('heading', { name: 'Failed over: complete or cancel' }).waitFor()
  t.same(sent(service, 'failoverUnplanned'), [{ name: 'web', point: 1, yes: true }], 'yes sent once ticked, with the point')
  t.match(await page.locator('.job').first().innerText(), /Failover of web: Done/, 'the job followed to its end')
  t.same(await checkAccessible(page), [], 'failed over: accessible')
  await screenshot(page, 'failover-waiting-desktop')

  await page.getByRole('button', { name: 'Complete…' }).click()
  await summaryHas(page, /drop the 2 other recovery points of web/)
  t.same(sent(service, 'failoverPlan').at(-1), { name: 'web', action: 'complete' })
  const complete = page.getByRole('button', { name: 'Complete the failover' })
  t.ok(await complete.isDisabled(), 'no completion before the box is ticked')
  await page.getByLabel('I understand: the 2 other recovery points of web will be dropped').check()
  await screenshot(page, 'failover-complete-confirm-desktop')
  await complete.click()
  await page.getByText('The failover of web is complete').waitFor()
  t.same(sent(service, 'failoverComplete'), [{ name: 'web', yes: true }], 'completed, the loss confirmed')
  await clean(t, watched, 'desktop')

  // The latest point loses nothing: no box to tick, no yes sent; then cancel, after its summary.
  const phone = await openPage(browser, 'phone')
  await logIn(phone.page, `${box.url}/#/failover/web`, PASSWORD, box.setupCode)
  await phone.page.getByRole('button', { name: 'Unplanned failover' }).click()
  await phone.page.getByRole('button', { name: 'Review' }).click()
  await phone.page.getByRole('button', { name: 'Next' }).click()
  await phone.page.getByText('Point 3 is the latest: nothing held here is lost.').waitFor()
  await screenshot(phone.page, 'failover-unplanned-confirm-phone', { fullPage: true })
  await phone.page.getByRole('button', { name: 'Fail web over now' }).click()
  await phone.page.getByRole('heading', { name: 'Failed over: complete or cancel' }).waitFor()
  t.same(sent(service, 'failoverUnplanned').at(-1), { name: 'web', point: 3 }, 'no yes for the latest point')
  await phone.page.getByRole('button', { name: 'Cancel the failover…' }).click()
  await summaryHas(phone.page, /give the term back \(2 to 1\)/)
  t.same(sent(service, 'failoverCancel'), [], 'its summary first')
  t.same(await checkAccessible(phone.page), [], 'cancel (phone): accessible')
  await screenshot(phone.page, 'failover-cancel-phone', { fullPage: true })
  await phone.page.getByRole('button', { name: 'Yes, cancel the failover' }).click()
  await phone.page.getByText('The failover of web is cancelled').waitFor()
  t.same(sent(service, 'failoverCancel'), ['web'])
  await clean(t, phone, 'phone')
})

t.test('planned failover on the primary: summary, confirmation, progress; a failure says what now; reverse replication', { skip: browserMissing() }, async t => {
  const service = new FailoverService()
  service.replica_ = [REPLICA_STATUS, { ...REPLICA_STATUS, relationship: 'db', vm: 'db', state: 'failed-over', reason: 'failed over for good at term 2' }]
  const box = await servedUi(t, service)
  const browser = await launchBrowser(t)
  const watched = await openPage(browser, 'desktop')
  const { page } = watched
  await logIn(page, `${box.url}/#/failover/vm1`, PASSWORD, box.setupCode)
  await page.getByRole('heading', { name: 'Step 1 of 3: What will happen' }).waitFor()
  await summaryHas(page, /shut vm1 down through its guest agent or ACPI, waiting up to 300 s/)
  await summaryHas(page, /lose nothing: every write of the VM is in that point/)
  await page.getByLabel('Power vm1 off if its guest does not shut down in time').check()
  await summaryHas(page, /then power it off/)
  t.same(sent(service, 'failoverPlannedPlan'), [{ name: 'vm1' }, { name: 'vm1', force: true }], 'the summary follows the choice')
  t.same(await checkAccessible(page), [], 'planned: accessible')
  await screenshot(page, 'failover-planned-summary-desktop')
  await page.getByRole('button', { name: 'Next' }).click()
  t.same(sent(service, 'failoverPlanned'), [], 'nothing before the confirmation')
  await screenshot(page, 'failover-planned-confirm-desktop')
  service.failNextPlanned = true
  await page.getByRole('button', { name: 'Fail vm1 over to box-b now' }).click()
  await page.getByRole('heading', { name: 'What now' }).waitFor()
  t.same(sent(service, 'failoverPlanned'), [{ name: 'vm1', force: true }])
  t.match(await page.locator('.job').innerText(), /Planned failover of vm1: Failed[\s\S]*box-b did not answer[\s\S]*P2P_PEER_UNREACHABLE/, 'the failure in words, with its code')
  await page.getByRole('button', { name: 'Cancel the planned failover…' }).click()
  await summaryHas(page, /give up the planned failover of vm1 to box-b/)
  t.same(sent(service, 'failoverCancel'), [], 'its summary first')
  t.same(await checkAccessible(page), [], 'what now: accessible')
  await screenshot(page, 'failover-planned-failed-desktop')
  // This time box-b takes vm1: by the job's end this box holds it as Replica (the page
  // reloads then), yet the wizard stays and follows the failover to its end.
  const [primaries, replicas] = [service.replication_, service.replica_]
  service.replication_ = service.replication_.filter(r => r.vm !== 'vm1')
  service.replica_ = [...service.replica_, { ...REPLICA_STATUS, relationship: 'vm1', vm: 'vm1', term: 2 }]
  await page.getByRole('button', { name: 'Try again' }).click()
  await page.getByText('box-b took vm1 at term 2').waitFor()
  t.same(sent(service, 'failoverPlanned').length, 2, 'tried again')
  await page.getByText('Done: vm1 runs on box-b, which replicates it back to this box: this box is its Replica now.').waitFor()
  await page.getByText(/^Held here as Replica: Replicating\./).waitFor()
  t.pass('the wizard stays once this box holds vm1 as Replica, and says the failover is over')
  await screenshot(page, 'failover-planned-done-desktop')

  await page.goto(`${box.url}/#/failover/db`)
  await page.getByRole('heading', { level: 1, name: 'Failover of db' }).waitFor()
  await summaryHas(page, /ask box-b, the old primary, to become the Replica of db/)
  t.same(sent(service, 'replicationReversePlan'), [{ name: 'db' }])
  await screenshot(page, 'failover-reverse-desktop')
  await page.getByRole('button', { name: 'Start reverse replication' }).click()
  await page.getByText('replication of web reversed').waitFor()
  t.same(sent(service, 'replicationReverse'), [{ name: 'db' }])
  await clean(t, watched, 'desktop')

  service.replication_ = primaries
  service.replica_ = replicas
  const phone = await openPage(browser, 'phone')
  await logIn(phone.page, `${box.url}/#/failover/vm1`, PASSWORD, box.setupCode)
  await summaryHas(phone.page, /send its last changes to box-b/)
  t.same(await checkAccessible(phone.page), [], 'planned (phone): accessible')
  await screenshot(phone.page, 'failover-planned-phone', { fullPage: true })
  await clean(t, phone, 'phone')
})
