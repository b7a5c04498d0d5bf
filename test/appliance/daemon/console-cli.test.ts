/**
 * `tandem console` against a real daemon (a separate process on loopback,
 * with a web server on 127.0.0.1): `--once` shows the one-time code, the
 * URL and the certificate's fingerprint that `tandem status --json`
 * answers; after `tandem pair open`, the PIN opened (grouped) and a QR code
 * that decodes to the invite; with the daemon stopped, the plain message,
 * what the data directory still says, and APP_DAEMON_NOT_RUNNING with
 * status 1. The refreshing console (not a terminal: plain blocks) ends with
 * status 0 on SIGTERM.
 */
import t from 'tap'
import { once } from 'node:events'
import { join } from 'node:path'
import type { PairOpenResult, StatusInfo } from '../../../appliance/service/index.ts'
import { freePort, tempDir } from '../../helpers/fixtures.ts'
import { start, startDaemon, tandemAt, tandemJsonAt } from '../../helpers/tandem-cli.ts'
import { decodeTextQr } from '../../helpers/text-qr.ts'

/** The QR code's lines of a plain screen: after the blank line that follows the text. */
function qrOf (screen: string): string[] {
  const lines = screen.replace(/\n+$/, '').split('\n')
  return lines.slice(lines.indexOf('') + 1)
}

t.test('tandem console --once shows what tandem status says, then the pairing window, then that the daemon is down', async t => {
  const dir = join(await tempDir(t), 'box-a')
  const port = await freePort()
  t.equal((await tandemAt(dir, ['init', '--name', 'box-a', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', `127.0.0.1:${port}`])).status, 0, 'init')
  const daemon = await startDaemon(dir)
  t.teardown(async () => { await daemon.stop() })

  const status = await tandemJsonAt<StatusInfo>(dir, ['status'])
  const web = status.web!
  t.match(web.setupCode, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/)
  let run = await tandemAt(dir, ['console', '--once'])
  t.equal(run.status, 0, 'exit 0')
  const lines = run.stdout.split('\n')
  t.equal(lines[0], 'Tandem box  box-a (both)')
  t.ok(lines.includes(`password    not set: on the web page, enter the one-time code ${web.setupCode!}`), 'the one-time code tandem status shows')
  t.ok(lines.includes(`web page    https://127.0.0.1:${port}/`), 'the configured host\'s URL')
  const cert = lines.findIndex(l => l.startsWith('certificate '))
  t.equal(`SHA256 ${lines[cert]!.slice('certificate SHA256 '.length)}:${lines[cert + 1]!.trim()}`, web.fingerprint, 'the fingerprint tandem status shows, whole')
  t.ok(lines.includes('pairing     closed (open one on the web page\'s Pairing, or: tandem pair open)'))
  t.ok(lines.includes('VMs         none protected yet'))
  t.equal(run.stdout.includes('\x1b'), false, 'not a terminal: no terminal codes')

  const open = await tandemJsonAt<PairOpenResult>(dir, ['pair', 'open'])
  run = await tandemAt(dir, ['console', '--once'])
  t.equal(run.status, 0)
  t.ok(run.stdout.includes(`on the other box's pairing page: PIN ${open.pin!.slice(0, 4)} ${open.pin!.slice(4)} or the QR code`), 'the PIN opened, grouped')
  t.match(run.stdout, /pairing {5}open, closes in (10:00|9:[0-5]\d)\n/, 'its countdown')
  t.equal(decodeTextQr(qrOf(run.stdout)), open.invite, 'the QR code printed decodes to the invite')

  await daemon.stop()
  run = await tandemAt(dir, ['console', '--once'])
  t.equal(run.status, 1, 'the daemon stopped: exit 1')
  t.equal(run.code, 'APP_DAEMON_NOT_RUNNING')
  t.match(run.stdout, /^Tandem is starting or stopped \(APP_DAEMON_NOT_RUNNING\):\n {12}no daemon answers on /)
  t.ok(run.stdout.includes('Tandem box  box-a (both)'), 'what the data directory says: the box')
  t.ok(run.stdout.includes(`certificate SHA256 ${web.fingerprint!.slice(7, 7 + 47)}`), 'and its certificate')
})

t.test('the refreshing console prints a block and ends with status 0 on SIGTERM', async t => {
  const dir = join(await tempDir(t), 'box-b')
  t.equal((await tandemAt(dir, ['init', '--name', 'box-b', '--listen', '/ip4/127.0.0.1/tcp/0'])).status, 0, 'init')
  const screen = start(['console', '--data', dir])
  // Each chunk wakes the check; the helper keeps all of stdout, so none is missed between two.
  while (!screen.stdout().includes('updated     ')) await once(screen.child.stdout, 'data')
  const out = screen.stdout()
  t.match(out, /^Tandem is starting or stopped \(APP_DAEMON_NOT_RUNNING\):/, 'no daemon: said, and it keeps running')
  t.ok(out.includes('web page    none configured (config.json has no "api")'))
  screen.child.kill('SIGTERM')
  const done = await screen.done
  t.equal(done.status, 0, 'SIGTERM ends it cleanly')
  t.equal(done.stderr, '', 'with nothing on stderr')
})
