/**
 * image/console-block.ts: `tandem console`'s plain blocks read back from a
 * serial console. The blocks are made by the console's own screen function
 * (appliance/cli/console-screen.ts, drawn without colour as on a non-terminal
 * stdout) and given journald's console prefix, with kernel lines between them.
 */
import t from 'tap'
import type { PairStatusInfo, StatusInfo } from '../../appliance/service/index.ts'
import { consoleScreen, type ConsoleView } from '../../appliance/cli/console-screen.ts'
import { draw } from '../../appliance/cli/console.ts'
import { consoleBlocks } from '../../image/console-block.ts'
import { FINGERPRINT, STATUS as RUNNING } from '../helpers/status-info.ts'

const STATUS: StatusInfo = {
  ...RUNNING,
  name: 'tandem-9f3c',
  httpsApi: '0.0.0.0:7443',
  web: { ...RUNNING.web!, url: 'https://10.0.2.15:7443/' }
}
const CLOSED: PairStatusInfo = { window: null, last: null }
const OPEN: PairStatusInfo = {
  window: { mode: 'both', expiresAt: '2026-12-07T22:09:41.000Z', open: true, joining: false, failedAttempts: 0, paired: null, pin: '12345678', invite: 'tandem-pair:1:eyJ9' },
  last: null
}
const NOW = Date.parse('2026-12-07T22:00:00.000Z')
const ADDRESSES = [{ address: '10.0.2.15', family: 4 as const, iface: 'enp0s2' }]

function view (daemon: ConsoleView['daemon']): ConsoleView {
  return { daemon, addresses: ADDRESSES, now: NOW, refreshMs: 5000, screen: null }
}

/** A block as it reaches the serial console: each line through journald, a timestamp first. */
function onSerial (v: ConsoleView, pid = 345): string[] {
  return draw(consoleScreen(v), false).split('\n').map((l, i) => `[  ${60 + i}.123456] tandem-console[${pid}]: ${l}`)
}

const up = view({ status: STATUS, pairing: CLOSED, vms: { replication: [], replica: [] } })

t.test('a running box: name, web URL, the whole fingerprint, the one-time code', async t => {
  const blocks = consoleBlocks(['[    1.000000] Linux version 6.12', ...onSerial(up), 'Debian GNU/Linux 13 tandem-9f3c ttyS0'])
  t.same(blocks, [{ at: 1, daemon: 'up', name: 'tandem-9f3c', urls: ['https://10.0.2.15:7443/'], fingerprint: FINGERPRINT, setupCode: 'ABCD-EFGH-JKMN', pin: null }])
})

t.test('kernel lines between a block\'s lines are skipped', async t => {
  const lines = onSerial(up)
  lines.splice(3, 0, '[   63.000000] virtio_net virtio0 enp0s2: renamed from eth0', 'tandem-9f3c login: ')
  t.equal(consoleBlocks(lines)[0]?.fingerprint, FINGERPRINT)
})

t.test('a login prompt before a block\'s first line on the same serial line', async t => {
  const lines = onSerial(up)
  lines[0] = `tandem-9f3c login: ${lines[0]!}`
  t.equal(consoleBlocks(lines)[0]?.setupCode, 'ABCD-EFGH-JKMN')
})

t.test('an open pairing window: its PIN', async t => {
  const blocks = consoleBlocks(onSerial(view({ status: STATUS, pairing: OPEN, vms: { replication: [], replica: [] } })))
  t.equal(blocks[0]?.pin, '12345678')
})

t.test('the daemon down: a "down" block that still names the box from its data directory', async t => {
  const down = view({ code: 'APP_DAEMON_NOT_RUNNING', reason: 'no daemon answers on /var/lib/tandem/api.sock', offline: { ...STATUS, state: 'stopped' } })
  const blocks = consoleBlocks([...onSerial(down, 300), ...onSerial(up, 301)])
  t.same(blocks.map(b => [b.daemon, b.name]), [['down', 'tandem-9f3c'], ['up', 'tandem-9f3c']])
  const prompted = onSerial(down, 300)
  prompted[0] = `tandem-9f3c login: ${prompted[0]!}`
  t.same(consoleBlocks(prompted).map(b => b.daemon), ['down'], 'a login prompt before the first line: still one block, down')
  t.equal(blocks[1]?.setupCode, 'ABCD-EFGH-JKMN')
})

t.test('a block cut off by the end of the lines is left out; nothing known, nothing found', async t => {
  t.same(consoleBlocks(onSerial(up).slice(0, 4)), [])
  t.same(consoleBlocks(['', 'garbage ]: Tandem', '[  1.0] x']), [])
})
