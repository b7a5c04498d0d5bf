/**
 * Every page of the front end at desktop and phone widths (issue 14: "
 * screenshots of every page ... at desktop and phone widths"), on the fake
 * service behind the real browser-facing server: the set-password and login
 * pages, then each page of the navigation, a VM's page and failover page
 * (as primary and as Replica) and the not-found page. Each one shows its
 * heading with nothing left loading, passes the accessibility basics, is no
 * wider than the phone, and is saved as `every-<page>-<width>.png`; no
 * console error and no CSP violation on the way. The other browser tests
 * drive each page through its states; this one makes sure none is missed.
 */
import t from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { browserMissing, checkAccessible, launchBrowser, openPage, screenshot, VIEWPORTS, type ViewportName } from '../../helpers/browser.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { PROOF } from '../fixtures/fake-service.ts'
import { FailoverService } from '../fixtures/failover-service.ts'
import { clean } from '../fixtures/real-boxes.ts'
import { logIn } from '../fixtures/ui-login.ts'
import { servedUi } from '../fixtures/ui-server.ts'

const PASSWORD = 'correct horse battery staple'

/** The pages behind the login: screenshot name, hash route, its h1. */
const PAGES: Array<[string, string, RegExp]> = [
  ['dashboard', '#/', /^Dashboard$/],
  ['pairing', '#/pairing', /^Pairing$/],
  ['protect', '#/protect', /^Protect a VM$/],
  ['vm-primary', '#/vm/vm1', /^vm1$/],
  ['vm-replica', '#/vm/web', /^web$/],
  ['failover-list', '#/failover', /^Failover$/],
  ['failover-primary', '#/failover/vm1', /^Failover of vm1$/],
  ['failover-replica', '#/failover/web', /^Failover of web$/],
  ['salvage', '#/salvage', /^Salvage copies$/],
  ['settings', '#/settings', /^Settings$/],
  ['not-found', '#/nowhere', /^No such page$/]
]

/** The page's one h1 matches `title` and nothing on it says it is still loading. */
async function shown (page: Page, title: RegExp): Promise<void> {
  await page.getByRole('heading', { level: 1, name: title }).waitFor()
  await page.waitForFunction(() => document.querySelector('.loading') === null)
}

for (const width of Object.keys(VIEWPORTS) as ViewportName[]) {
  t.test(`every page at ${width} width`, { skip: browserMissing() }, async t => {
    const service = new FailoverService()
    const box = await servedUi(t, service)
    const browser = await launchBrowser(t)
    const watched = await openPage(browser, width)
    const { page } = watched
    const fits = async (what: string): Promise<void> => {
      if (width === 'phone') t.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= VIEWPORTS.phone.width, `${what}: nothing wider than the phone`)
    }

    await page.goto(`${box.url}/`)
    await shown(page, /^Set the admin password$/)
    t.same(await checkAccessible(page), [], 'set password: accessible')
    await fits('set password')
    await screenshot(page, `every-set-password-${width}`, { fullPage: true })
    // The drill screenshot that the fixtures' proven point names (shown on the VM page's timeline): a PNG of this page.
    service.drillPng = join(await tempDir(t), PROOF.screenshot.slice(PROOF.screenshot.lastIndexOf('/') + 1))
    await writeFile(service.drillPng, await page.screenshot({ clip: { x: 0, y: 0, width: 360, height: 200 } }))
    await logIn(page, `${box.url}/#/`, PASSWORD, box.setupCode)
    await page.getByRole('button', { name: 'Log out' }).click()
    await shown(page, /^Log in to Tandem$/)
    t.same(await checkAccessible(page), [], 'log in: accessible')
    await fits('log in')
    await screenshot(page, `every-login-${width}`, { fullPage: true })
    await logIn(page, `${box.url}/#/`, PASSWORD, box.setupCode)

    for (const [name, route, title] of PAGES) {
      await page.goto(`${box.url}/${route}`)
      await shown(page, title)
      t.same(await checkAccessible(page), [], `${name}: accessible`)
      await fits(name)
      await screenshot(page, `every-${name}-${width}`, { fullPage: true })
    }
    await clean(t, [[width, watched]])
  })
}
