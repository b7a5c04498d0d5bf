/**
 * Two daemons as separate processes on loopback, driven only through the
 * CLI: init both, pair with the PIN (a wrong one is refused with its code),
 * both lists show each other, the host logs the same confirmation code,
 * `pair status` shows the window (attempts left) and the last pairing with
 * that code on both boxes,
 * unpair with --yes, pair again with the invite.
 */
import t, { type Test } from 'tap'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { PairJoinResult, PairOpenResult, PairStatusInfo, PeerInfo, StatusInfo } from '../../../appliance/service/index.ts'
import { tempDir } from '../../helpers/fixtures.ts'
import { startDaemon, tandemAt, type RunningDaemon, tandemJsonAt } from '../../helpers/tandem-cli.ts'

const LOOPBACK = '/ip4/127.0.0.1/tcp/0'

async function box (t: Test, root: string, name: string): Promise<{ dir: string, daemon: RunningDaemon }> {
  const dir = join(root, name)
  const init = await tandemAt(dir, ['init', '--name', name, '--listen', LOOPBACK])
  t.equal(init.status, 0, `init ${name}`)
  const daemon = await startDaemon(dir)
  t.teardown(async () => { await daemon.stop() })
  return { dir, daemon }
}

const json = tandemJsonAt

t.test('two boxes pair through the CLI', async t => {
  const root = await tempDir(t)
  const a = await box(t, root, 'box-a')
  const b = await box(t, root, 'box-b')

  const statusA = await json<StatusInfo>(a.dir, ['status'])
  const statusB = await json<StatusInfo>(b.dir, ['status'])
  t.match(statusA, { state: 'running', name: 'box-a', role: 'both', dataDir: a.dir, listen: [LOOPBACK], api: join(a.dir, 'api.sock'), peers: 0, pairing: { open: false, expiresAt: null } })
  t.match(statusA.peerId, /^12D3KooW/)
  t.not(statusA.peerId, statusB.peerId)
  t.ok(statusA.addresses.length > 0 && statusA.addresses.every(addr => /^\/ip4\/127\.0\.0\.1\/tcp\/[1-9]\d*\/p2p\//.test(addr)), 'status shows the bound loopback addresses, ports resolved')
  t.equal((await stat(join(a.dir, 'api.sock'))).mode & 0o777, 0o600, 'api.sock is 0600')

  t.same(await json<PairStatusInfo>(a.dir, ['pair', 'status']), { window: null, last: null }, 'pair status: no window, no pairing yet')
  t.match((await tandemAt(a.dir, ['pair', 'status'])).stdout, /^window {4}no pairing window opened\nlast {6}no pairing made/)

  const open = await json<PairOpenResult>(a.dir, ['pair', 'open'])
  t.match(open.pin, /^\d{8}$/)
  t.match(open.invite, /^tandem-pair:1:/)
  t.ok(Date.parse(open.expiresAt) > Date.now())
  t.equal((await json<StatusInfo>(a.dir, ['status'])).pairing.open, true, 'status shows the window open')

  const wrongPin = open.pin === '00000000' ? '11111111' : '00000000'
  const wrong = await tandemAt(b.dir, ['pair', 'join', '--pin', wrongPin, '--addr', open.addresses[0]!])
  t.equal(wrong.status, 1, 'a wrong PIN fails')
  t.equal(wrong.code, 'P2P_PAIRING_FAILED')
  t.same(await json<PeerInfo[]>(b.dir, ['pair', 'list']), [], 'nothing was paired')
  t.match(await json<PairStatusInfo>(a.dir, ['pair', 'status']), { window: { mode: 'both', expiresAt: open.expiresAt, open: true, failedAttempts: 1, paired: null }, last: null })
  t.match((await tandemAt(a.dir, ['pair', 'status'])).stdout, `window    open (PIN or invite) until ${open.expiresAt}, 4 of 5 attempts left`, 'the text: open, attempts left')

  const joined = await json<PairJoinResult>(b.dir, ['pair', 'join', '--pin', open.pin!, '--addr', open.addresses[0]!])
  t.match(joined, { peer: { peerId: statusA.peerId, name: 'box-a', role: 'both' } })
  t.match(joined.confirmationCode, /^\d{6}$/)
  t.ok(a.daemon.stdout().includes(`"confirmationCode":"${joined.confirmationCode}"`), 'the host logs the same confirmation code')
  const hostStatus = await json<PairStatusInfo>(a.dir, ['pair', 'status'])
  t.match(hostStatus, { window: { open: false, paired: { side: 'host', name: 'box-b' } }, last: { side: 'host', name: 'box-b', peerId: statusB.peerId, confirmationCode: joined.confirmationCode } }, 'pair status on the host: the window was used, the same code')
  t.match(await json<PairStatusInfo>(b.dir, ['pair', 'status']), { window: null, last: { side: 'joiner', name: 'box-a', peerId: statusA.peerId, confirmationCode: joined.confirmationCode } }, 'and on the joiner')
  const hostText = (await tandemAt(a.dir, ['pair', 'status'])).stdout
  t.match(hostText, /^window {4}closed \(used: box-b joined; it was open until /, 'the text: the window closed, used')
  t.match(hostText, `last      box-b joined this box at ${hostStatus.last!.pairedAt}\npeer id   ${statusB.peerId}\nconfirmation code  ${joined.confirmationCode} `)

  const listA = await json<PeerInfo[]>(a.dir, ['pair', 'list'])
  const listB = await json<PeerInfo[]>(b.dir, ['pair', 'list'])
  t.same(listA.map(p => [p.peerId, p.name]), [[statusB.peerId, 'box-b']], 'A lists B')
  t.same(listB.map(p => [p.peerId, p.name]), [[statusA.peerId, 'box-a']], 'B lists A')
  t.equal((await json<StatusInfo>(a.dir, ['status'])).peers, 1)

  const text = await tandemAt(a.dir, ['pair', 'list'])
  t.match(text.stdout, statusB.peerId, 'the text list names the peer')

  const unconfirmed = await tandemAt(a.dir, ['pair', 'remove', statusB.peerId])
  t.equal(unconfirmed.status, 1)
  t.equal(unconfirmed.code, 'APP_CONFIRMATION_REQUIRED')
  t.equal((await json<PeerInfo[]>(a.dir, ['pair', 'list'])).length, 1, 'nothing removed without --yes')

  t.same(await json(a.dir, ['pair', 'remove', statusB.peerId, '--yes']), { peerId: statusB.peerId, removed: true })
  t.same(await json<PeerInfo[]>(a.dir, ['pair', 'list']), [], 'A no longer lists B')
  const again = await tandemAt(a.dir, ['pair', 'remove', statusB.peerId, '--yes'])
  t.equal(again.code, 'APP_PEER_NOT_FOUND')

  const closed = await tandemAt(b.dir, ['pair', 'join', '--pin', open.pin!, '--addr', open.addresses[0]!])
  t.equal(closed.status, 1, 'the used window is closed')
  t.match(closed.code, /^P2P_PAIRING_(CLOSED|FAILED)$/)

  const invite = await json<PairOpenResult>(a.dir, ['pair', 'open'])
  const byInvite = await json<PairJoinResult>(b.dir, ['pair', 'join', '--invite', invite.invite!])
  t.equal(byInvite.peer.peerId, statusA.peerId, 'pairs again with the invite')
  t.same((await json<PeerInfo[]>(a.dir, ['pair', 'list'])).map(p => p.peerId), [statusB.peerId])
})

t.test('pair join usage errors exit 2', async t => {
  const dir = join(await tempDir(t), 'x')
  for (const args of [['pair', 'join', '--pin', '12345678'], ['pair', 'join', '--invite', 'x', '--pin', '12345678', '--addr', '/ip4/127.0.0.1/tcp/1'], ['pair']]) {
    const r = await tandemAt(dir, args)
    t.equal(r.status, 2, args.join(' '))
    t.equal(r.code, 'APP_USAGE')
  }
})
