/**
 * The pairing window (pure, injected clock): 8-digit PIN, one-time QR
 * secret, 5 failed attempts then closed (the 6th refused), expiry refused,
 * success closes it; the QR invite round-trips and rejects tampering.
 */
import t from 'tap'
import { decodeInvite, encodeInvite, MAX_FAILED_ATTEMPTS, PairingWindow, DEFAULT_WINDOW_MS } from '../../p2p/pairing/window.ts'

const PEER = '12D3KooWRm8J3iL796zPFi2EtGGtUJn58AG67gcqzMFHZnnsTzqD'
const T0 = 1_800_000_000_000
const open = (durationMs?: number): PairingWindow => PairingWindow.open({ peerId: PEER, addresses: ['/ip4/127.0.0.1/tcp/7450'], now: T0, durationMs })

t.test('PIN and secret', async t => {
  const a = open()
  const b = open()
  t.match(a.pin, /^\d{8}$/)
  t.not(a.invite.secret, b.invite.secret, 'a fresh secret per window')
  t.equal(Buffer.from(a.invite.secret, 'base64url').byteLength, 32)
  t.equal(a.invite.expiresAt, T0 + DEFAULT_WINDOW_MS, 'ten minutes by default')
})

t.test('five failures close the window; the sixth attempt is refused', async t => {
  const w = open()
  for (let i = 1; i <= MAX_FAILED_ATTEMPTS; i++) {
    w.beginAttempt(T0 + i)
    w.recordFailure()
    t.equal(w.failedAttempts, i, `failure ${i} counted`)
  }
  t.equal(MAX_FAILED_ATTEMPTS, 5)
  t.notOk(w.isOpen(T0 + 10))
  t.throws(() => { w.beginAttempt(T0 + 10) }, { code: 'P2P_PAIRING_CLOSED' })
})

t.test('attempting: true from beginAttempt to the attempt\'s end', async t => {
  const w = open()
  t.notOk(w.attempting, 'no attempt yet')
  w.beginAttempt(T0 + 1)
  t.ok(w.attempting, 'a joining box is being confirmed')
  w.recordFailure()
  t.notOk(w.attempting, 'ended by a failure')
  w.beginAttempt(T0 + 2)
  w.recordSuccess()
  t.notOk(w.attempting, 'ended by a success')
})

t.test('an expired window refuses, however few the failures', async t => {
  const w = open(60_000)
  w.beginAttempt(T0 + 59_999)
  w.recordFailure()
  t.ok(w.isOpen(T0 + 59_999))
  t.throws(() => { w.beginAttempt(T0 + 60_000) }, { code: 'P2P_PAIRING_CLOSED' })
})

t.test('success closes the window; one attempt at a time; cancel closes', async t => {
  const w = open()
  w.beginAttempt(T0)
  t.throws(() => { w.beginAttempt(T0) }, { code: 'P2P_PAIRING_BUSY' })
  w.recordSuccess()
  t.throws(() => { w.beginAttempt(T0 + 1) }, { code: 'P2P_PAIRING_CLOSED' }, 'a used window cannot pair again')
  const c = open()
  c.cancel()
  t.throws(() => { c.beginAttempt(T0) }, { code: 'P2P_PAIRING_CLOSED' })
  t.throws(() => { c.recordFailure() }, TypeError, 'no attempt in progress is a programmer error')
})

t.test('QR invite round trip and hostile invites', async t => {
  const w = open()
  const text = encodeInvite(w.invite)
  t.match(text, /^tandem-pair:1:[A-Za-z0-9_-]+$/)
  t.same(decodeInvite(text), w.invite)
  const body = (o: unknown): string => 'tandem-pair:1:' + Buffer.from(JSON.stringify(o)).toString('base64url')
  const bad: Array<[string, string]> = [
    ['empty', ''],
    ['other version', text.replace('tandem-pair:1:', 'tandem-pair:2:')],
    ['garbage', 'tandem-pair:1:%%%'],
    ['not an object', body(42)],
    ['bad peer id', body({ ...w.invite, peerId: 'x' })],
    ['too many addresses', body({ ...w.invite, addresses: Array(9).fill('/ip4/127.0.0.1/tcp/1') })],
    ['address not a multiaddr', body({ ...w.invite, addresses: ['http://x'] })],
    ['short secret', body({ ...w.invite, secret: 'AAAA' })],
    ['expiry not a number', body({ ...w.invite, expiresAt: 'soon' })],
    ['too long', 'tandem-pair:1:' + 'A'.repeat(5000)]
  ]
  for (const [name, s] of bad) t.throws(() => decodeInvite(s), { code: 'P2P_INVITE_INVALID' }, name)
})
