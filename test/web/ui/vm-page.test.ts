/**
 * The VM page in headless chromium, served by the real browser-facing
 * server over the fake service (test/web/fixtures/ui-server.ts), reached
 * from the dashboard by the VM's name. On the Replica: the recovery points
 * as a timeline, crash- or app-consistent, the proven one with its drill's
 * screenshot (a PNG this test makes, served through
 * /v1/drills/:name/screenshots/:file behind the login). On the primary:
 * where the points are, the charts of its cycles (a canvas each, and the
 * text alternative), the event log newest first with a new event arriving
 * through the live channel, and each action calling its route, remove
 * only after its confirmation, a refusal shown in words. Desktop and phone
 * screenshots, accessibility checked, no console error, no CSP violation.
 */
import t, { type Test } from 'tap'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import {
  ServiceError, type EventInfo, type EventsRequest, type EventsResult, type ReplicationInfo
} from '../../../appliance/service/index.ts'
import { browserMissing, checkAccessible, focusedId, launchBrowser, openPage, screenshot, type WatchedPage } from '../../helpers/browser.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { servedUi } from '../fixtures/ui-server.ts'
import { FakeService, POINTS, PROOF, REPLICA_STATUS, REPLICATION } from '../fixtures/fake-service.ts'
import { logIn } from '../fixtures/ui-login.ts'

const PASSWORD = 'vm page password'
const MINUTE = 60_000
/** `ms` ago, as ISO: the page reads "3 min ago" rather than an age since the fixtures' date. */
const ago = (ms: number): string => new Date(Date.now() - ms).toISOString()

/** Ten cycles of vm1, one every 5 min, the last ending 2 min ago: a begin and an end each, sizes and durations varying. */
function cycleEvents (): EventInfo[] {
  const events: EventInfo[] = []
  for (let i = 0; i < 10; i++) {
    const start = Date.now() - (47 - i * 5) * MINUTE
    const end = start + (20 + (i % 3) * 15) * 1000
    const seq = 10 + i * 2
    events.push({ seq, time: new Date(start).toISOString(), relationship: 'vm1', vm: 'vm1', kind: 'cycle', reason: 'cycle started', phase: 'begin' })
    events.push({
      seq: seq + 1, time: new Date(end).toISOString(), relationship: 'vm1', vm: 'vm1', kind: 'cycle', reason: `point ${i + 1} committed`, phase: 'end', begin: seq, outcome: 'ok',
      data: { start, end, bytesSent: (1 + (i % 4)) * 1_500_000, bytesChanged: (2 + (i % 4)) * 2_000_000, consistency: 'crash', missedIntervals: 0, appConsistentRequested: false, appConsistentSucceeded: false }
    })
  }
  return events
}

class VmService extends FakeService {
  /** The next resync is refused, as a box in the wrong state would. */
  refuseResync = false

  constructor (screenshot: string) {
    super()
    const proof = { ...PROOF, point: 5, root: 'cd'.repeat(32), time: ago(30 * MINUTE), screenshot }
    const point = POINTS.points[0]!
    this.points_ = {
      ...POINTS,
      points: [
        { ...point, id: 4, time: ago(125 * MINUTE), root: 'ab'.repeat(32) },
        { ...point, id: 5, time: ago(65 * MINUTE), consistency: 'app', root: 'cd'.repeat(32), proven: proof },
        { ...point, id: 6, time: ago(5 * MINUTE), consistency: 'crash', consistencyNote: 'app-consistency was asked, but the VM has no guest agent', root: 'ef'.repeat(32) }
      ]
    }
    this.replica_ = [{ ...REPLICA_STATUS, lastPointTime: ago(5 * MINUTE), lastReplicationTime: ago(5 * MINUTE), lastProvenPoint: proof }]
    this.replication_ = [{ ...REPLICATION, lastPointTime: ago(2 * MINUTE), lastReplicationTime: ago(2 * MINUTE) }]
    this.events_ = [
      { seq: 1, time: ago(130 * MINUTE), relationship: 'web-1', vm: 'web', kind: 'replica-added', reason: 'now protecting web for its primary box-b' },
      { seq: 2, time: ago(60 * MINUTE), relationship: 'vm1', vm: 'vm1', kind: 'state', reason: 'initial replication finished; replicating', data: { from: 'waiting-initial-replication', to: 'replicating' } },
      ...cycleEvents()
    ]
  }

  /** As the daemon: only the events of the VM or relationship named. */
  override async listEvents (request?: EventsRequest): Promise<EventsResult> {
    const all = await super.listEvents(request === undefined ? undefined : { ...request, name: undefined } as EventsRequest)
    const name = request?.name
    return name === undefined ? all : { ...all, events: this.events_.filter(e => e.vm === name || e.relationship === name).slice(-(request?.last ?? 200)) }
  }

  override async replicationSuspend (name: string): Promise<ReplicationInfo> {
    await super.replicationSuspend(name)
    this.replication_ = [{ ...this.replication_[0]!, state: 'suspended', stateReason: 'suspended by the operator', health: 'warning', reason: 'replication is suspended' }]
    return this.replication_[0]!
  }

  override async replicationResync (name: string): Promise<ReplicationInfo> {
    if (this.refuseResync) {
      this.refuseResync = false
      throw new ServiceError('APP_INVALID_STATE', 'a resynchronization cannot start while a cycle commits')
    }
    return await super.replicationResync(name)
  }
}

/** A PNG like a drill's: the test VM's console at its login prompt, drawn and captured by the browser. */
async function drillScreenshot (t: Test, browser: Browser): Promise<string> {
  const path = join(await tempDir(t), 'cdcdcdcdcdcd-20261207T100000Z.png')
  const page = await browser.newPage({ viewport: { width: 720, height: 400 } })
  await page.setContent('<body style="margin:0;background:#000;color:#ccc;font:16px monospace;padding:8px">Debian GNU/Linux 13 web ttyS0<br><br>web login: _</body>')
  await writeFile(path, await page.screenshot())
  await page.close()
  return path
}

/** No console error, exception or CSP violation; but the refusals the test provoked (`expected`: their paths), which the browser logs as failed loads. */
async function clean (t: Test, watched: WatchedPage, what: string, expected: string[] = []): Promise<void> {
  const provoked = (e: string): boolean => e.startsWith('console: Failed to load resource') && expected.some(path => e.endsWith(`${path})`))
  t.same(watched.errors.filter(e => !provoked(e)), [], `${what}: no console error or exception`)
  t.same(await watched.cspViolations(), [], `${what}: no CSP violation`)
}

const callsOf = (service: FakeService, method: string): unknown[] => service.calls.filter(([m]) => m === method).map(([, arg]) => arg)

t.test('the VM page on both sides, at desktop and phone widths', { skip: browserMissing() }, async t => {
  const browser = await launchBrowser(t)
  const shotPath = await drillScreenshot(t, browser)
  const service = new VmService(shotPath)
  const box = await servedUi(t, service)

  const unauth = await fetch(`${box.url}/v1/drills/web/screenshots/cdcdcdcdcdcd-20261207T100000Z.png`)
  t.equal(unauth.status, 401, 'the screenshot needs a login')
  t.equal((await unauth.json() as { code: string }).code, 'WEB_LOGIN_REQUIRED')

  const desktop = await openPage(browser, 'desktop')
  const { page } = desktop
  await logIn(page, box.url, PASSWORD, box.setupCode)
  await page.getByRole('link', { name: 'web', exact: true }).click()
  await page.getByRole('heading', { level: 1, name: 'web' }).waitFor()
  t.match(page.url(), /#\/vm\/web$/, 'the dashboard card links the VM page by name')

  // The Replica side: the timeline.
  await page.getByRole('heading', { level: 2, name: /Replica here, of box-b/ }).waitFor()
  const items = page.locator('.timeline > li')
  await items.first().waitFor()
  t.equal(await items.count(), 3, 'three points')
  t.match(await items.nth(0).innerText(), /Point 6 \(the latest\)[\s\S]*Crash-consistent[\s\S]*Not proven by a drill/, 'newest first, crash-consistent')
  t.match(await items.nth(0).innerText(), /no guest agent/, 'why a point is crash-consistent')
  t.match(await items.nth(1).innerText(), /Point 5[\s\S]*App-consistent[\s\S]*Proven by a drill/, 'the app-consistent point, proven')
  t.match(await items.nth(1).innerText(), /serial console showed the expected line 4 s after start/, 'the proof in words')
  const img = page.getByRole('img', { name: /The screen of point 5's test VM/ })
  await img.waitFor()
  await page.waitForFunction(() => (document.querySelector('.proof img') as HTMLImageElement | null)?.complete === true)
  t.equal(await img.evaluate(el => (el as HTMLImageElement).naturalWidth), 720, 'the drill\'s screenshot is loaded, through the login')
  t.match(await img.getAttribute('src') ?? '', /^\/v1\/drills\/web-1\/screenshots\/cdcdcdcdcdcd-20261207T100000Z\.png$/)
  t.same(callsOf(service, 'drillScreenshot'), [{ name: 'web-1', file: 'cdcdcdcdcdcd-20261207T100000Z.png' }], 'the file its proof names')
  t.match(await page.locator('main').innerText(), /cycles are measured on the primary, box-b/, 'no charts here: the primary has the cycles')
  await screenshot(page, 'vm-replica-desktop')
  t.same(await checkAccessible(page), [], 'VM page, Replica side (desktop): accessible')

  // The primary side: where the points are, the charts, the events, the actions.
  await page.goto(`${box.url}/#/vm/vm1`)
  await page.getByRole('heading', { level: 1, name: 'vm1' }).waitFor()
  await page.getByRole('heading', { level: 2, name: /Runs here, on box-a/ }).waitFor()
  t.match(await page.locator('main').innerText(), /recovery points are on box-b, the Replica[\s\S]*Newest point: \d\d:\d\d \(2 min ago\)/, 'where the points are, and the newest one\'s time')
  for (const title of ['Cycle size (sent)', 'Cycle duration', 'Achieved RPO']) {
    const figure = page.getByRole('figure', { name: new RegExp(`^${title.replace(/[()]/g, '\\$&')} over`) })
    await figure.locator('canvas').first().waitFor()
    t.pass(`${title}: drawn on a canvas`)
  }
  t.match(await page.getByRole('figure', { name: /^Cycle size/ }).locator('figcaption').innerText(), /over 10 cycles: typically 3 MB, at most 6 MB/, 'the size chart in a sentence')
  t.match(await page.getByRole('figure', { name: /^Achieved RPO/ }).locator('figcaption').innerText(), /over 9 cycles: typically \d min, at most 6 min[\s\S]*Target 5 min: missed 9 times/, 'the RPO against its target, in words')
  await page.getByText('Cycle duration: the figures').click()
  const rows = page.getByRole('table', { name: /Cycle duration, the newest 10 cycles/ }).locator('tbody tr')
  t.equal(await rows.count(), 10, 'the figures as a table')

  const events = page.locator('.events > li')
  t.match(await events.first().innerText(), /2 min ago\s+Cycle: done\s+point 10 committed/, 'the events newest first, the time in words')
  t.equal(await events.count(), 11, 'a cycle shows once, by its end')
  t.match(await events.first().locator('time').getAttribute('title') ?? '', /\d{4}, \d\d:\d\d:\d\d/, 'the exact time on hover')
  service.events_.push({ seq: 40, time: new Date().toISOString(), relationship: 'vm1', vm: 'vm1', kind: 'state', reason: 'the link to box-b dropped; retrying', code: 'P2P_PEER_UNREACHABLE' })
  await page.locator('.events > li').first().filter({ hasText: 'the link to box-b dropped' }).waitFor()
  t.match(await events.first().innerText(), /just now/, 'a new event arrives through the live channel, on top')

  const suspend = page.getByRole('button', { name: 'Suspend' })
  const resume = page.getByRole('button', { name: 'Resume' })
  const resync = page.getByRole('button', { name: 'Resynchronize' })
  t.ok(await resume.isDisabled(), 'resume is disabled while replicating')
  t.match(await page.locator('#why-resume').innerText(), /Only a suspended replication resumes: it is replicating/, 'with the reason')
  await screenshot(page, 'vm-primary-desktop')
  t.same(await checkAccessible(page), [], 'VM page, primary side (desktop): accessible')

  await suspend.click()
  await page.getByRole('status').filter({ hasText: 'Replication suspended' }).waitFor()
  t.same(callsOf(service, 'replicationSuspend'), ['vm1'], 'suspend calls its route')
  t.ok(await suspend.isDisabled(), 'suspend is disabled once suspended')
  await resume.click()
  await page.getByRole('status').filter({ hasText: 'Replication resumed' }).waitFor()
  t.same(callsOf(service, 'replicationResume'), ['vm1'], 'resume calls its route')
  service.replication_ = [{ ...REPLICATION, lastPointTime: ago(2 * MINUTE) }]
  await resync.click()
  await page.getByRole('status').filter({ hasText: 'Resynchronization started' }).waitFor()
  t.same(callsOf(service, 'replicationResync'), ['vm1'], 'resync calls its route')
  service.refuseResync = true
  await resync.click()
  await page.getByRole('alert').filter({ hasText: 'Not possible in this state: a resynchronization cannot start while a cycle commits' }).waitFor()
  t.pass('a refusal is shown in words')

  await page.getByRole('button', { name: 'Remove replication…' }).click()
  const confirm = page.getByRole('region', { name: 'Stop protecting vm1?' })
  await confirm.waitFor()
  t.match(await confirm.innerText(), /box-b keeps every recovery point it holds/, 'the confirmation says what happens to the points')
  t.match(await confirm.innerText(), /No new recovery point comes after this/, 'and what stops')
  t.equal(await focusedId(page, 'remove-title'), 'remove-title', 'the focus moves to the question')
  t.same(callsOf(service, 'replicationRemove'), [], 'nothing removed yet')
  await screenshot(page, 'vm-remove-confirm-desktop', { fullPage: false })
  await page.getByRole('button', { name: 'Keep protecting it' }).click()
  t.equal(await confirm.count(), 0, 'keeping it closes the question')
  t.same(callsOf(service, 'replicationRemove'), [], 'and removes nothing')
  await page.getByRole('button', { name: 'Remove replication…' }).click()
  await page.getByRole('button', { name: 'Remove the replication of vm1' }).click()
  await page.getByRole('status').filter({ hasText: 'vm1 is no longer protected from this box. box-b was told and keeps every recovery point it holds.' }).waitFor()
  t.same(callsOf(service, 'replicationRemove'), ['vm1'], 'remove calls its route, once confirmed')
  await clean(t, desktop, 'desktop', ['/v1/replication/vm1/resync'])

  const phone = await openPage(browser, 'phone')
  service.replication_ = [{ ...REPLICATION, lastPointTime: ago(2 * MINUTE) }]
  await logIn(phone.page, `${box.url}/#/vm/vm1`, PASSWORD, box.setupCode)
  await phone.page.getByRole('heading', { level: 1, name: 'vm1' }).waitFor()
  await phone.page.locator('.chart canvas').first().waitFor()
  await screenshot(phone.page, 'vm-primary-phone')
  t.same(await checkAccessible(phone.page), [], 'VM page, primary side (phone): accessible')
  t.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth) <= 390, 'nothing wider than the phone')
  await phone.page.goto(`${box.url}/#/vm/web`)
  await phone.page.getByRole('heading', { level: 1, name: 'web' }).waitFor()
  await phone.page.getByRole('img', { name: /The screen of point 5's test VM/ }).waitFor()
  await phone.page.waitForFunction(() => (document.querySelector('.proof img') as HTMLImageElement | null)?.complete === true)
  await screenshot(phone.page, 'vm-replica-phone')
  t.same(await checkAccessible(phone.page), [], 'VM page, Replica side (phone): accessible')
  t.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth) <= 390, 'nothing wider than the phone')
  await clean(t, phone, 'phone')
})
