/**
 * The console screen (appliance/cli/console-screen.ts) from literal
 * inputs: no password yet, password set, a pairing window open (PIN, the
 * QR code that decodes to the invite, where the code goes on screens of
 * each size), the confirmation code after a pairing, the daemon down, no
 * addresses, a web server on 0.0.0.0 and ::, long names cut to fit, and an
 * answer of an unknown shape. Plus the terminal drawing (console.ts draw).
 */
import t from 'tap'
import type { PairStatusInfo, StatusInfo } from '../../../appliance/service/index.ts'
import { consoleScreen, countdown, groupedPin, MAX_TEXT_COLUMNS, shortPeerId, webUrls, wrap, type ConsoleView, type HostAddress } from '../../../appliance/cli/console-screen.ts'
import { textQr } from '../../../appliance/cli/console-qr.ts'
import { draw } from '../../../appliance/cli/console.ts'
import { decodeTextQr } from '../../helpers/text-qr.ts'
import { FINGERPRINT, PEER_ID, STATUS } from '../../helpers/status-info.ts'

const NOW = Date.parse('2026-12-07T22:00:00.000Z')
const INVITE = 'tandem-pair:1:eyJwZWVySWQiOiIxMkQzS29vV04yRFJxWGhOR0NNS3J1ejVFTDdoNzJycHUydVNEVFBtVldFcG11c1V5RDNjIiwiYWRkcmVzc2VzIjpbIi9pcDQvMTkyLjAuMi4yL3RjcC83NDUwIl0sInNlY3JldCI6InlOYkg4Y0hHVzdXSnFxOE9TNWJqc2ZxQnd0MEFMMWhHb2JLQzk3N1FEWHMiLCJleHBpcmVzQXQiOjE3OTY2ODIxNTUxMjB9'

const ADDRESSES: HostAddress[] = [
  { address: '192.0.2.2', family: 4, iface: 'eth0' },
  { address: '2001:db8::2', family: 6, iface: 'eth0' },
  { address: 'fe80::fc:ff:fe00:1', family: 6, iface: 'eth0' }
]

const CLOSED: PairStatusInfo = { window: null, last: null }
const OPEN: PairStatusInfo = {
  window: { mode: 'both', expiresAt: '2026-12-07T22:09:41.000Z', open: true, joining: false, failedAttempts: 0, paired: null, pin: '12345678', invite: INVITE },
  last: null
}
const NO_VMS = { replication: [], replica: [] }

function view (over: Partial<ConsoleView> & { status?: StatusInfo, pairing?: PairStatusInfo } = {}): ConsoleView {
  const { status = STATUS, pairing = CLOSED, ...rest } = over
  return { daemon: { status, pairing, vms: NO_VMS }, addresses: ADDRESSES, now: NOW, refreshMs: 5000, screen: { columns: 80, rows: 25 }, ...rest }
}

const text = (v: ConsoleView): string[] => consoleScreen(v).map(l => l.text)
const qrLines = (v: ConsoleView): string[] => consoleScreen(v).filter(l => l.qr === true).map(l => l.text)

t.test('no password yet: the box, its addresses, the web URL, the whole fingerprint and the one-time code', async t => {
  const lines = text(view())
  t.same(lines, [
    'Tandem box  box-a (both)',
    'peer id     12D3KooW…musUyD3c',
    'addresses   192.0.2.2 (eth0)',
    '            2001:db8::2 (eth0)',
    '            fe80::fc:ff:fe00:1 (eth0)',
    'web page    https://192.0.2.2:8443/',
    'certificate SHA256 85:B6:69:7D:91:BE:BD:F0:5A:CB:6C:73:1E:93:D6:98',
    '                   EC:67:81:49:9D:F2:B8:F9:B7:3B:B5:8F:CE:6E:58:F5',
    'password    not set: on the web page, enter the one-time code ABCD-EFGH-JKMN',
    'pairing     closed (open one on the web page\'s Pairing, or: tandem pair open)',
    'VMs         none protected yet',
    'updated     2026-12-07 22:00:00 UTC (every 5 s)'
  ])
  t.equal(`SHA256 ${lines[6]!.slice(19)}:${lines[7]!.trim()}`, FINGERPRINT, 'the fingerprint is whole across its two lines')
})

t.test('password set: a line saying so, no code', async t => {
  const lines = text(view({ status: { ...STATUS, web: { ...STATUS.web!, setupCode: null, passwordSet: true } } }))
  t.ok(lines.includes('password    set: log in on the web page'))
  t.notOk(lines.some(l => l.includes('one-time code')))
  t.ok(text(view({ status: { ...STATUS, web: null } })).includes('web page    none configured (config.json has no "api")'), 'no web server: said, and no password line')
})

t.test('a pairing window open: countdown, PIN in groups, and a QR code of the invite that decodes', async t => {
  const tall = view({ pairing: OPEN, screen: { columns: 120, rows: 60 } })
  const lines = text(tall)
  t.ok(lines.includes('pairing     open, closes in 9:41'))
  t.ok(lines.includes('            on the other box\'s pairing page: PIN 1234 5678 or the QR code'))
  const qr = qrLines(tall)
  t.equal(decodeTextQr(qr), INVITE, 'the code on the screen decodes to the invite')
  t.equal(lines.indexOf(qr[0]!), lines.indexOf('updated     2026-12-07 22:00:00 UTC (every 5 s)') + 2, 'below the text, after a blank line')
  const joining = text(view({ pairing: { ...OPEN, window: { ...OPEN.window!, joining: true } } }))
  t.ok(joining.includes('            a box is joining: confirming'))
  const inviteOnly = view({ pairing: { ...OPEN, window: { ...OPEN.window!, mode: 'invite', pin: null } }, screen: null })
  t.ok(text(inviteOnly).includes('            on the other box\'s pairing page: the QR code'), 'an invite-only window has no PIN')
  t.equal(decodeTextQr(qrLines(inviteOnly)), INVITE, 'not a terminal: the code is printed whole, below')
})

t.test('where the QR code goes: below the text, alone, or a line saying what it needs', async t => {
  const qr = textQr(INVITE)
  t.ok(qr.columns > MAX_TEXT_COLUMNS || qr.rows + 14 > 25, `the invite's code (${qr.columns}x${qr.rows}) does not fit 80x25 with the text`)
  const small = text(view({ pairing: OPEN }))
  t.equal(qrLines(view({ pairing: OPEN })).length, 0, '80x25: no code')
  t.ok(small.includes(`QR code     needs ${qr.columns}x${qr.rows + 2} characters, this screen has 80x25: enter the PIN instead`))
  t.ok(small.includes('            on the other box\'s pairing page: PIN 1234 5678 or the QR code'), 'the PIN is still there')
  const alone = consoleScreen(view({ pairing: OPEN, screen: { columns: qr.columns, rows: qr.rows + 2 } }))
  t.equal(alone.length, qr.rows + 2, 'a screen just tall enough for the code: the code alone, a line above and below')
  t.equal(alone[0]!.text, 'Pairing open, closes in 9:41: PIN 1234 5678, or scan this code')
  t.equal(alone.at(-1)!.text, 'The address and web page come back when the window closes.')
  t.equal(decodeTextQr(alone.filter(l => l.qr === true).map(l => l.text)), INVITE)
  for (const l of alone) t.ok([...l.text].length <= qr.columns, 'every line fits the width')
})

t.test('the confirmation code of the last pairing, for RECENT_PAIRING_MS', async t => {
  const last = { side: 'host' as const, peerId: PEER_ID, name: 'box-b', confirmationCode: '123456', pairedAt: '2026-12-07T21:55:00.000Z' }
  const lines = text(view({ pairing: { window: { ...OPEN.window!, open: false, pin: null, invite: null }, last } }))
  t.ok(lines.includes('paired      with box-b at 21:55 UTC: confirmation code 123456'))
  t.ok(lines.includes('            box-b shows the same code: compare them'))
  t.ok(lines.includes('pairing     closed (open one on the web page\'s Pairing, or: tandem pair open)'))
  t.notOk(text(view({ pairing: { window: null, last: { ...last, pairedAt: '2026-12-07T21:40:00.000Z' } } })).some(l => l.includes('confirmation code')), 'gone after 10 minutes')
})

t.test('the VMs\' health: counts and the worst reason', async t => {
  const vms = {
    replication: [{ vm: 'web', health: 'warning' as const, reason: 'the last cycle failed: the Replica did not answer' }, { vm: 'db', health: 'normal' as const, reason: 'replicating' }],
    replica: [{ vm: 'mail', health: 'critical' as const, healthReason: 'no recovery point for 2 h (target 15 min)' }]
  }
  const lines = text({ ...view(), daemon: { status: STATUS, pairing: CLOSED, vms } })
  t.ok(lines.includes('VMs         3 protected: 1 normal, 1 warning, 1 critical'))
  t.ok(lines.includes('            worst: mail (critical): no recovery point for 2 h (target 15 min)'))
  const healthy = text({ ...view(), daemon: { status: STATUS, pairing: CLOSED, vms: { replication: [vms.replication[1]!], replica: [] } } })
  t.ok(healthy.includes('            every one healthy'))
  const failed = text({ ...view(), daemon: { status: STATUS, pairing: { failed: 'the daemon\'s API did not answer in time' }, vms: { failed: 'boom' } } })
  t.ok(failed.includes('pairing     could not be read: the daemon\'s API did not answer in time'))
  t.ok(failed.includes('VMs         could not be read: boom'))
})

t.test('the daemon down: the reason, the code, what the data directory says, and that it keeps trying', async t => {
  const reason = 'no daemon answers on /var/lib/tandem/api.sock; start it with `tandem start`'
  const lines = text(view({ daemon: { code: 'APP_DAEMON_NOT_RUNNING', reason, offline: { ...STATUS, state: 'stopped' } } }))
  t.same(lines.slice(0, 5), [
    'Tandem is starting or stopped (APP_DAEMON_NOT_RUNNING):',
    '            no daemon answers on /var/lib/tandem/api.sock; start it with `tandem',
    '            start`',
    '            trying again every 5 s',
    'Tandem box  box-a (both)'
  ])
  t.ok(lines.some(l => l.startsWith('certificate SHA256 85:B6')), 'the certificate from the data directory')
  t.notOk(lines.some(l => l.startsWith('pairing') || l.startsWith('password')), 'nothing the daemon alone knows')
  const bare = text(view({ addresses: [], daemon: { code: 'APP_DAEMON_NOT_RUNNING', reason, offline: { failed: '/var/lib/tandem/config.json does not exist' } } }))
  t.ok(bare.includes('addresses   none: this box has no network address yet (a cable? DHCP?)'))
  t.ok(bare.includes('data        not readable: /var/lib/tandem/config.json does not exist'))
})

t.test('no addresses, and web servers on 0.0.0.0 and ::', async t => {
  t.ok(text(view({ addresses: [] })).includes('addresses   none: this box has no network address yet (a cable? DHCP?)'))
  t.same(webUrls('0.0.0.0:8443', 'https://box-a:8443/', ADDRESSES), ['https://192.0.2.2:8443/'], '0.0.0.0: the IPv4 addresses')
  t.same(webUrls('[::]:8443', 'https://box-a:8443/', ADDRESSES), ['https://192.0.2.2:8443/', 'https://[2001:db8::2]:8443/'], ':: all but link-local')
  t.same(webUrls('0.0.0.0:8443', 'https://box-a:8443/', []), ['https://box-a:8443/'], 'no address: the host name')
  t.same(webUrls('127.0.0.1:8080', 'http://127.0.0.1:8080/', ADDRESSES), ['http://127.0.0.1:8080/'], 'a configured host: that one')
  const many = Array.from({ length: 6 }, (_, i) => ({ address: `198.51.100.${i + 1}`, family: 4 as const, iface: `br${i}` }))
  const lines = text(view({ addresses: many, status: { ...STATUS, httpsApi: '0.0.0.0:8443' } }))
  t.ok(lines.includes('web page    https://198.51.100.1:8443/'))
  t.equal(lines.filter(l => l === '            and 2 more').length, 2, 'addresses and URLs: 4 shown, the rest counted')
})

t.test('long names are cut to fit 80 columns', async t => {
  const long = 'a-box-with-a-very-long-name-'.repeat(5)
  const lines = text(view({ status: { ...STATUS, name: long }, addresses: [{ address: '192.0.2.2', family: 4, iface: 'x'.repeat(100) }] }))
  for (const l of lines) t.ok([...l].length <= MAX_TEXT_COLUMNS, `${l.slice(0, 20)}…: at most 80`)
  t.ok(lines[0]!.endsWith('…'), 'the cut is marked')
  for (const l of text(view({ screen: { columns: 40, rows: 25 } }))) t.ok([...l].length <= 40, 'a narrower terminal: its width')
})

t.test('an answer of an unknown shape is said, never thrown', async t => {
  const broken = { ...STATUS, web: undefined } as unknown as StatusInfo
  const lines = text(view({ status: broken }))
  t.match(lines[0], /^Tandem answered something this console cannot show: /)
})

t.test('small parts', async t => {
  t.equal(groupedPin('12345678'), '1234 5678')
  t.equal(shortPeerId(PEER_ID), '12D3KooW…musUyD3c')
  t.equal(countdown('2026-12-07T22:00:01.000Z', NOW), 'closes in 0:01')
  t.equal(countdown('2026-12-07T23:00:00.000Z', NOW), 'closes in 1:00:00')
  t.equal(countdown('2026-12-07T22:00:00.000Z', NOW), 'closing')
  t.equal(countdown('not a time', NOW), 'closing')
  t.same(wrap('one two three four', 9, 2), ['one two', 'three …'])
})

t.test('draw: plain lines, or QR lines black on white on a terminal', async t => {
  const lines = [{ text: 'a' }, { text: '▀█', qr: true as const }]
  t.equal(draw(lines, false), 'a\n▀█')
  t.equal(draw(lines, true), 'a\x1b[K\n\x1b[30;47m▀█\x1b[0m\x1b[K')
})
