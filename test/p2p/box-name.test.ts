/**
 * Box names: no control characters (C0, DEL, C1), no bidi formatting, no
 * line or paragraph separators, in every place a name is accepted: this
 * box's own name (pairing host and joiner), a peer's name from the wire
 * (pair1, pair2), and the peers file.
 */
import t from 'tap'
import { join } from 'node:path'
import { writeFile } from 'node:fs/promises'
import { pack } from 'msgpackr'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { isBoxName } from '../../p2p/pairing/box-name.ts'
import { decodePairing } from '../../p2p/pairing/messages.ts'
import { PairingHost, joinPairing } from '../../p2p/pairing/pairing-service.ts'
import { createTandemNode } from '../../p2p/node/index.ts'
import { PeerRegistry } from '../../appliance/peers/peer-registry.ts'
import { tempDir } from '../helpers/fixtures.ts'

// Each case: what the name holds, the name, whether it is accepted.
const names: Array<[string, string, boolean]> = [
  ['plain', 'branch-office 2', true],
  ['accents and CJK', 'Zürich 支店', true],
  ['64 characters', 'x'.repeat(64), true],
  ['empty', '', false],
  ['65 characters', 'x'.repeat(65), false],
  ['NUL', 'a\u0000b', false],
  ['line feed', 'a\nb', false],
  ['escape (C0)', 'a\u001b[2Jb', false],
  ['DEL U+007F', 'a\u007fb', false],
  ['C1 U+0085 (next line)', 'a\u0085b', false],
  ['C1 U+009B (CSI)', 'a\u009b2Jb', false],
  ['bidi override U+202E', 'a\u202eb', false],
  ['bidi embedding U+202A', 'a\u202ab', false],
  ['bidi isolate U+2066', 'a\u2066b', false],
  ['left-to-right mark U+200E', 'a\u200eb', false],
  ['arabic letter mark U+061C', 'a\u061cb', false],
  ['line separator U+2028', 'a\u2028b', false],
  ['paragraph separator U+2029', 'a\u2029b', false]
]

const sid = new Uint8Array(16)
const share = new Uint8Array(32).fill(1)
const confirm = new Uint8Array(32)

t.test('isBoxName and a peer\'s name from the wire', async t => {
  for (const [what, name, ok] of names) {
    t.equal(isBoxName(name), ok, `isBoxName: ${what}`)
    const pair1 = pack({ t: 'pair1', mode: 'pin', sid, share, name, role: 'primary' })
    const pair2 = pack({ t: 'pair2', share, name, role: 'replica', confirm })
    if (ok) {
      t.equal((decodePairing(pair1, 'pair1') as { name: string }).name, name, `pair1 carries: ${what}`)
      t.equal((decodePairing(pair2, 'pair2') as { name: string }).name, name, `pair2 carries: ${what}`)
    } else {
      t.throws(() => decodePairing(pair1, 'pair1'), { code: 'P2P_PAIRING_MALFORMED' }, `pair1 refuses: ${what}`)
      t.throws(() => decodePairing(pair2, 'pair2'), { code: 'P2P_PAIRING_MALFORMED' }, `pair2 refuses: ${what}`)
    }
  }
})

t.test('the peers file refuses such names, when read and when added', async t => {
  const dir = await tempDir(t)
  const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  for (const [what, name, ok] of names) {
    const file = join(dir, `peers-${names.findIndex(n => n[0] === what)}.json`)
    await writeFile(file, JSON.stringify({ version: 1, peers: [{ peerId, name, role: 'replica', pairedAt: 1 }] }), { mode: 0o600 })
    if (ok) t.equal((await PeerRegistry.open(file)).get(peerId)?.name, name, `read: ${what}`)
    else await t.rejects(PeerRegistry.open(file), { code: 'APP_PEERS_CORRUPT' }, `read: ${what}`)
    if (!ok) await t.rejects((await PeerRegistry.open(join(dir, 'empty.json'))).add({ peerId, name, role: 'replica', pairedAt: 1 }), TypeError, `add: ${what}`)
  }
})

t.test('this box\'s own name: the host and the joiner refuse to pair under it', async t => {
  const node = await createTandemNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'] })
  const store = { add: async () => {} }
  for (const [what, name, ok] of names) {
    if (ok) continue
    t.throws(() => new PairingHost({ node, me: { name, role: 'replica' }, store }), { code: 'P2P_BOX_NAME_INVALID' }, `host: ${what}`)
    // Refused before dialling: the address needs no listener.
    await t.rejects(joinPairing(node, multiaddr('/ip4/127.0.0.1/tcp/1'), { pin: '00000000' }, { name, role: 'primary' }, store), { code: 'P2P_BOX_NAME_INVALID' }, `joiner: ${what}`)
  }
})
