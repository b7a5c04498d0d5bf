/**
 * The Settings page in headless chromium: the box's settings over the fake
 * service (the PATCH sent exactly: only what changed; a refusal in words;
 * the settings waiting for a restart said), the bandwidth of each protected
 * VM, and the password change and session revoke against the real
 * server's auth (test/web/fixtures/ui-server.ts): a second browser (the
 * phone) is listed, ended, logs in again, and is ended by the password
 * change, after which only the new password logs in. Desktop and phone
 * screenshots, accessibility, no console error but the refusals the test
 * asks for, no CSP violation.
 */
import t from 'tap'
import type { SettingsInfo, SettingsUpdateRequest } from '../../../appliance/service/index.ts'
import { ServiceError } from '../../../appliance/service/index.ts'
import { browserMissing, checkAccessible, launchBrowser, openPage, screenshot } from '../../helpers/browser.ts'
import { servedUi } from '../fixtures/ui-server.ts'
import { FakeService, REPLICATION, SETTINGS } from '../fixtures/fake-service.ts'
import { logIn } from '../fixtures/ui-login.ts'

/** Keeps what it is told, and says what differs from what runs, as the daemon does. */
class SettingsService extends FakeService {
  override async settingsUpdate (request: SettingsUpdateRequest): Promise<SettingsInfo> {
    await super.settingsUpdate(request)
    const bad = request.listen?.find(a => !a.startsWith('/'))
    if (bad !== undefined) throw new ServiceError('APP_USAGE', `--listen ${bad} is not a multiaddr (such as /ip4/0.0.0.0/tcp/7450)`)
    const next = { ...this.settings_, ...request }
    const r = next.running
    const restartNeeded = (['name', 'listen', 'api'] as const).filter(k => JSON.stringify(next[k]) !== JSON.stringify(r[k]))
    this.settings_ = { ...next, restartNeeded }
    return this.settings_
  }
}

const FIRST = 'settings password 1'
const SECOND = 'settings password 2'

t.test('box settings, bandwidth, password change and sessions', { skip: browserMissing() }, async t => {
  const service = new SettingsService()
  service.replication_ = [{ ...REPLICATION, settings: { ...REPLICATION.settings, bandwidth: 10_000_000 } }, { ...REPLICATION, relationship: 'db', vm: 'db' }]
  const box = await servedUi(t, service)
  const browser = await launchBrowser(t)
  const desktop = await openPage(browser, 'desktop')
  const { page } = desktop
  await logIn(page, `${box.url}/#/settings`, FIRST, box.setupCode)
  await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor()
  await page.waitForFunction(() => (document.getElementById('box-name') as HTMLInputElement | null)?.value === 'box-a')
  t.equal(await page.getByLabel('Addresses other boxes connect to (one per line)').inputValue(), SETTINGS.listen.join('\n'))
  t.equal(await page.getByLabel('Web page address').inputValue(), SETTINGS.api)
  t.match(await page.locator('.bandwidth').innerText(), /vm1: 10 MB\/s Change\ndb: no limit Change/, 'each VM\'s limit, in words, with a link to change it')
  t.equal(await page.getByRole('link', { name: 'Change the bandwidth limit of db' }).getAttribute('href'), '#/vm/db', 'to its VM page')

  // The box's settings: only what changed is sent; a refusal in words, the form kept; then what waits for a restart.
  await page.getByRole('button', { name: 'Save' }).click()
  await page.getByText('Nothing changed.').waitFor()
  t.notOk(service.calls.some(([m]) => m === 'settingsUpdate'), 'nothing sent when nothing changed')
  await page.getByLabel('Name', { exact: true }).fill('branch-2')
  await page.getByLabel('Addresses other boxes connect to (one per line)').fill('/ip4/0.0.0.0/tcp/7450\n\n0.0.0.0:7451\n')
  await page.getByRole('button', { name: 'Save' }).click()
  await page.getByText('0.0.0.0:7451 is not a multiaddr').waitFor()
  t.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'branch-2', 'the form is kept')
  await page.getByLabel('Addresses other boxes connect to (one per line)').fill('/ip4/0.0.0.0/tcp/7450\n/ip6/::/tcp/7450')
  await page.getByRole('button', { name: 'Save' }).click()
  await page.getByText('Saved.').waitFor()
  t.same(service.calls.filter(([m]) => m === 'settingsUpdate').map(([, a]) => a), [
    { name: 'branch-2', listen: ['/ip4/0.0.0.0/tcp/7450', '0.0.0.0:7451'] },
    { name: 'branch-2', listen: ['/ip4/0.0.0.0/tcp/7450', '/ip6/::/tcp/7450'] }
  ], 'PATCH /v1/settings with exactly the changed settings, blank lines dropped')
  t.match(await page.locator('.restart-note').innerText(), /Waiting for a restart: the name, the listen addresses\. The daemon still runs as box-a\. Restart it/, 'the restart, in words')
  t.same(await checkAccessible(page), [], 'settings: accessible')

  // Sessions: the phone appears, is ended, and sees the login page.
  const phone = await openPage(browser, 'phone')
  await logIn(phone.page, `${box.url}/#/settings`, FIRST, box.setupCode)
  await phone.page.getByRole('heading', { name: 'Sessions' }).waitFor()
  await page.getByRole('button', { name: 'Refresh the list' }).click()
  const others = page.getByRole('button', { name: /^End the session of / })
  await others.waitFor()
  t.equal(await page.locator('.sessions > li').count(), 2, 'two browsers logged in')
  t.equal(await page.locator('.sessions > li').filter({ hasText: 'This browser' }).count(), 1, 'this one marked')
  await screenshot(page, 'settings-desktop')
  await screenshot(phone.page, 'settings-phone')
  t.same(await checkAccessible(phone.page), [], 'settings (phone): accessible')
  t.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth) <= 390, 'nothing wider than the phone')
  await others.click()
  await others.waitFor({ state: 'detached' })
  t.equal(await page.locator('.sessions > li').count(), 1, 'the phone\'s session ended')
  await phone.page.reload()
  await phone.page.getByRole('heading', { level: 1, name: 'Log in to Tandem' }).waitFor()
  t.pass('the ended browser is back at the login page')

  // The password: a wrong current one and two that differ are said in words; then it changes and ends the other session.
  await logIn(phone.page, `${box.url}/#/settings`, FIRST, box.setupCode)
  await page.getByLabel('Current password').fill('not the password')
  await page.getByLabel('New password', { exact: true }).fill(SECOND)
  await page.getByLabel('New password again').fill(SECOND)
  await page.getByRole('button', { name: 'Change the password' }).click()
  await page.getByText('the current password is wrong').waitFor()
  await page.getByLabel('Current password').fill(FIRST)
  await page.getByLabel('New password again').fill(`${SECOND}!`)
  await page.getByRole('button', { name: 'Change the password' }).click()
  await page.getByText('The two new passwords differ').waitFor()
  await page.getByLabel('New password again').fill(SECOND)
  await page.getByRole('button', { name: 'Change the password' }).click()
  await page.getByText('Password changed. 1 other session was ended: they log in with the new password.').waitFor()
  t.equal(await page.getByLabel('Current password').inputValue(), '', 'the password fields are emptied')
  await phone.page.reload()
  await phone.page.getByRole('heading', { level: 1, name: 'Log in to Tandem' }).waitFor()
  await phone.page.getByLabel('Admin password').fill(FIRST)
  await phone.page.getByRole('button', { name: 'Log in' }).click()
  await phone.page.getByText('Wrong password.').waitFor()
  t.pass('the old password no longer logs in')
  await logIn(phone.page, `${box.url}/#/settings`, SECOND, box.setupCode)
  t.pass('the new one does')
  await page.getByRole('heading', { name: 'Sessions' }).waitFor()
  t.equal(await page.locator('.sessions .badge').innerText(), 'This browser', 'the desktop\'s session lives on')

  // The refusals the test asked for are logged by the browser as failed loads; nothing else may be.
  const asked = [/400 .*\/v1\/settings\)$/, /403 .*\/v1\/auth\/password\)$/, /401 .*\/v1\/(?:live|auth\/login|settings|replication|auth\/sessions)\)$/]
  const unexpected = (errors: string[]): string[] => errors.filter(e => !asked.some(re => re.test(e)))
  for (const [what, w] of [['desktop', desktop], ['phone', phone]] as const) {
    t.same(unexpected(w.errors), [], `${what}: no console error or exception but the refusals asked for`)
    t.same(await w.cspViolations(), [], `${what}: no CSP violation`)
  }
})
