/**
 * Pairing on real libp2p nodes over loopback: by PIN and by QR; a wrong PIN
 * is rejected and counted, the 6th attempt refused; an expired window
 * refused; a relay in the middle (its own Noise sessions to both boxes)
 * fails to pair, and nothing is stored anywhere.
 */
import t from 'tap'
import { join } from 'node:path'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { createTandemNode, loadOrCreateIdentity, type TandemNode } from '../../p2p/node/index.ts'
import { admissionGater } from '../../p2p/gater/index.ts'
import { PairingHost, joinPairing, type PairedPeer, type PairingStore } from '../../p2p/pairing/pairing-service.ts'
import { PAIRING_PROTOCOL } from '../../p2p/pairing/messages.ts'
import { PairingWindow } from '../../p2p/pairing/window.ts'
import { tempDir } from '../helpers/fixtures.ts'

class MemoryStore implements PairingStore {
  readonly peers: PairedPeer[] = []
  async add (peer: PairedPeer): Promise<void> { this.peers.push(peer) }
  has (peer: PeerId): boolean { return this.peers.some(p => p.peerId === peer.toString()) }
}

interface Box { node: TandemNode, store: MemoryStore, host: PairingHost, codes: string[], attempts: Array<(code: string) => void> }

/** Resolves with the outcome code of the host's next finished attempt ('ok' on success). */
const nextAttempt = async (b: Box): Promise<string> => await new Promise(resolve => { b.attempts.push(resolve) })

async function boxes (t: Parameters<typeof tempDir>[0], names: string[]): Promise<Box[]> {
  const dir = await tempDir(t)
  const out: Box[] = []
  for (const name of names) {
    const store = new MemoryStore()
    const codes: string[] = []
    const attempts: Array<(code: string) => void> = []
    let host: PairingHost | undefined
    const node = await createTandemNode({
      privateKey: await loadOrCreateIdentity(join(dir, `${name}.key`)),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      gater: admissionGater({ isPaired: p => store.has(p), pairingWindowOpen: () => host?.window?.isOpen(Date.now()) === true })
    })
    host = new PairingHost({
      node,
      me: { name, role: 'replica' },
      store,
      onPaired: p => { codes.push(p.confirmationCode) },
      onAttemptEnded: code => { attempts.shift()?.(code) }
    })
    await node.start()
    await host.start()
    out.push({ node, store, host, codes, attempts })
  }
  t.teardown(async () => { for (const b of out) await b.node.stop() })
  return out
}

const addrOf = (n: TandemNode): Multiaddr => multiaddr(n.getMultiaddrs().find(m => m.toString().includes('/127.0.0.1/'))!.toString())
const me = { name: 'branch', role: 'primary' as const }
const openWindow = (b: Box, durationMs?: number): PairingWindow => {
  b.host.window = PairingWindow.open({ peerId: b.node.peerId.toString(), addresses: [addrOf(b.node).toString()], now: Date.now(), durationMs })
  return b.host.window
}
const codeOf = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'ok', (err: unknown) => String((err as { code?: string }).code))

t.test('pair by PIN: both boxes store each other and show the same code', async t => {
  const [host, joiner] = await boxes(t, ['head-office', 'branch'])
  const w = openWindow(host!)
  const ended = nextAttempt(host!)
  const result = await joinPairing(joiner!.node, addrOf(host!.node), { pin: w.pin }, me, joiner!.store)
  t.equal(await ended, 'ok', 'the host saw it succeed')
  t.equal(result.peerId, host!.node.peerId.toString())
  t.equal(result.peerName, 'head-office')
  t.match(result.confirmationCode, /^\d{6}$/)
  t.same(host!.codes, [result.confirmationCode], 'the host shows the same confirmation code')
  t.same(host!.store.peers.map(p => [p.peerId, p.name, p.role]), [[joiner!.node.peerId.toString(), 'branch', 'primary']])
  t.equal(joiner!.store.peers.length, 1)
  t.notOk(w.isOpen(Date.now()), 'the window closed after use')
})

t.test('wrong PINs are rejected and counted; the 6th attempt is refused', async t => {
  const [host, joiner] = await boxes(t, ['head-office', 'branch'])
  const w = openWindow(host!)
  const wrong = w.pin === '00000000' ? '00000001' : '00000000'
  for (let i = 1; i <= 5; i++) {
    const ended = nextAttempt(host!)
    t.equal(await codeOf(joinPairing(joiner!.node, addrOf(host!.node), { pin: wrong }, me, joiner!.store)), 'P2P_PAIRING_FAILED', `attempt ${i} fails`)
    t.equal(await ended, 'P2P_PAIRING_FAILED', 'the host saw it fail')
    t.equal(w.failedAttempts, i, 'and is counted')
  }
  t.equal(await codeOf(joinPairing(joiner!.node, addrOf(host!.node), { pin: w.pin }, me, joiner!.store)), 'P2P_PAIRING_CLOSED', 'the 6th is refused, even with the right PIN')
  t.same(host!.store.peers, [])
  t.same(joiner!.store.peers, [])
})

t.test('an expired window refuses', async t => {
  const [host, joiner] = await boxes(t, ['head-office', 'branch'])
  const w = openWindow(host!, 1)
  await new Promise(resolve => setTimeout(resolve, 5))
  // The gater shuts strangers out once the window is closed; either way nothing pairs.
  const code = await codeOf(joinPairing(joiner!.node, addrOf(host!.node), { pin: w.pin }, me, joiner!.store))
  t.not(code, 'ok', `refused (${code})`)
  t.same(host!.store.peers, [])
})

t.test('pair by QR; a QR for another box is refused', async t => {
  const [host, joiner, other] = await boxes(t, ['head-office', 'branch', 'other'])
  const w = openWindow(host!)
  const result = await joinPairing(joiner!.node, addrOf(host!.node), { invite: w.invite }, me, joiner!.store)
  t.equal(result.peerId, host!.node.peerId.toString())
  const w2 = openWindow(host!)
  t.equal(await codeOf(joinPairing(other!.node, addrOf(joiner!.node), { invite: w2.invite }, me, other!.store)), 'P2P_PAIRING_FAILED', 'the address answers with another peer id')
})

t.test('a window that accepts one kind of secret refuses the other, as a failed attempt', async t => {
  const [host, joiner] = await boxes(t, ['head-office', 'branch'])
  const addresses = [addrOf(host!.node).toString()]
  const qrOnly = PairingWindow.open({ peerId: host!.node.peerId.toString(), addresses, now: Date.now(), accepts: 'qr' })
  host!.host.window = qrOnly
  let ended = nextAttempt(host!)
  t.equal(await codeOf(joinPairing(joiner!.node, addrOf(host!.node), { pin: qrOnly.pin }, me, joiner!.store)), 'P2P_PAIRING_FAILED', 'even the right PIN is refused')
  t.equal(await ended, 'P2P_PAIRING_FAILED')
  t.equal(qrOnly.failedAttempts, 1, 'and counted')
  t.equal((await joinPairing(joiner!.node, addrOf(host!.node), { invite: qrOnly.invite }, me, joiner!.store)).peerId, host!.node.peerId.toString(), 'the invite pairs')

  const pinOnly = PairingWindow.open({ peerId: host!.node.peerId.toString(), addresses, now: Date.now(), accepts: 'pin' })
  host!.host.window = pinOnly
  ended = nextAttempt(host!)
  t.equal(await codeOf(joinPairing(joiner!.node, addrOf(host!.node), { invite: pinOnly.invite }, me, joiner!.store)), 'P2P_PAIRING_FAILED', 'the invite is refused')
  t.equal(await ended, 'P2P_PAIRING_FAILED')
  t.ok(pinOnly.accepts('pin'))
  t.notOk(pinOnly.accepts('qr'))
})

t.test('a relay in the middle with its own Noise sessions fails to pair', async t => {
  const [host, joiner, relay] = await boxes(t, ['head-office', 'branch', 'mallory'])
  const w = openWindow(host!)
  openWindow(relay!) // mallory's own gater admits the branch
  const hostDone = nextAttempt(host!)
  await relay!.host.stop()
  // Mallory accepts the branch's pairing stream and relays it, byte for byte, to the head office.
  await relay!.node.handle(PAIRING_PROTOCOL, async inbound => {
    const outbound = await relay!.node.dialProtocol(addrOf(host!.node), PAIRING_PROTOCOL)
    const pipe = async (from: typeof inbound, to: typeof inbound): Promise<void> => {
      try { for await (const chunk of from) to.send(chunk.subarray()); await to.close() } catch { to.abort(new Error('relay ended')) }
    }
    await Promise.all([pipe(inbound, outbound), pipe(outbound, inbound)])
  })
  const code = await codeOf(joinPairing(joiner!.node, addrOf(relay!.node), { pin: w.pin }, me, joiner!.store))
  t.equal(code, 'P2P_PAIRING_FAILED', 'the joiner detects it')
  await hostDone
  t.equal(w.failedAttempts, 1, 'the host counts it as a failed attempt')
  t.same(host!.store.peers, [], 'the host stored nobody')
  t.same(joiner!.store.peers, [], 'the joiner stored nobody')
})
