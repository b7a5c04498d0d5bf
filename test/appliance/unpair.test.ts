/**
 * Unpairing on real libp2p nodes over loopback, admitted by the persisted
 * registry: once A unpairs B, A holds no connection to B, B's open stream
 * ends, B's new dials are cut off by the gater after the Noise handshake,
 * and B stays unpaired after A reloads its registry from disk.
 */
import t from 'tap'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { ConnectionGater, PeerId } from '@libp2p/interface'
import { createTandemNode, loadOrCreateIdentity, type TandemNode } from '../../p2p/node/index.ts'
import { admissionGater, pairedOnly } from '../../p2p/gater/index.ts'
import { PeerRegistry, registryPolicy, unpair } from '../../appliance/peers/index.ts'
import { tempDir } from '../helpers/fixtures.ts'
import { echo, loopbackAddress, tryProtocol } from '../helpers/boxes.ts'

const REPLICATION = '/tandem/test-replication/1'
/** Bounds every wait: a loopback event that has not come by then will not come. */
const TIMEOUT_WAIT_MS = 10_000

/** `p`, or 'timed out' after TIMEOUT_WAIT_MS: a bound on waiting, not a measurement. */
async function within<T> (p: Promise<T>): Promise<T | 'timed out'> {
  const signal = AbortSignal.timeout(TIMEOUT_WAIT_MS)
  return await Promise.race([p, new Promise<'timed out'>(resolve => { signal.addEventListener('abort', () => { resolve('timed out') }, { once: true }) })])
}

/** Resolves once `node` holds no connection to `peer`, re-checking on each closed connection. */
async function disconnected (node: TandemNode, peer: PeerId): Promise<void> {
  let check = (): void => {}
  await new Promise<void>(resolve => {
    check = () => { if (node.getConnections(peer).length === 0) resolve() }
    node.addEventListener('connection:close', check)
    check()
  }).finally(() => { node.removeEventListener('connection:close', check) })
}

/** A gater that records each inbound encrypted-connection decision (peer id -> denied). */
function recording (gater: ConnectionGater): { gater: ConnectionGater, decisions: Array<[string, boolean]> } {
  const decisions: Array<[string, boolean]> = []
  return {
    decisions,
    gater: {
      ...gater,
      denyInboundEncryptedConnection: async (peer, maConn) => {
        const denied = await gater.denyInboundEncryptedConnection!(peer, maConn)
        decisions.push([peer.toString(), denied])
        return denied
      }
    }
  }
}

interface Box { node: TandemNode, registry: PeerRegistry, file: string, decisions: Array<[string, boolean]> }

async function boxes (t: Parameters<typeof tempDir>[0]): Promise<[Box, Box]> {
  const dir = await tempDir(t)
  const out: Box[] = []
  for (const name of ['a', 'b']) {
    const file = join(dir, `${name}-peers.json`)
    const registry = await PeerRegistry.open(file)
    const { gater, decisions } = recording(admissionGater(registryPolicy(registry, () => false)))
    const node = await createTandemNode({ privateKey: await loadOrCreateIdentity(join(dir, `${name}.key`)), listen: ['/ip4/127.0.0.1/tcp/0'], gater })
    await node.start()
    await node.handle(REPLICATION, pairedOnly(registryPolicy(registry, () => false), async stream => { await echo(stream) }))
    out.push({ node, registry, file, decisions })
  }
  t.teardown(async () => { for (const b of out) await b.node.stop() })
  return [out[0]!, out[1]!]
}

/** Pairs the two boxes by writing each into the other's registry (the PIN handshake is tested in p2p). */
async function pair (a: Box, b: Box): Promise<void> {
  await a.registry.add({ peerId: b.node.peerId.toString(), name: 'b', role: 'replica', pairedAt: 1 })
  await b.registry.add({ peerId: a.node.peerId.toString(), name: 'a', role: 'primary', pairedAt: 1 })
}

t.test('after unpair the peer is disconnected, refused at the handshake, and stays unpaired on disk', async t => {
  const [a, b] = await boxes(t)
  t.not(await tryProtocol(b.node, a.node, REPLICATION, TIMEOUT_WAIT_MS), 'echoed', 'before pairing, B cannot open replication on A')
  await pair(a, b)
  t.equal(await tryProtocol(b.node, a.node, REPLICATION, TIMEOUT_WAIT_MS), 'echoed', 'paired, B opens replication on A')
  t.ok(a.node.getConnections(b.node.peerId).length > 0, 'A holds a connection to B')

  // a stream B keeps open across the unpair: what does B see?
  const open = await b.node.dialProtocol(loopbackAddress(a.node), REPLICATION, { signal: AbortSignal.timeout(TIMEOUT_WAIT_MS) })
  const ended = (async () => {
    try {
      for await (const _ of open) { /* A echoes nothing: B sends nothing */ }
      return 'ended'
    } catch (err) {
      return `threw ${(err as { code?: string, name?: string }).code ?? (err as Error).name}`
    }
  })()

  t.equal(await unpair(a.node, a.registry, b.node.peerId.toString()), true, 'B was paired')
  t.notOk(a.registry.isPaired(b.node.peerId.toString()), 'A no longer admits B')
  t.equal(a.node.getConnections(b.node.peerId).length, 0, 'A holds no connection to B once unpair resolves')
  const seen = await within(ended)
  t.comment(`B's open stream when A unpaired: ${seen}, status ${open.status}`)
  t.not(seen, 'timed out', "B's open stream ends")
  t.not(open.status, 'open', "B's open stream is over")
  t.not(await within(disconnected(b.node, a.node.peerId)), 'timed out', 'B sees the connection closed')

  const decided = a.decisions.length
  const refused = await tryProtocol(b.node, a.node, REPLICATION, TIMEOUT_WAIT_MS)
  t.comment(`B -> A after unpair: ${refused}`)
  t.not(refused, 'echoed', 'B cannot open replication on A')
  t.same(a.decisions.slice(decided), [[b.node.peerId.toString(), true]], "A's gater refused B after the Noise handshake")
  t.equal(a.node.getConnections(b.node.peerId).length, 0, 'A holds no connection to B')

  const reopened = await PeerRegistry.open(a.file)
  t.notOk(reopened.isPaired(b.node.peerId.toString()), 'B is absent after reloading A\'s registry from disk')
  t.ok((await PeerRegistry.open(b.file)).isPaired(a.node.peerId.toString()), 'unpairing is one-sided: B still lists A')
})

t.test('unpairing a peer that is not paired is false and changes nothing; a second unpair is false', async t => {
  const [a, b] = await boxes(t)
  await pair(a, b)
  const before = a.registry.list()
  const stranger = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  t.equal(await unpair(a.node, a.registry, stranger), false, 'a peer never paired')
  t.same(a.registry.list(), before)
  t.equal(await unpair(a.node, a.registry, b.node.peerId.toString()), true)
  t.equal(await unpair(a.node, a.registry, b.node.peerId.toString()), false, 'already unpaired')
  await t.rejects(unpair(a.node, a.registry, 'not-a-peer-id'), TypeError, 'a malformed id is a programmer mistake')
  t.same(a.registry.list(), [])
})
