/**
 * The persisted pairing store on real files: changes survive a reopen, the
 * file is 0600, a damaged file is APP_PEERS_CORRUPT and left as it was,
 * concurrent changes all land, a failed write changes nothing.
 */
import t from 'tap'
import { chmod, mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { PeerRegistry } from '../../appliance/peers/index.ts'
import type { PairedPeer } from '../../p2p/pairing/pairing-service.ts'
import { tempDir } from '../helpers/fixtures.ts'

const newPeerId = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

async function peers (n: number): Promise<PairedPeer[]> {
  return await Promise.all(Array.from({ length: n }, async (_, i) => ({ peerId: await newPeerId(), name: `box-${i}`, role: i % 2 === 0 ? 'replica' as const : 'primary' as const, pairedAt: 1_700_000_000_000 + i })))
}

t.test('add, get, list and remove survive a reopen', async t => {
  const file = join(await tempDir(t), 'peers.json')
  const [a, b, c] = await peers(3)
  const reg = await PeerRegistry.open(file)
  t.same(reg.list(), [], 'a missing file is an empty registry')
  await reg.add(a!)
  await reg.add(b!)
  await reg.add(c!)
  t.ok(reg.isPaired(b!.peerId))
  t.same(reg.get(b!.peerId), b)
  t.equal(await reg.remove(b!.peerId), true)
  t.notOk(reg.isPaired(b!.peerId))
  t.equal(reg.get(b!.peerId), undefined)

  const again = await PeerRegistry.open(file)
  t.same(again.list(), [a, c], 'the same peers, in pairing order')
  t.ok(again.isPaired(a!.peerId))
  t.notOk(again.isPaired(b!.peerId))
  const doc = JSON.parse(await readFile(file, 'utf8')) as { version: number, peers: unknown[] }
  t.equal(doc.version, 1)
  t.equal(doc.peers.length, 2)
})

t.test('add replaces an entry with the same peer id, in place', async t => {
  const file = join(await tempDir(t), 'peers.json')
  const [a, b] = await peers(2)
  const reg = await PeerRegistry.open(file)
  await reg.add(a!)
  await reg.add(b!)
  const renamed = { ...a!, name: 'renamed', role: 'both' as const }
  await reg.add(renamed)
  t.same((await PeerRegistry.open(file)).list(), [renamed, b])
})

t.test('removing a peer that is not paired is false and writes nothing', async t => {
  const dir = await tempDir(t)
  const reg = await PeerRegistry.open(join(dir, 'peers.json'))
  t.equal(await reg.remove(await newPeerId()), false)
  t.same(await readdir(dir), [], 'no file was created')
})

t.test('the file is mode 0600, also when it replaces a more open one', async t => {
  const file = join(await tempDir(t), 'peers.json')
  const [a, b] = await peers(2)
  await (await PeerRegistry.open(file)).add(a!)
  t.equal((await stat(file)).mode & 0o777, 0o600)
  await chmod(file, 0o644)
  await (await PeerRegistry.open(file)).add(b!)
  t.equal((await stat(file)).mode & 0o777, 0o600)
})

t.test('returned peers are copies: changing them changes nothing stored', async t => {
  const reg = await PeerRegistry.open(join(await tempDir(t), 'peers.json'))
  const [a] = await peers(1)
  await reg.add(a!)
  reg.list()[0]!.name = 'changed'
  reg.get(a!.peerId)!.name = 'changed'
  t.equal(reg.get(a!.peerId)!.name, 'box-0')
})

t.test('a damaged file is APP_PEERS_CORRUPT and is left as it was', async t => {
  const [a] = await peers(1)
  const good = { peerId: a!.peerId, name: 'box', role: 'replica', pairedAt: 1 }
  const doc = (p: unknown): string => JSON.stringify({ version: 1, peers: [p] })
  const cases: Array<[string, string | Uint8Array]> = [
    ['empty file', ''],
    ['bad JSON', '{"version": 1, "peers": ['],
    ['not UTF-8', Uint8Array.from([0x7b, 0xff, 0x7d])],
    ['not an object', '[]'],
    ['wrong version', JSON.stringify({ version: 2, peers: [] })],
    ['no version', JSON.stringify({ peers: [] })],
    ['unknown top-level field', JSON.stringify({ version: 1, peers: [], extra: 1 })],
    ['peers not an array', JSON.stringify({ version: 1, peers: {} })],
    ['peer not an object', doc('x')],
    ['bad peer id', doc({ ...good, peerId: 'not-a-peer-id' })],
    ['peer id not in canonical form', doc({ ...good, peerId: a!.peerId.slice(0, -1) })],
    ['peer id as a number', doc({ ...good, peerId: 12 })],
    ['empty name', doc({ ...good, name: '' })],
    ['name too long', doc({ ...good, name: 'x'.repeat(65) })],
    ['control character in name', doc({ ...good, name: 'a\nb' })],
    ['unknown role', doc({ ...good, role: 'witness' })],
    ['pairedAt a string', doc({ ...good, pairedAt: '1' })],
    ['pairedAt negative', doc({ ...good, pairedAt: -1 })],
    ['missing field', doc({ peerId: good.peerId, name: 'box', role: 'replica' })],
    ['unknown peer field', doc({ ...good, secret: 'x' })],
    ['same peer twice', JSON.stringify({ version: 1, peers: [good, good] })]
  ]
  for (const [why, content] of cases) {
    const dir = await tempDir(t)
    const file = join(dir, 'peers.json')
    await writeFile(file, content, { mode: 0o600 })
    const before = await readFile(file)
    await t.rejects(PeerRegistry.open(file), { code: 'APP_PEERS_CORRUPT' }, why)
    t.same(await readFile(file), before, `${why}: the file is unchanged`)
    t.same(await readdir(dir), ['peers.json'], `${why}: nothing else written`)
  }
  const valid = join(await tempDir(t), 'peers.json')
  await writeFile(valid, doc(good))
  t.same((await PeerRegistry.open(valid)).list(), [good], 'the same document with the good entry loads')
})

t.test('a file larger than MAX_PEERS_FILE_BYTES is APP_PEERS_CORRUPT', async t => {
  const file = join(await tempDir(t), 'peers.json')
  await writeFile(file, Buffer.alloc(1024 * 1024 + 1, 0x20))
  await t.rejects(PeerRegistry.open(file), { code: 'APP_PEERS_CORRUPT' })
})

t.test('concurrent adds and removes all persist', async t => {
  const file = join(await tempDir(t), 'peers.json')
  const all = await peers(24)
  const reg = await PeerRegistry.open(file)
  await Promise.all(all.slice(0, 4).map(async p => { await reg.add(p) }))
  const results = await Promise.all([
    ...all.slice(4).map(async p => { await reg.add(p); return true }),
    ...all.slice(0, 4).map(async p => await reg.remove(p.peerId))
  ])
  t.ok(results.every(r => r), 'every change succeeded')
  const expected = all.slice(4).map(p => p.peerId).sort()
  t.same(reg.list().map(p => p.peerId).sort(), expected, 'in memory')
  t.same((await PeerRegistry.open(file)).list().map(p => p.peerId).sort(), expected, 'on disk')
})

t.test('a failed write changes nothing and does not block later changes', async t => {
  const dir = await tempDir(t)
  const file = join(dir, 'peers.json')
  const [a, b] = await peers(2)
  const reg = await PeerRegistry.open(file)
  await reg.add(a!)
  const before = await readFile(file)
  await mkdir(`${file}.tmp`)
  await t.rejects(reg.add(b!), { code: 'EISDIR' }, 'the temp file cannot be written')
  await t.rejects(reg.remove(a!.peerId), { code: 'EISDIR' })
  t.notOk(reg.isPaired(b!.peerId), 'the failed add is not visible')
  t.ok(reg.isPaired(a!.peerId), 'the failed remove is not applied')
  t.same(await readFile(file), before, 'the file is unchanged')
  await rmdir(`${file}.tmp`)
  await reg.add(b!)
  t.same((await PeerRegistry.open(file)).list(), [a, b], 'the next change is written')
  t.same((await readdir(dir)).sort(), ['peers.json'], 'no temp file is left')
})

t.test('adding a peer with invalid fields is a TypeError and writes nothing', async t => {
  const dir = await tempDir(t)
  const reg = await PeerRegistry.open(join(dir, 'peers.json'))
  const [a] = await peers(1)
  await t.rejects(reg.add({ ...a!, peerId: 'nope' }), TypeError)
  await t.rejects(reg.add({ ...a!, name: 'x'.repeat(65) }), TypeError)
  t.same(await readdir(dir), [])
})
