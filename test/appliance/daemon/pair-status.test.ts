/**
 * pairStatus() with two real Appliances in-process on loopback: before any
 * window, nulls; the opened window is reported open with the expiry
 * pairOpen answered; once the other box has joined with the PIN, both
 * boxes hold the same confirmation code and each names the other (the
 * host's window closed by the pairing it ended with); a failed attempt is
 * counted on the window and pairs nothing.
 */
import t, { type Test } from 'tap'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { Appliance, initDataDir } from '../../../appliance/daemon/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'

/** A started box, and a wait for its next log line with message `msg`. */
async function box (t: Test, root: string, name: string): Promise<{ app: Appliance, logged: (msg: string) => Promise<void> }> {
  const dir = join(root, name)
  await initDataDir(dir, { name, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const log = new PassThrough()
  const waiting: Array<{ msg: string, resolve: () => void }> = []
  log.setEncoding('utf8').on('data', (s: string) => {
    for (const line of s.split('\n')) {
      if (line === '') continue
      const msg = (JSON.parse(line) as { msg?: string }).msg
      for (const w of waiting.filter(w => w.msg === msg)) { waiting.splice(waiting.indexOf(w), 1); w.resolve() }
    }
  })
  const app = await Appliance.start({ dataDir: dir, log })
  t.teardown(async () => { await app.stop() })
  return { app, logged: async msg => { await new Promise<void>(resolve => { waiting.push({ msg, resolve }) }) } }
}

t.test('both boxes show the same confirmation code and each other\'s name', async t => {
  const root = await tempDir(t)
  const { app: a, logged } = await box(t, root, 'box-a')
  const { app: b } = await box(t, root, 'box-b')
  t.same(await a.pairStatus(), { window: null, last: null }, 'no window opened yet')

  const open = await a.pairOpen()
  const opened = await a.pairStatus()
  t.same(opened.window, { mode: 'both', expiresAt: open.expiresAt, open: true, joining: false, failedAttempts: 0, paired: null, pin: open.pin, invite: open.invite }, 'the window just opened, with the PIN and invite pairOpen answered')
  t.equal(opened.last, null)

  const wrong = open.pin === '00000000' ? '00000001' : '00000000'
  // The host ends its side of the attempt after the joiner has its answer: wait for its log line.
  const ended = logged('pairing attempt ended')
  await t.rejects(b.pairJoin({ pin: wrong, addr: open.addresses[0]! }), { code: 'P2P_PAIRING_FAILED' }, 'a wrong PIN')
  await ended
  t.match((await a.pairStatus()).window, { open: true, joining: false, failedAttempts: 1, paired: null }, 'the failed attempt is counted; nothing paired')
  t.same(await b.pairStatus(), { window: null, last: null }, 'the joiner made no pairing')

  const paired = logged('paired: a box joined; compare the confirmation code with the one it shows')
  const joined = await b.pairJoin({ pin: open.pin!, addr: open.addresses[0]! })
  await paired
  const host = await a.pairStatus()
  const aId = (await a.status()).peerId
  const bId = (await b.status()).peerId
  t.match(host.window, { expiresAt: open.expiresAt, open: false, joining: false, failedAttempts: 1, pin: null, invite: null }, 'the window closed by its pairing; its PIN and invite are no longer shown')
  t.match(host.window?.paired, { side: 'host', peerId: bId, name: 'box-b', confirmationCode: joined.confirmationCode }, 'the host names the joiner, with the code the joiner shows')
  t.same(host.last, host.window?.paired, 'and it is the last pairing')
  t.match(joined.confirmationCode, /^\d{6}$/)
  t.match((await b.pairStatus()).last, { side: 'joiner', peerId: aId, name: 'box-a', confirmationCode: joined.confirmationCode }, 'the joiner names the host, with the same code')
})
