/**
 * The Salvage page in headless chromium, served by the real browser-facing
 * server over a fake service (test/web/fixtures/failover-service.ts):
 * copies listed with their state, time, since and size; restore refuses a
 * path that is not absolute before sending anything, then sends exactly the
 * path (and the disk, and `force` only when ticked) and follows the job;
 * delete sends `yes` only after its confirmation. Desktop and phone
 * screenshots, accessibility checked, no console error and no CSP
 * violation.
 */
import t from 'tap'
import type { SalvageInfo } from '../../../appliance/service/index.ts'
import { browserMissing, checkAccessible, launchBrowser, openPage, screenshot } from '../../helpers/browser.ts'
import { servedUi } from '../fixtures/ui-server.ts'
import { SALVAGE } from '../fixtures/fake-service.ts'
import { ago, FailoverService } from '../fixtures/failover-service.ts'
import { logIn } from '../fixtures/ui-login.ts'

const PASSWORD = 'salvage password'

/** Two copies: web's, one disk; db's, two disks and a failed one. */
class SalvageService extends FailoverService {
  override async salvageList (name?: string): Promise<SalvageInfo[]> {
    await super.salvageList(name)
    return [
      { ...SALVAGE, time: ago(2 * 3_600_000), since: ago(3 * 3_600_000) },
      { ...SALVAGE, id: 'db-20260102T000000Z', relationship: 'db', vm: 'db', time: ago(3_600_000), since: null, disks: [{ name: 'disk0', size: 2_000_000, source: '/srv/db0.raw' }, { name: 'disk1', size: 3_000_000, source: '/srv/db1.raw' }] },
      { ...SALVAGE, id: 'mail-20260102T000000Z', relationship: 'mail', vm: 'mail', state: 'failed', time: ago(600_000), reason: 'the disks could not be read: they are untouched, and the next daemon start tries again' }
    ]
  }
}

const sent = (service: SalvageService, method: string): unknown[] => service.calls.filter(([m]) => m === method).map(([, arg]) => arg)

t.test('salvage copies: listed, restored to a path, deleted after the confirmation', { skip: browserMissing() }, async t => {
  const service = new SalvageService()
  const box = await servedUi(t, service)
  const browser = await launchBrowser(t)
  const watched = await openPage(browser, 'desktop')
  const { page } = watched
  await logIn(page, `${box.url}/#/salvage`, PASSWORD, box.setupCode)
  await page.getByRole('heading', { level: 1, name: 'Salvage copies' }).waitFor()
  const web = page.getByRole('listitem', { name: /^web/ })
  await web.waitFor()
  t.match(await web.innerText(), /Kept[\s\S]*2 h ago[\s\S]*Holds the writes since[\s\S]*3 h ago[\s\S]*Size\s+1 MB \(disk0\)/, 'state, time, since and size')
  t.match(await page.getByRole('listitem', { name: /^db/ }).innerText(), /no point was shared: the whole disks[\s\S]*5 MB \(disk0, disk1\)/)
  const mail = page.getByRole('listitem', { name: /^mail/ })
  t.match(await mail.innerText(), /Failed[\s\S]*could not be read/, 'a failed copy says why')
  t.equal(await mail.getByRole('button').count(), 0, 'a failed copy has nothing to restore or delete')
  t.same(await checkAccessible(page), [], 'the list: accessible')
  await screenshot(page, 'salvage-desktop')

  await page.getByRole('button', { name: 'Restore db\'s salvage copy' }).click()
  await page.getByLabel('Disk', { exact: true }).selectOption('disk1')
  const out = page.getByLabel('Write the disk to (a path on the box)')
  await out.fill('restore/db1.raw')
  await page.getByRole('button', { name: 'Restore', exact: true }).click()
  await page.getByText('Give an absolute path on the box, starting with /.').waitFor()
  t.same(sent(service, 'salvageRestore'), [], 'a relative path is refused before anything is sent')
  t.match(await page.locator('.restore .why').innerText(), /An absolute path on this box \(it starts with \/\)/, 'the rules in words')
  t.same(await checkAccessible(page), [], 'restore: accessible')
  await screenshot(page, 'salvage-restore-desktop')
  await out.fill('/srv/restore/db1.raw')
  await page.getByLabel('Replace a file already at that path').check()
  await page.getByRole('button', { name: 'Restore', exact: true }).click()
  await page.getByText('Disk disk1 written to /srv/restore/db1.raw').waitFor()
  t.same(sent(service, 'salvageRestore'), [{ id: 'db-20260102T000000Z', out: '/srv/restore/db1.raw', disk: 'disk1', force: true }], 'the path, the disk and force, as given')
  t.match(await page.locator('.job').innerText(), /Restore of db: Done/, 'the job followed to its end')
  await screenshot(page, 'salvage-restored-desktop')

  await page.getByRole('button', { name: 'Delete web\'s salvage copy' }).click()
  await page.getByText('Delete this salvage copy of web? What the old primary wrote after the shared point is then lost').waitFor()
  t.same(sent(service, 'salvageDelete'), [], 'nothing deleted before the confirmation')
  t.same(await checkAccessible(page), [], 'delete: accessible')
  await screenshot(page, 'salvage-delete-desktop')
  // The Delete button stays on screen while the confirmation shows: wait for the request's answer instead.
  const answered = page.waitForResponse(r => r.request().method() === 'DELETE' && r.url().includes('/v1/salvage/'))
  await page.getByRole('button', { name: 'Yes, delete it' }).click()
  await answered
  t.same(sent(service, 'salvageDelete'), [{ id: SALVAGE.id, yes: true }], 'deleted, the loss confirmed')

  const phone = await openPage(browser, 'phone')
  await logIn(phone.page, `${box.url}/#/salvage`, PASSWORD, box.setupCode)
  await phone.page.getByRole('button', { name: 'Restore web\'s salvage copy' }).click()
  await phone.page.getByLabel('Write the disk to (a path on the box)').waitFor()
  t.same(await checkAccessible(phone.page), [], 'salvage (phone): accessible')
  await screenshot(phone.page, 'salvage-phone', { fullPage: true })
  t.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth) <= 390, 'nothing wider than the phone')

  for (const [what, w] of [['desktop', watched], ['phone', phone]] as const) {
    t.same(w.errors, [], `${what}: no console error or exception`)
    t.same(await w.cspViolations(), [], `${what}: no CSP violation`)
  }
})
