/**
 * Admission on real libp2p nodes over loopback: a stranger (valid Noise, not
 * paired) is cut off at the handshake; during a pairing window it gets in but
 * can open nothing but the pairing protocol; a paired peer opens anything.
 */
import t from 'tap'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { createTandemNode, loadOrCreateIdentity, type TandemNode } from '../../p2p/node/index.ts'
import { admissionGater, pairedOnly, type AdmissionPolicy } from '../../p2p/gater/index.ts'
import { tempDir } from '../helpers/fixtures.ts'

const PAIRING = '/tandem/test-pairing/1'
const REPLICATION = '/tandem/test-replication/1'

class TestPolicy implements AdmissionPolicy {
  readonly paired = new Set<string>()
  window = false
  isPaired (peer: PeerId): boolean { return this.paired.has(peer.toString()) }
  pairingWindowOpen (): boolean { return this.window }
}

async function echo (stream: Parameters<Parameters<TandemNode['handle']>[1]>[0]): Promise<void> {
  for await (const chunk of stream) stream.send(chunk.subarray())
  await stream.close()
}

/** Opens `protocol` on `to` from `from`, sends one byte; resolves with what came back or the error's code/name. */
async function tryProtocol (from: TandemNode, to: TandemNode, protocol: string): Promise<string> {
  try {
    const addr = to.getMultiaddrs().find(m => m.toString().includes('/127.0.0.1/'))!
    const stream = await from.dialProtocol(multiaddr(addr.toString()), protocol, { signal: AbortSignal.timeout(5000) })
    stream.send(Uint8Array.from([42]))
    await stream.close()
    const got: number[] = []
    for await (const chunk of stream) got.push(...chunk.subarray())
    return got.length === 1 && got[0] === 42 ? 'echoed' : `got ${got.length} bytes`
  } catch (err) {
    return (err as { code?: string, name?: string }).code ?? (err as Error).name
  }
}

t.test('strangers, pairing windows and paired peers', async t => {
  const dir = await tempDir(t)
  const policy = new TestPolicy()
  const keys = await Promise.all(['box', 'partner', 'stranger'].map(async n => await loadOrCreateIdentity(join(dir, `${n}.key`))))
  const box = await createTandemNode({ privateKey: keys[0]!, listen: ['/ip4/127.0.0.1/tcp/0'], gater: admissionGater(policy) })
  const partner = await createTandemNode({ privateKey: keys[1]!, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const stranger = await createTandemNode({ privateKey: keys[2]!, listen: ['/ip4/127.0.0.1/tcp/0'] })
  for (const n of [box, partner, stranger]) await n.start()
  t.teardown(async () => { for (const n of [box, partner, stranger]) await n.stop() })
  await box.handle(PAIRING, echo)
  await box.handle(REPLICATION, pairedOnly(policy, echo))
  policy.paired.add(partner.peerId.toString())

  const refused = await tryProtocol(stranger, box, REPLICATION)
  t.comment(`stranger -> replication: ${refused}`)
  t.not(refused, 'echoed', 'a stranger cannot open replication')
  t.not(await tryProtocol(stranger, box, PAIRING), 'echoed', 'nor pairing while no window is open')
  t.equal(box.getConnections(stranger.peerId).length, 0, 'the stranger holds no connection: cut off at the handshake')

  t.equal(await tryProtocol(partner, box, REPLICATION), 'echoed', 'a paired peer opens replication')

  policy.window = true
  t.equal(await tryProtocol(stranger, box, PAIRING), 'echoed', 'during a window an unknown peer reaches pairing')
  const inWindow = await tryProtocol(stranger, box, REPLICATION)
  t.comment(`stranger in a window -> replication: ${inWindow}`)
  t.not(inWindow, 'echoed', 'but still not replication')
  policy.window = false
})
