/**
 * image/console/screen.ts: the console status screen. Pure: literal status
 * documents and addresses in, the lines someone at the box reads out.
 */
import t from 'tap'
import { SCREEN_COLUMNS, reachableAddresses, renderScreen, type ScreenAddress } from '../../image/console/screen.ts'

const FINGERPRINT = 'SHA256 DC:19:6B:4F:FC:0C:FB:E1:C0:E9:BF:22:00:EB:47:E3:7E:35:79:F0:4C:78:9E:1F:37:9E:30:32:DA:49:64:6C'
const ADDRESSES: ScreenAddress[] = [
  { iface: 'lo', address: '127.0.0.1', family: 'IPv4', internal: true },
  { iface: 'enp0s2', address: '10.0.2.15', family: 'IPv4', internal: false },
  { iface: 'enp0s2', address: 'fe80::5054:ff:fe12:3456', family: 'IPv6', internal: false },
  { iface: 'enp0s2', address: 'fd00::15', family: 'IPv6', internal: false }
]
const STATUS = {
  state: 'running',
  name: 'tandem-a92f',
  peerId: '12D3KooWDusrD1tBqqScAo5w4AQV87DaMw5MbC5kr5AHMmB4mcE4',
  version: '0.1.0',
  web: { url: 'https://tandem-a92f:7443/', fingerprint: FINGERPRINT, setupCode: 'TAB7-MQX4-XCA7', passwordSet: false },
  pairing: { open: false, expiresAt: null },
  peers: 0,
  connectedPeers: 0
}

t.test('a new box: its URLs by address and name, the fingerprint and the one-time code', async t => {
  const lines = renderScreen({ status: STATUS, problem: null, addresses: ADDRESSES, hostname: 'tandem-a92f' })
  const text = lines.join('\n')
  t.match(lines[0], /^Tandem 0\.1\.0 - box "tandem-a92f"$/)
  t.ok(lines.includes('  https://10.0.2.15:7443/'), 'the IPv4 address')
  t.ok(lines.includes('  https://[fd00::15]:7443/'), 'a routable IPv6 address, bracketed')
  t.ok(lines.includes('  https://tandem-a92f:7443/'), 'the name')
  t.notMatch(text, /fe80::/, 'no link-local address: a browser cannot use it without its zone')
  t.notMatch(text, /127\.0\.0\.1/, 'no loopback address')
  t.match(text, /DC:19:6B:4F:FC:0C:FB:E1:C0:E9:BF:22:00:EB:47:E3/, 'the fingerprint, first half')
  t.match(text, /7E:35:79:F0:4C:78:9E:1F:37:9E:30:32:DA:49:64:6C/, 'the fingerprint, second half')
  t.match(text, /one-time code TAB7-MQX4-XCA7/)
  t.ok(lines.every(l => l.length <= SCREEN_COLUMNS), 'every line fits an 80-column screen')
})

t.test('once a password is set the code is gone; an open pairing window is said', async t => {
  const text = renderScreen({
    status: { ...STATUS, web: { ...STATUS.web, setupCode: null, passwordSet: true }, pairing: { open: true, expiresAt: '2026-12-07T23:00:00.000Z' }, peers: 1, connectedPeers: 1 },
    problem: null,
    addresses: ADDRESSES,
    hostname: 'tandem-a92f'
  }).join('\n')
  t.notMatch(text, /one-time code/)
  t.match(text, /Pairing is open until 2026-12-07T23:00:00\.000Z/)
  t.match(text, /Paired boxes: 1, 1 connected/)
})

t.test('a daemon that does not answer, and a box with no address', async t => {
  const lines = renderScreen({ status: null, problem: 'waiting for the daemon', addresses: ADDRESSES.slice(0, 1), hostname: 'tandem-a92f' })
  t.match(lines[0], /box "tandem-a92f"/, 'the host name stands in for the box name')
  t.ok(lines.includes('The Tandem service is not answering yet.'))
  t.ok(lines.includes('Addresses: none'))
})

t.test('a web page turned off says so', async t => {
  t.match(renderScreen({ status: { ...STATUS, web: null }, problem: null, addresses: ADDRESSES, hostname: 'x' }).join('\n'), /web page is off/)
})

t.test('reachable addresses leave out loopback and link-local', async t => {
  t.same(reachableAddresses(ADDRESSES).map(a => a.address), ['10.0.2.15', 'fd00::15'])
})
