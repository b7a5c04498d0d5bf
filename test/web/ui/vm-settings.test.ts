/**
 * The VM page's "Replication settings" form in headless chromium over the
 * fake service (test/web/fixtures/ui-server.ts), reached from the Settings
 * page's bandwidth list: nothing changed sends nothing, a bad limit is the
 * daemon's APP_SETTING_INVALID in words, a new frequency and limit (typed
 * with the keyboard) go out as `PATCH /v1/replication/:name` with exactly
 * the changed settings, and both pages show the new limit. Only the
 * primary has the form. Desktop and phone screenshots, accessibility
 * checked (labels, every control reached with Tab), no console error but
 * the refusal asked for, no CSP violation.
 */
import t from 'tap'
import { browserMissing, checkAccessible, focusedId, launchBrowser, openPage, screenshot } from '../../helpers/browser.ts'
import { servedUi } from '../fixtures/ui-server.ts'
import { FakeService, REPLICATION } from '../fixtures/fake-service.ts'
import { logIn } from '../fixtures/ui-login.ts'

const PASSWORD = 'vm settings password'

t.test('change the frequency and bandwidth limit of a protected VM', { skip: browserMissing() }, async t => {
  const service = new FakeService()
  service.replication_ = [{ ...REPLICATION }]
  const box = await servedUi(t, service)
  const browser = await launchBrowser(t)
  const desktop = await openPage(browser, 'desktop')
  const { page } = desktop
  await logIn(page, `${box.url}/#/settings`, PASSWORD, box.setupCode)
  await page.getByRole('heading', { level: 2, name: 'Bandwidth' }).waitFor()
  await page.locator('.bandwidth').getByText('vm1').waitFor()
  t.match(await page.locator('.bandwidth').innerText(), /^vm1: no limit Change$/, 'the limit, with a link to change it')
  await page.getByRole('link', { name: 'Change the bandwidth limit of vm1' }).click()
  await page.getByRole('heading', { level: 1, name: 'vm1' }).waitFor()
  t.match(page.url(), /#\/vm\/vm1$/, 'the link opens the VM page')

  const form = page.getByRole('form', { name: 'Replication settings' })
  await form.waitFor()
  const frequency = page.getByLabel('How often a new recovery point is made')
  const limit = page.getByLabel('Bandwidth limit (bytes per second)')
  t.equal(await frequency.inputValue(), '5m', 'the frequency as stored')
  t.equal(await limit.inputValue(), '', 'no limit: empty')
  t.same(await checkAccessible(page), [], 'VM page with the settings form: accessible')
  const save = page.getByRole('button', { name: 'Save the replication settings' })
  await save.click()
  await form.getByText('Nothing changed.').waitFor()
  t.same(service.calls.filter(([m]) => m === 'replicationUpdate'), [], 'nothing sent when nothing changed')

  await limit.fill('fast')
  await save.click()
  await form.getByRole('alert').filter({ hasText: /^Not a valid value: bandwidth: / }).waitFor()
  t.pass('a bad limit: the daemon\'s refusal in words')

  // With the keyboard: choose in the list, Tab to the limit, type it, Tab to the button, Enter.
  await frequency.focus()
  await frequency.selectOption('30s')
  await page.keyboard.press('Tab')
  t.equal(await focusedId(page, 'vm-bandwidth'), 'vm-bandwidth', 'Tab reaches the limit')
  await page.keyboard.press('ControlOrMeta+a')
  await page.keyboard.type('10M')
  await page.keyboard.press('Tab')
  t.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Save the replication settings', 'then the button')
  await page.keyboard.press('Enter')
  await form.getByRole('status').filter({ hasText: 'Saved: a new recovery point every 30 s, 10 MB/s.' }).waitFor()
  const sent = service.calls.filter(([m]) => m === 'replicationUpdate').map(([, a]) => a)
  t.same(sent.at(-1), { name: 'vm1', frequency: '30s', bandwidth: '10M' }, 'PATCH /v1/replication/vm1 with exactly the changed settings')
  t.match(await form.innerText(), /Now: 10 MB\/s/, 'the page shows the new limit')
  t.equal(await limit.inputValue(), '10M')
  t.same(await checkAccessible(page), [], 'after saving: accessible')
  await screenshot(page, 'vm-settings-desktop')

  await page.goto(`${box.url}/#/settings`)
  await page.locator('.bandwidth').getByText('10 MB/s').waitFor()
  t.pass('the Settings page lists the new limit')

  // The Replica side has no form: its settings are the primary's.
  await page.goto(`${box.url}/#/vm/web`)
  await page.getByRole('heading', { level: 2, name: /Replica here/ }).waitFor()
  t.equal(await page.getByRole('form', { name: 'Replication settings' }).count(), 0, 'no settings form on the Replica side')

  const phone = await openPage(browser, 'phone')
  await logIn(phone.page, `${box.url}/#/vm/vm1`, PASSWORD, box.setupCode)
  await phone.page.getByRole('form', { name: 'Replication settings' }).waitFor()
  await phone.page.getByLabel('Bandwidth limit (bytes per second)').fill('none')
  await phone.page.getByLabel('Bandwidth limit (bytes per second)').fill('')
  await phone.page.getByRole('button', { name: 'Save the replication settings' }).click()
  await phone.page.getByRole('status').filter({ hasText: 'no limit' }).waitFor()
  t.same(service.calls.filter(([m]) => m === 'replicationUpdate').map(([, a]) => a).at(-1), { name: 'vm1', bandwidth: 'none' }, 'an emptied limit is sent as none')
  t.same(await checkAccessible(phone.page), [], 'VM page with the settings form (phone): accessible')
  t.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth) <= 390, 'nothing wider than the phone')
  await screenshot(phone.page, 'vm-settings-phone')

  const refused = (e: string): boolean => e.startsWith('console: Failed to load resource') && e.includes('400')
  t.same(desktop.errors.filter(e => !refused(e)), [], 'desktop: no console error but the refusal asked for')
  t.equal(desktop.errors.filter(refused).length, 1, 'the one refusal')
  t.same(phone.errors, [], 'phone: no console error')
  t.same(await desktop.cspViolations(), [], 'desktop: no CSP violation')
  t.same(await phone.cspViolations(), [], 'phone: no CSP violation')
})
