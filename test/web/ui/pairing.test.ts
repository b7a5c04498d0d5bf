/**
 * The Pairing page in headless chromium, served by the real browser-facing
 * server over the fake service (test/web/fixtures/ui-server.ts): opening a
 * window shows a QR code that decodes to the invite, the PIN and a countdown, then
 * the joining box and the confirmation code (GET /v1/pairing); joining by PIN and address, or by QR payload,
 * sends exactly that and shows the confirmation code; removing a paired box
 * asks first; the address and payload fields are not spell-checked. Desktop and phone screenshots, accessibility checked, no
 * console error and no CSP violation.
 */
import t from 'tap'
import type { PairOpenRequest, PairOpenResult } from '../../../appliance/service/index.ts'
import { browserMissing, checkAccessible, launchBrowser, openPage, screenshot } from '../../helpers/browser.ts'
import { servedUi } from '../fixtures/ui-server.ts'
import { FakeService, PEER_ID, STATUS } from '../fixtures/fake-service.ts'
import { logIn } from '../fixtures/ui-login.ts'

const INVITE = `tandem-pair:1:${'Qm9vdHN0cmFwIG1lIGEgYm94'.repeat(4)}`
/** The window the fake opens: ten minutes from now, so the countdown runs. */
const WINDOW_MS = 10 * 60_000

class PairingService extends FakeService {
  /** The last window opened, as pairOpen answered it. */
  opened: PairOpenResult | undefined
  override async pairOpen (request?: PairOpenRequest): Promise<PairOpenResult> {
    this.opened = { ...await super.pairOpen(request), invite: INVITE, expiresAt: new Date(Date.now() + WINDOW_MS).toISOString() }
    this.pairStatus_ = { window: { mode: 'both', expiresAt: this.opened.expiresAt, open: true, joining: false, failedAttempts: 0, paired: null, pin: null, invite: null }, last: null }
    return this.opened
  }
}

t.test('open a window, join by PIN and by QR payload, remove a paired box', { skip: browserMissing() }, async t => {
  const service = new PairingService()
  const box = await servedUi(t, service)
  const browser = await launchBrowser(t)
  const watched = await openPage(browser, 'desktop')
  const { page } = watched
  await logIn(page, `${box.url}/#/pairing`, 'pairing password', box.setupCode)
  await page.getByRole('heading', { level: 1, name: 'Pairing' }).waitFor()
  await page.getByText('box-b').first().waitFor()
  t.same(await checkAccessible(page), [], 'pairing page: accessible')

  await page.getByRole('button', { name: 'Open a pairing window' }).click()
  await page.getByText('1234 5678').waitFor()
  t.pass('the PIN, in two groups of four')
  t.match(await page.getByRole('timer').innerText(), /Closes in (?:10:00|\d:[0-5]\d)/, 'the countdown')
  t.ok(service.calls.some(([m]) => m === 'pairOpen'), 'the window was opened on the service')
  t.match(await page.locator('.addresses').innerText(), new RegExp(STATUS.addresses[0]!.replace(/[/.]/g, '\\$&')), 'the addresses to dial')
  t.equal(await page.getByLabel('Or paste this QR payload there').inputValue(), INVITE, 'the payload, to copy')
  const decoded = await page.evaluate(async () => {
    // Draws the page's QR code on a canvas and reads it back with the jsqr the page serves.
    const svg = document.querySelector('svg.qr')!
    const img = new Image()
    const xml = new XMLSerializer().serializeToString(svg).replace('class="qr-light"', 'fill="#fff"').replace('class="qr-dark"', 'fill="#000"')
    img.src = `data:image/svg+xml,${encodeURIComponent(xml)}`
    await img.decode()
    const canvas = document.createElement('canvas')
    canvas.width = canvas.height = 400
    const ctx = canvas.getContext('2d')!
    ctx.drawImage(img, 0, 0, 400, 400)
    // A URL of the page, not a module of this repository: held in a variable.
    const served = '/vendor/jsqr.js'
    const jsqr = (await import(served) as { default: (d: Uint8ClampedArray, w: number, h: number) => { data: string } | null }).default
    return jsqr(ctx.getImageData(0, 0, 400, 400).data, 400, 400)?.data ?? null
  })
  t.equal(decoded, INVITE, 'the QR code decodes to the invite')
  t.same(await checkAccessible(page), [], 'with the window open: accessible')
  await screenshot(page, 'pairing-desktop')

  service.pairStatus_ = { window: { ...service.pairStatus_.window!, joining: true }, last: null }
  await page.getByText('A box is joining: confirming…').waitFor()
  t.pass('a joining box is shown while it is confirmed')
  const done = { side: 'host' as const, peerId: PEER_ID, name: 'box-b', confirmationCode: '123456', pairedAt: new Date().toISOString() }
  service.pairStatus_ = { window: { ...service.pairStatus_.window!, joining: false, open: false, paired: done }, last: done }
  await page.getByText('box-b joined this box').waitFor()
  t.match(await page.locator('section[aria-labelledby="open-title"] .joined').innerText(), /Confirmation code 123456: box-b shows the same code/, 'the opening box shows the confirmation code')
  t.notOk(await page.getByText('1234 5678').isVisible(), 'the used window\'s PIN is gone')
  t.same(await checkAccessible(page), [], 'with the pairing done: accessible')
  await screenshot(page, 'pairing-host-confirmed-desktop')

  for (const id of ['join-addr', 'join-invite']) {
    // spellcheck=${false} in htm: the string "false" would set the DOM property to true
    t.equal(await page.locator(`#${id}`).getAttribute('spellcheck'), 'false', `#${id}: an address or payload is not spell-checked`)
  }
  await page.getByLabel('PIN (8 digits)').fill('8765 4321')
  await page.getByLabel('Its address').fill(`/ip4/127.0.0.1/tcp/4002/p2p/${PEER_ID}`)
  await page.getByRole('button', { name: 'Join with the PIN' }).click()
  await page.getByText('Paired with box-b').waitFor()
  t.match(await page.locator('section[aria-labelledby="join-title"] .joined').innerText(), /Confirmation code 123456/, 'the confirmation code to compare')
  t.same(service.calls.find(([m]) => m === 'pairJoin')?.[1], { pin: '87654321', addr: `/ip4/127.0.0.1/tcp/4002/p2p/${PEER_ID}` }, 'joined with the PIN (spaces dropped) and the address')

  service.calls.length = 0
  await page.getByLabel('QR payload', { exact: true }).fill(INVITE)
  await page.getByRole('button', { name: 'Join with the QR payload' }).click()
  await page.getByText('Paired with box-b').waitFor()
  t.same(service.calls.find(([m]) => m === 'pairJoin')?.[1], { invite: INVITE }, 'joined with the pasted payload')

  await page.getByRole('button', { name: 'Remove box-b' }).click()
  await page.getByText('Remove box-b? It will no longer connect').waitFor()
  t.notOk(service.calls.some(([m]) => m === 'pairRemove'), 'nothing removed before the confirmation')
  t.same(await checkAccessible(page), [], 'the confirmation step: accessible')
  await page.getByRole('button', { name: 'Yes, remove box-b' }).click()
  await page.getByRole('button', { name: 'Remove box-b', exact: true }).waitFor()
  t.same(service.calls.find(([m]) => m === 'pairRemove')?.[1], PEER_ID, 'removed by its peer id')

  const phone = await openPage(browser, 'phone')
  await logIn(phone.page, `${box.url}/#/pairing`, 'pairing password', box.setupCode)
  await phone.page.getByRole('button', { name: 'Open a pairing window' }).click()
  await phone.page.getByText('1234 5678').waitFor()
  await screenshot(phone.page, 'pairing-phone')
  t.same(await checkAccessible(phone.page), [], 'pairing page (phone): accessible')
  t.ok(await phone.page.evaluate(() => document.documentElement.scrollWidth) <= 390, 'nothing wider than the phone')

  for (const [what, w] of [['desktop', watched], ['phone', phone]] as const) {
    t.same(w.errors, [], `${what}: no console error or exception`)
    t.same(await w.cspViolations(), [], `${what}: no CSP violation`)
  }
})
