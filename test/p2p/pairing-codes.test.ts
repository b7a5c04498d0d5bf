/**
 * Pairing failures carry pairing codes on real libp2p nodes over loopback:
 * a joiner that reaches a box with no open window gets P2P_PAIRING_CLOSED,
 * an address where nothing listens P2P_PAIRING_UNREACHABLE; the host logs
 * only codes it knows, whatever code a peer sends it.
 */
import t from 'tap'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createTandemNode, loadOrCreateIdentity, type TandemNode } from '../../p2p/node/index.ts'
import { admissionGater } from '../../p2p/gater/index.ts'
import { PairingHost, joinPairing, type PairedPeer } from '../../p2p/pairing/pairing-service.ts'
import { encodePairing, PAIRING_PROTOCOL } from '../../p2p/pairing/messages.ts'
import { PairingWindow } from '../../p2p/pairing/window.ts'
import { encodeFrame } from '../../p2p/wire/frame.ts'
import { tempDir } from '../helpers/fixtures.ts'

const me = { name: 'branch', role: 'primary' as const }
const addrOf = (n: TandemNode): Multiaddr => multiaddr(n.getMultiaddrs().find(m => m.toString().includes('/127.0.0.1/'))!.toString())
const codeOf = async (p: Promise<unknown>): Promise<string> => await p.then(() => 'ok', (err: unknown) => String((err as { code?: string }).code ?? (err as Error).name))

interface Host { node: TandemNode, host: PairingHost, peers: PairedPeer[], outcomes: string[], ended: () => Promise<string> }

async function hostBox (t: Parameters<typeof tempDir>[0], dir: string): Promise<Host> {
  const peers: PairedPeer[] = []
  const outcomes: string[] = []
  let waiters: Array<(o: string) => void> = []
  let host: PairingHost | undefined
  const node = await createTandemNode({
    privateKey: await loadOrCreateIdentity(join(dir, 'host.key')),
    listen: ['/ip4/127.0.0.1/tcp/0'],
    gater: admissionGater({ isPaired: p => peers.some(x => x.peerId === p.toString()), pairingWindowOpen: () => host?.window?.isOpen(Date.now()) === true })
  })
  host = new PairingHost({
    node,
    me: { name: 'head-office', role: 'replica' },
    store: { add: async p => { peers.push(p) } },
    onAttemptEnded: o => { outcomes.push(o); const w = waiters; waiters = []; for (const f of w) f(o) }
  })
  await node.start()
  await host.start()
  t.teardown(async () => { await node.stop() })
  return { node, host, peers, outcomes, ended: async () => await new Promise(resolve => { waiters.push(resolve) }) }
}

async function joinerNode (t: Parameters<typeof tempDir>[0], dir: string, name: string): Promise<TandemNode> {
  const node = await createTandemNode({ privateKey: await loadOrCreateIdentity(join(dir, `${name}.key`)), listen: ['/ip4/127.0.0.1/tcp/0'] })
  await node.start()
  t.teardown(async () => { await node.stop() })
  return node
}

t.test('joining a box with no open window is P2P_PAIRING_CLOSED', async t => {
  const dir = await tempDir(t)
  const h = await hostBox(t, dir)
  const joiner = await joinerNode(t, dir, 'joiner')
  const store = { add: async () => {} }
  t.equal(await codeOf(joinPairing(joiner, addrOf(h.node), { pin: '12345678' }, me, store)), 'P2P_PAIRING_CLOSED', 'no window was ever opened')
  const w = PairingWindow.open({ peerId: h.node.peerId.toString(), addresses: [], now: Date.now() })
  h.host.window = w
  w.cancel()
  t.equal(await codeOf(joinPairing(joiner, addrOf(h.node), { pin: w.pin }, me, store)), 'P2P_PAIRING_CLOSED', 'the window was cancelled')
  t.same(h.peers, [])
})

t.test('joining an address where nothing listens is P2P_PAIRING_UNREACHABLE', async t => {
  const dir = await tempDir(t)
  const joiner = await joinerNode(t, dir, 'joiner')
  // A port that was just free: bound, then released.
  const server = createServer()
  await new Promise<void>(resolve => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as { port: number }).port
  await new Promise(resolve => { server.close(resolve) })
  t.equal(await codeOf(joinPairing(joiner, multiaddr(`/ip4/127.0.0.1/tcp/${port}`), { pin: '12345678' }, me, { add: async () => {} })), 'P2P_PAIRING_UNREACHABLE')
})

t.test('the host logs only codes it knows', async t => {
  const dir = await tempDir(t)
  const h = await hostBox(t, dir)
  const joiner = await joinerNode(t, dir, 'joiner')
  // Each case: the code the joiner sends instead of pair1; what the host logs.
  const cases: Array<[string, string]> = [
    ['P2P_PAIRING_FAILED', 'P2P_PAIRING_FAILED'],
    ['P2P_YOU_HAVE_BEEN_HACKED', 'P2P_PAIRING_FAILED'],
    ['P2P_' + 'A'.repeat(40), 'P2P_PAIRING_FAILED']
  ]
  for (const [sent, logged] of cases) {
    h.host.window = PairingWindow.open({ peerId: h.node.peerId.toString(), addresses: [], now: Date.now() })
    const ended = h.ended()
    const stream = await joiner.dialProtocol(addrOf(h.node), PAIRING_PROTOCOL)
    stream.send(encodeFrame(encodePairing({ t: 'error', code: sent }), 1024))
    t.equal(await ended, logged, `the joiner sent ${sent}`)
    stream.abort(new Error('done'))
  }
})
