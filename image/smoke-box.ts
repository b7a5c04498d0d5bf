/**
 * The box's own checks in `npm run image:smoke` (image/smoke.ts boots the
 * guest and passes in its tools): the firewall (the ruleset loaded, a port
 * it does not open gets no connection through a forward that works for the
 * web port) and a reboot that keeps the identity (same peer id, same
 * certificate, first boot not run again). Each check reports through
 * `check` and never throws.
 */
import { connect } from 'node:net'
import { message } from './checks.ts'
import { consoleBlocks, type ConsoleBlock } from './console-block.ts'

/** The guest port the firewall must not open: a listener is started there for the check. */
export const CLOSED_PORT = 7444
/** The ports /etc/nftables.conf opens (the web page, replication: tandem-firstboot.service). */
export const OPEN_PORTS = [7443, 7450]
/** How long the check's listener runs in the guest (Node starts in seconds under TCG). */
const LISTENER_LIFE_MS = 60_000
/** How long the listener may take to listen (/proc/net/tcp polled meanwhile). */
const TIMEOUT_LISTENING_MS = 45_000
/** How long a connection through the closed port's forward is given to say anything. */
const TIMEOUT_CLOSED_PORT_MS = 10_000
/** From the reboot command to the console's block from the daemon of the next boot. */
const TIMEOUT_REBOOT_MS = 15 * 60_000

export interface BoxSmokeTools {
  check: (name: string, ok: boolean, detail?: string) => boolean
  /** Runs a command in the guest to its end (QEMU guest agent). */
  exec: (path: string, args: string[]) => Promise<{ status: number, out: string }>
  /** Starts a command in the guest without waiting; its guest pid. */
  start: (path: string, args: string[]) => Promise<number>
  /** A started command's end, once it has exited. */
  ended: (pid: number) => Promise<{ status: number, out: string }>
  /** GET / on the web port's forward: status and the certificate's SHA-256 fingerprint (AB:CD:...). */
  https: () => Promise<{ status: number, fingerprint: string }>
  /** The host port (127.0.0.1) forwarded to the guest's CLOSED_PORT. */
  closedPortForward: number
  /** The serial console's lines so far (grows while the guest runs). */
  serial: string[]
  delay: (ms: number) => Promise<void>
}


/** The ruleset is loaded and drops what it does not name; a listener on another port gets nothing through its forward. */
export async function checkFirewall (tools: BoxSmokeTools): Promise<void> {
  const { check } = tools
  try {
    const rules = await tools.exec('/usr/sbin/nft', ['list', 'ruleset'])
    const chain = (name: string): string => rules.out.split('chain ').find(c => c.startsWith(`${name} {`)) ?? ''
    const input = chain('input')
    check('nftables: the ruleset is loaded, input and forward policy drop, only the web and replication ports open',
      rules.status === 0 && /policy drop;/.test(input) && input.includes(`tcp dport { ${OPEN_PORTS.join(', ')} } accept`) && /policy drop;/.test(chain('forward')),
      input.split('\n').filter(l => /policy|dport/.test(l)).map(l => l.trim()).join(' / ') || rules.out.slice(0, 200))
  } catch (err) {
    check('nftables: the ruleset is loaded', false, message(err))
  }
  try {
    const script = `const s = require('node:net').createServer(c => { console.log('connection from ' + c.remoteAddress); c.end('open\\n') }); s.listen(${CLOSED_PORT}, '0.0.0.0', () => console.log('listening')); setTimeout(() => process.exit(0), ${LISTENER_LIFE_MS})`
    const pid = await tools.start('/usr/local/bin/node', ['-e', script])
    const listening = await listeningWithin(tools, CLOSED_PORT, TIMEOUT_LISTENING_MS)
    const answer = listening ? await firstBytes(tools.closedPortForward, TIMEOUT_CLOSED_PORT_MS) : 'not tried'
    const listener = await tools.ended(pid)
    const reached = /connection from (?!127\.)/.test(listener.out)
    check(`nftables: a listener on port ${CLOSED_PORT} gets no connection through its forward`,
      listening && answer === '' && !reached,
      `listener ${listening ? 'listening' : 'never listened'}, the forward read ${JSON.stringify(answer)}, the listener said ${JSON.stringify(listener.out.trim())}`)
  } catch (err) {
    check(`nftables: a listener on port ${CLOSED_PORT} gets no connection through its forward`, false, message(err))
  }
}

/** Whether something listens on TCP `port` in the guest (its /proc/net/tcp, state 0A), polled until `ms`. */
async function listeningWithin (tools: BoxSmokeTools, port: number, ms: number): Promise<boolean> {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`
  const until = Date.now() + ms
  while (Date.now() < until) {
    const tcp = await tools.exec('/bin/cat', ['/proc/net/tcp'])
    // Rows: sl, local address (HEXIP:HEXPORT), remote address, state (0A: LISTEN), ...
    if (tcp.out.split('\n').some(l => { const f = l.trim().split(/\s+/); return (f[1] ?? '').endsWith(hex) && f[3] === '0A' })) return true
    await tools.delay(2000)
  }
  return false
}

/** What a TCP connection to 127.0.0.1:`port` receives within `ms` ('' when nothing: QEMU accepts the host side and then gets no answer from the guest). */
function firstBytes (port: number, ms: number): Promise<string> {
  return new Promise(resolve => {
    let got = ''
    const socket = connect(port, '127.0.0.1')
    const done = (): void => { clearTimeout(timer); socket.destroy(); resolve(got) }
    const timer = setTimeout(done, ms)
    socket.on('data', (chunk: Buffer) => { got += chunk.toString('utf8') })
    socket.on('close', done)
    socket.on('error', done)
  })
}

/**
 * Reboots the guest (systemctl reboot) and checks that the box is the same
 * one: the console's next block after the kernel's banner, the peer id of
 * `tandem status --json`, the certificate served over HTTPS, the one-time
 * code, tandem-firstboot.service skipped (its condition: no
 * config.json), and tandem-hostname.service naming the host from it.
 */
export async function checkReboot (tools: BoxSmokeTools, before: { peerId: string, fingerprint: string, setupCode: string | null }): Promise<void> {
  const { check } = tools
  const mark = tools.serial.length
  const started = Date.now()
  let block: ConsoleBlock | undefined
  try {
    await tools.start('/usr/bin/systemctl', ['reboot'])
    block = await nextBootBlock(tools, mark, started + TIMEOUT_REBOOT_MS)
    check('after a reboot the console shows the box again', block !== undefined, `${((Date.now() - started) / 1000).toFixed(0)} s from the reboot command`)
  } catch (err) {
    check('after a reboot the console shows the box again', false, message(err))
  }
  if (block === undefined) return
  check('after a reboot: the same certificate fingerprint and one-time code on the console', block.fingerprint === before.fingerprint && block.setupCode === before.setupCode, `${block.fingerprint}, code ${block.setupCode}`)
  try {
    const status = await tools.exec('/usr/sbin/runuser', ['-u', 'tandem', '--', '/usr/local/bin/tandem', 'status', '--json'])
    const peerId = (JSON.parse(status.out) as { peerId?: string }).peerId
    check('after a reboot: the same peer id (tandem status --json)', peerId === before.peerId, `${peerId}`)
  } catch (err) {
    check('after a reboot: the same peer id (tandem status --json)', false, message(err))
  }
  try {
    const res = await tools.https()
    check('after a reboot: the same certificate over HTTPS', res.status === 200 && `SHA256 ${res.fingerprint}` === before.fingerprint, res.fingerprint)
  } catch (err) {
    check('after a reboot: the same certificate over HTTPS', false, message(err))
  }
  try {
    const firstboot = await tools.exec('/usr/bin/systemctl', ['show', '--property=ConditionResult,ExecMainStartTimestampMonotonic', 'tandem-firstboot.service'])
    check('after a reboot: first boot did not run again', /ConditionResult=no/.test(firstboot.out) && /ExecMainStartTimestampMonotonic=0\b/.test(firstboot.out), firstboot.out.trim().replace(/\n/g, ', '))
  } catch (err) {
    check('after a reboot: first boot did not run again', false, message(err))
  }
  try {
    // An upgrade's new root has /etc/hostname `tandem`: tandem-hostname.service names the host from config.json at every boot.
    const unit = await tools.exec('/usr/bin/systemctl', ['show', '--property=ConditionResult,Result', 'tandem-hostname.service'])
    const host = (await tools.exec('/bin/cat', ['/proc/sys/kernel/hostname'])).out.trim()
    check('after a reboot: tandem-hostname.service ran and the host name is the box\'s name', /ConditionResult=yes/.test(unit.out) && /Result=success/.test(unit.out) && host === block.name,
      `${host}, ${unit.out.trim().replace(/\n/g, ', ')}`)
  } catch (err) {
    check('after a reboot: tandem-hostname.service ran and the host name is the box\'s name', false, message(err))
  }
}

/** The first block from a running daemon after the kernel's banner that follows `mark`. */
async function nextBootBlock (tools: BoxSmokeTools, mark: number, until: number): Promise<ConsoleBlock | undefined> {
  while (Date.now() < until) {
    const lines = tools.serial.slice(mark)
    const banner = lines.findIndex(l => /Linux version \d/.test(l))
    if (banner >= 0) {
      const block = consoleBlocks(lines.slice(banner)).find(b => b.daemon === 'up')
      if (block !== undefined) return block
    }
    await tools.delay(2000)
  }
  return undefined
}
