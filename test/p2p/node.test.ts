/**
 * The libp2p node on loopback: a persistent Ed25519 identity (0600, never
 * silently replaced), and two real nodes that reach each other over TCP with
 * Noise and yamux, each seeing the other's authenticated peer id.
 */
import t from 'tap'
import { chmod, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createTandemNode, loadOrCreateIdentity } from '../../p2p/node/index.ts'
import { tempDir } from '../helpers/fixtures.ts'

t.test('identity is created once, 0600, and reloaded unchanged', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'identity.key')
  const a = await loadOrCreateIdentity(path)
  t.equal((await stat(path)).mode & 0o777, 0o600)
  const b = await loadOrCreateIdentity(path)
  t.equal(peerIdFromPrivateKey(b).toString(), peerIdFromPrivateKey(a).toString())
  t.equal(a.type, 'Ed25519')
})

t.test('a damaged or exposed identity file is an error, never a new identity', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'identity.key')
  await loadOrCreateIdentity(path)
  await chmod(path, 0o644)
  await t.rejects(loadOrCreateIdentity(path), { code: 'P2P_IDENTITY_INVALID' }, 'readable by others')
  await writeFile(path, 'not a key', { mode: 0o600 })
  await chmod(path, 0o600)
  await t.rejects(loadOrCreateIdentity(path), { code: 'P2P_IDENTITY_DAMAGED' }, 'damaged')
})

t.test('two nodes on loopback: Noise-authenticated peer ids, a stream both ways', async t => {
  const dir = await tempDir(t)
  const [ka, kb] = await Promise.all([loadOrCreateIdentity(join(dir, 'a.key')), loadOrCreateIdentity(join(dir, 'b.key'))])
  const a = await createTandemNode({ privateKey: ka, listen: ['/ip4/127.0.0.1/tcp/0'] })
  const b = await createTandemNode({ privateKey: kb, listen: ['/ip4/127.0.0.1/tcp/0'] })
  await a.start()
  await b.start()
  t.teardown(async () => { await a.stop(); await b.stop() })
  let seenByB: string | undefined
  await b.handle('/tandem/test-echo/1', async (stream, connection) => {
    seenByB = connection.remotePeer.toString()
    for await (const chunk of stream) stream.send(chunk.subarray())
    await stream.close()
  })
  const addr = b.getMultiaddrs().find(m => m.toString().includes('/ip4/127.0.0.1/'))!
  t.ok(addr, 'b listens on 127.0.0.1')
  const stream = await a.dialProtocol(multiaddr(addr.toString()), '/tandem/test-echo/1')
  stream.send(new TextEncoder().encode('tandem'))
  await stream.close()
  const got: Uint8Array[] = []
  for await (const chunk of stream) got.push(chunk.subarray())
  t.equal(Buffer.concat(got).toString(), 'tandem', 'echoed')
  t.equal(seenByB, a.peerId.toString(), 'b sees a by its identity')
  t.equal(a.getConnections(b.peerId).length, 1, 'a holds one connection to b')
})
