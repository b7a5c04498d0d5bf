/**
 * The Protect wizard in headless chromium, over the fake service
 * (test/web/fixtures/ui-server.ts): each step in turn (a missing choice
 * refused in words), a manual-driver VM added from the first step, the
 * choices in words on the last, `PUT /v1/replication/:name` sent exactly, a
 * refusal shown in words with the choices kept; then the progress bar
 * moving with the live snapshots (the fake's status changes) until the
 * initial replication is done, and the links to the VM and the dashboard.
 * Desktop and phone screenshots, accessibility, no console error or CSP
 * violation.
 */
import t from 'tap'
import type { CycleProgressInfo, ReplicationEnableRequest, ReplicationInfo, VmAddRequest, VmInfo } from '../../../appliance/service/index.ts'
import { browserMissing, checkAccessible, focusedId, launchBrowser, openPage, screenshot } from '../../helpers/browser.ts'
import { servedUi } from '../fixtures/ui-server.ts'
import { FakeService, PEER, REPLICATION, VM } from '../fixtures/fake-service.ts'
import { logIn } from '../fixtures/ui-login.ts'

const FILES: VmInfo = { ...VM, name: 'files', driver: 'manual', state: 'unknown' as VmInfo['state'], relationship: null, disks: [{ name: 'disk0', path: '/srv/files.raw', format: 'raw', size: 536_870_912 }] }
const GiB = 1024 ** 3

const progress = (done: number, etaMs: number | null): CycleProgressInfo => ({ phase: 'send disk0', bytesDone: done, bytesTotal: 2 * GiB, startedAt: new Date().toISOString(), etaMs })

/** A box with one VM free to protect (and one protected already); enabling leaves it waiting for its initial replication. */
class ProtectService extends FakeService {
  vms_: VmInfo[] = [VM, FILES]
  refuse: { code: string, message: string } | null = null
  override async vmList (): Promise<VmInfo[]> { await super.vmList(); return this.vms_ }
  override async vmAdd (request: VmAddRequest): Promise<VmInfo> {
    await super.vmAdd(request)
    const vm = { ...FILES, name: request.name }
    this.vms_ = [...this.vms_, vm]
    return vm
  }

  override async replicationEnable (name: string, request: ReplicationEnableRequest): Promise<ReplicationInfo> {
    await super.replicationEnable(name, request)
    if (this.refuse !== null) { const r = this.refuse; this.refuse = null; this.failWith = r; try { return await super.replicationEnable(name, request) } finally { this.failWith = undefined } }
    const info: ReplicationInfo = { ...REPLICATION, relationship: name, vm: name, state: 'waiting-initial-replication', running: true, lastPointTime: null, lastReplicationTime: null, progress: null }
    this.replication_ = [info]
    return info
  }

  /** The live channel's next polls see the relationship as `change` makes it. */
  move (change: Partial<ReplicationInfo>): void { this.replication_ = [{ ...this.replication_[0]!, ...change }] }
}

t.test('the wizard step by step, the request, a refusal, the live progress to the end', { skip: browserMissing() }, async t => {
  const service = new ProtectService()
  const box = await servedUi(t, service)
  const browser = await launchBrowser(t)
  const watched = await openPage(browser, 'desktop')
  const { page } = watched
  await logIn(page, `${box.url}/#/protect`, 'protect password', box.setupCode)
  await page.getByRole('heading', { level: 1, name: 'Protect a VM' }).waitFor()
  await page.getByRole('heading', { name: 'Step 1 of 6: The VM' }).waitFor()
  t.match(await page.locator('.protect-step').innerText(), /Protected already: web\./, 'a protected VM is not offered')
  t.same(await checkAccessible(page), [], 'step 1: accessible')
  await screenshot(page, 'protect-desktop')

  await page.getByRole('button', { name: 'Next' }).click()
  t.equal(await page.getByRole('alert').filter({ hasText: 'Choose' }).innerText(), 'Choose the VM to protect.', 'no VM chosen: said in words')

  // A VM that is not in the inventory: the manual-driver form.
  await page.getByRole('button', { name: 'The VM is not in the list' }).click()
  await page.getByLabel('VM name').fill('archive')
  await page.getByLabel('Disk image on this box').fill('/srv/archive.raw')
  await page.getByRole('button', { name: 'Add this VM' }).click()
  await page.getByRole('radio', { name: /archive/ }).waitFor()
  t.same(service.calls.find(([m]) => m === 'vmAdd')?.[1], { name: 'archive', disks: ['/srv/archive.raw'], driver: 'manual' }, 'added as a manual-driver VM')
  t.ok(await page.getByRole('radio', { name: /archive/ }).isChecked(), 'and chosen')

  await page.getByRole('radio', { name: /files/ }).check()
  await page.getByRole('button', { name: 'Next' }).click()
  await page.getByRole('heading', { name: 'Step 2 of 6: The box that keeps the copy' }).waitFor()
  t.equal(await focusedId(page, 'step-title'), 'step-title', 'the focus moves to the step\'s heading')
  await page.getByRole('button', { name: 'Next' }).click()
  await page.getByText('Choose the box that keeps the copy.').waitFor()
  await page.getByRole('radio', { name: new RegExp(PEER.name) }).check()
  t.same(await checkAccessible(page), [], 'step 2: accessible')
  await page.getByRole('button', { name: 'Next' }).click()

  await page.getByRole('heading', { name: 'Step 3 of 6: How often' }).waitFor()
  t.ok(await page.getByRole('radio', { name: 'Every 5 minutes' }).isChecked(), 'five minutes by default')
  await page.getByRole('radio', { name: 'Every 30 seconds' }).check()
  await page.getByRole('button', { name: 'Next' }).click()

  await page.getByRole('heading', { name: 'Step 4 of 6: Recovery points' }).waitFor()
  await page.getByLabel('Hourly recovery points kept besides the latest').fill('many')
  await page.getByRole('button', { name: 'Next' }).click()
  await page.getByText('Recovery points: a whole number from 0 to 10000.').waitFor()
  await page.getByLabel('Hourly recovery points kept besides the latest').fill('12')
  await page.getByLabel('App-consistent points').selectOption('4h')
  t.same(await checkAccessible(page), [], 'step 4: accessible')
  await page.getByRole('button', { name: 'Next' }).click()

  await page.getByRole('heading', { name: 'Step 5 of 6: The first copy' }).waitFor()
  await page.getByRole('radio', { name: /seed file/ }).check()
  await page.getByLabel('Seed file on this box').fill('usb/files.seed')
  await page.getByRole('button', { name: 'Next' }).click()
  await page.getByText('a full path on this box, starting with /').waitFor()
  await page.getByRole('radio', { name: /^Now, over the network/ }).check()
  await page.getByRole('button', { name: 'Next' }).click()

  await page.getByRole('heading', { name: 'Step 6 of 6: Check and protect' }).waitFor()
  const words = await page.locator('.protect-summary').innerText()
  for (const line of ['files runs on box-a; box-b keeps its copy.', 'A new recovery point every 30 seconds.', 'plus 12 hourly points', 'app-consistent point (the guest flushes its writes first) every 4 hours', 'The first full copy starts now, over the network.']) {
    t.ok(words.includes(line), `in words: ${line}`)
  }
  t.same(await checkAccessible(page), [], 'step 6: accessible')

  // Refused: the words, and every choice kept.
  service.refuse = { code: 'P2P_PEER_UNREACHABLE', message: 'box-b did not answer' }
  await page.getByRole('button', { name: 'Protect files' }).click()
  await page.getByText('box-b did not answer').waitFor()
  await page.getByRole('button', { name: 'Back' }).click()
  await page.getByRole('button', { name: 'Back' }).click()
  t.equal(await page.getByLabel('Hourly recovery points kept besides the latest').inputValue(), '12', 'the choices are kept')
  await page.getByRole('button', { name: 'Next' }).click()
  await page.getByRole('button', { name: 'Next' }).click()

  service.calls.length = 0
  await page.getByRole('button', { name: 'Protect files' }).click()
  await page.getByRole('heading', { name: 'Initial replication of files to box-b' }).waitFor()
  t.same(service.calls.filter(([m]) => m === 'replicationEnable').map(([, a]) => a), [
    { name: 'files', to: PEER.peerId, frequency: '30s', recoveryPoints: '12', appConsistentEvery: '4h', initial: 'now' }
  ], 'PUT /v1/replication/files with exactly the choices')
  t.match(await page.locator('#progress-words').innerText(), /Starting/, 'before the first bytes')

  service.move({ progress: progress(GiB / 4, null) })
  await page.getByText('12%: 268 MB of 2.1 GB, working out the time left.').waitFor()
  t.equal(await page.getByRole('progressbar', { name: 'Copied so far' }).getAttribute('value'), String(GiB / 4), 'the bar moves with the snapshots')
  service.move({ progress: progress(GiB, 180_000) })
  await page.getByText('50%: 1.1 GB of 2.1 GB, about 3 min left.').waitFor()
  t.equal(await page.getByRole('progressbar', { name: 'Copied so far' }).getAttribute('value'), String(GiB))
  t.same(await checkAccessible(page), [], 'the progress: accessible')
  await screenshot(page, 'protect-progress-desktop')

  service.move({ state: 'replicating', running: false, progress: null, lastPointTime: new Date().toISOString() })
  await page.getByRole('heading', { name: 'files is protected' }).waitFor()
  t.equal(await page.getByRole('link', { name: 'See files' }).getAttribute('href'), '#/vm/files', 'a link to the VM\'s page')
  t.equal(await page.getByRole('link', { name: 'Back to the dashboard' }).getAttribute('href'), '#/', 'and the dashboard')
  await screenshot(page, 'protect-done-desktop')

  const phone = await openPage(browser, 'phone')
  await logIn(phone.page, `${box.url}/#/protect`, 'protect password', box.setupCode)
  await phone.page.getByRole('heading', { name: 'Step 1 of 6: The VM' }).waitFor()
  await screenshot(phone.page, 'protect-phone')
  t.same(await checkAccessible(phone.page), [], 'protect (phone): accessible')
  t.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth) <= 390, 'nothing wider than the phone')

  // The refusal above is a 502 answer, which the browser logs as a failed load: the one error expected.
  const refused = /Failed to load resource: .*502 .*\/v1\/replication\/files\)$/
  t.equal(watched.errors.filter(e => refused.test(e)).length, 1, 'the refused request, logged by the browser')
  watched.errors.splice(0, watched.errors.length, ...watched.errors.filter(e => !refused.test(e)))
  for (const [what, w] of [['desktop', watched], ['phone', phone]] as const) {
    t.same(w.errors, [], `${what}: no console error or exception`)
    t.same(await w.cspViolations(), [], `${what}: no CSP violation`)
  }
})
