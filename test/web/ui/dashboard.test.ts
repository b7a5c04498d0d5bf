/**
 * The front end in a real headless chromium (test/helpers/browser.ts),
 * served by the real browser-facing server over a FakeService
 * (test/web/fixtures/ui-server.ts): the
 * set-password page, the login page and the dashboard, at desktop and phone
 * widths, each screenshot saved and checked for the accessibility basics,
 * with no console error and no CSP violation on the way.
 */
import t, { type Test } from 'tap'
import type { ReplicaStatusInfo, ReplicationInfo } from '../../../appliance/service/index.ts'
import { browserMissing, checkAccessible, focusedId, launchBrowser, openPage, screenshot, type WatchedPage } from '../../helpers/browser.ts'
import { servedUi } from '../fixtures/ui-server.ts'
import { FakeService, REPLICATION } from '../fixtures/fake-service.ts'

/** A second relationship in trouble, so that the dashboard has an alarm to put first. */
const LAGGING: ReplicationInfo = {
  ...REPLICATION,
  relationship: 'db',
  vm: 'db',
  health: 'warning',
  healthRule: 'missed-cycles',
  reason: '2 cycles missed in the last hour: the link is slower than the changes',
  achievedRpo: { currentMs: 1_260_000, worstMs: 1_500_000, targetMs: 300_000, met: false },
  dataAtRisk: { bytes: 48_500_000, seconds: 1260 },
  forecast: { breachInMs: 0, cause: 'link', message: 'the RPO target is missed now: the link carries less than the VM writes' }
}

/** `ms` ago, as ISO: the screenshots read "3 min ago" rather than an age since the fixtures' date. */
const ago = (ms: number): string => new Date(Date.now() - ms).toISOString()

class DashboardService extends FakeService {
  override async replicationStatus (name?: string): Promise<ReplicationInfo[]> {
    const rows = [...await super.replicationStatus(name), LAGGING]
    return rows.map(r => ({ ...r, lastReplicationTime: ago(r.achievedRpo.currentMs ?? 0), lastPointTime: ago(r.achievedRpo.currentMs ?? 0) }))
  }

  override async replicaStatus (): Promise<ReplicaStatusInfo[]> {
    return (await super.replicaStatus()).map(r => ({ ...r, lastPointTime: ago(r.achievedRpoMs ?? 0), lastReplicationTime: ago(r.achievedRpoMs ?? 0) }))
  }
}

const PASSWORD = 'correct horse battery staple'

/**
 * Nothing went wrong on the page: no console error, no exception, no CSP
 * violation; but the refusals the test provoked, which the browser logs as
 * failed loads (`expected`: the routes refused on purpose).
 */
async function clean (t: Test, watched: WatchedPage, what: string, expected: string[]): Promise<void> {
  const provoked = (e: string): boolean => e.startsWith('console: Failed to load resource') && expected.some(path => e.endsWith(`${path})`))
  t.same(watched.errors.filter(e => !provoked(e)), [], `${what}: no console error or exception`)
  t.same(await watched.cspViolations(), [], `${what}: no CSP violation`)
}

/** The dashboard as the fake service describes it. */
async function dashboardShown (t: Test, watched: WatchedPage): Promise<void> {
  const { page } = watched
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor()
  await page.getByRole('heading', { level: 3, name: /^vm1/ }).waitFor()
  const vm1 = page.locator('article', { has: page.getByRole('heading', { name: /^vm1/ }) })
  t.match(await vm1.innerText(), /Replicating/, 'vm1: its state in words')
  t.match(await vm1.innerText(), /Normal/, 'vm1: its health')
  t.match(await vm1.innerText(), /replicating normally/, 'vm1: the reason')
  t.match(await vm1.innerText(), /Replica on box-b/, 'the peer by its name, not its id')
  t.notMatch(await page.locator('main').innerText(), /12D3KooW/, 'no peer id where a name exists')
  const alarms = page.locator('.alarms li')
  t.equal(await alarms.count(), 1, 'one alarm')
  t.match(await alarms.first().innerText(), /Warning\s+db/, 'the lagging VM is the alarm')
  const cards = await page.locator('.vms h3').allInnerTexts()
  t.match(cards[0], /^db/, 'the VM with a Warning comes first')
  t.match(await page.locator('article', { has: page.getByRole('heading', { name: /^web/ }) }).innerText(), /Replica on box-a/, 'the Replica side of a relationship is shown too')
  await page.getByRole('status').filter({ hasText: 'Live' }).waitFor()
  await page.locator('.box-name').filter({ hasText: 'box-a' }).waitFor()
  t.pass('the live channel is open, and its snapshot names the box in the header')
}

t.test('set the password, then the dashboard; log in on a phone', { skip: browserMissing() }, async t => {
  const box = await servedUi(t, new DashboardService())
  const browser = await launchBrowser(t)

  const desktop = await openPage(browser, 'desktop')
  await desktop.page.goto(box.url)
  await desktop.page.getByRole('heading', { level: 1, name: 'Set the admin password' }).waitFor()
  await screenshot(desktop.page, 'set-password-desktop')
  t.same(await checkAccessible(desktop.page), [], 'set-password page (desktop): accessible')
  await desktop.page.getByLabel('One-time code').fill('WRONG-CODE')
  await desktop.page.getByLabel('New password', { exact: true }).fill(PASSWORD)
  await desktop.page.getByLabel('New password again').fill(`${PASSWORD}!`)
  await desktop.page.getByRole('button', { name: /Set password/ }).click()
  t.match(await desktop.page.getByRole('alert').innerText(), /differ/, 'two different passwords are caught before sending')
  await desktop.page.getByLabel('New password again').fill(PASSWORD)
  await desktop.page.getByRole('button', { name: /Set password/ }).click()
  await desktop.page.getByRole('alert').filter({ hasText: 'one-time code is not right' }).waitFor()
  t.pass('a wrong one-time code is refused, in words')
  await desktop.page.getByLabel('One-time code').fill(box.setupCode)
  await desktop.page.getByRole('button', { name: /Set password/ }).click()
  await dashboardShown(t, desktop)
  await screenshot(desktop.page, 'dashboard-desktop')
  await screenshot(desktop.page, 'dashboard-desktop-viewport', { fullPage: false })
  t.same(await checkAccessible(desktop.page), [], 'dashboard (desktop): accessible')
  await clean(t, desktop, 'desktop', ['/v1/auth/setup'])

  const phone = await openPage(browser, 'phone')
  await phone.page.goto(box.url)
  await phone.page.getByRole('heading', { level: 1, name: 'Log in to Tandem' }).waitFor()
  t.pass('a new browser, once the password is set, gets the login page')
  await screenshot(phone.page, 'login-phone')
  t.same(await checkAccessible(phone.page), [], 'login page (phone): accessible')
  await phone.page.getByLabel('Admin password').fill('not it')
  await phone.page.getByRole('button', { name: 'Log in' }).click()
  await phone.page.getByRole('alert').filter({ hasText: 'Wrong password.' }).waitFor()
  t.pass('a wrong password is refused, in words')
  await phone.page.getByLabel('Admin password').fill(PASSWORD)
  await phone.page.keyboard.press('Enter')
  await dashboardShown(t, phone)
  await screenshot(phone.page, 'dashboard-phone')
  await screenshot(phone.page, 'dashboard-phone-viewport', { fullPage: false })
  t.same(await checkAccessible(phone.page), [], 'dashboard (phone): accessible')
  const width = await phone.page.evaluate(() => document.documentElement.scrollWidth)
  t.ok(width <= 390, `nothing wider than the phone's screen (${width} px)`)

  await phone.page.getByRole('link', { name: 'Pairing' }).click()
  await phone.page.getByRole('heading', { level: 1, name: 'Pairing' }).waitFor()
  t.equal(await focusedId(phone.page, 'page-title'), 'page-title', 'a new page moves the focus to its heading')
  t.equal(await phone.page.getByRole('link', { name: 'Pairing' }).getAttribute('aria-current'), 'page', 'the navigation marks the page shown')
  await phone.page.getByRole('button', { name: 'Log out' }).click()
  await phone.page.getByRole('heading', { level: 1, name: 'Log in to Tandem' }).waitFor()
  t.pass('logging out brings the login page back')
  await clean(t, phone, 'phone', ['/v1/auth/login'])

  // The desktop page has been idle on the dashboard all along: the box restarts, and its session ends.
  await box.restart()
  await desktop.page.getByRole('heading', { level: 1, name: 'Log in to Tandem' }).waitFor()
  t.pass('an ended session, seen by the live channel, brings the login page back')
  await clean(t, desktop, 'desktop, after the session ended', ['/v1/auth/setup', '/v1/live'])
})
