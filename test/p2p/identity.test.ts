/**
 * Identity damage is seen, never silently accepted: a flipped bit anywhere
 * in the key (private half: the same peer id that then cannot sign; public
 * half: another peer id) is P2P_IDENTITY_DAMAGED, in the current format
 * (checksum) and in the first one (bare protobuf: the key pair's
 * consistency). Three processes starting at once on an empty directory all
 * end up with the identity on disk.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../../p2p/node/index.ts'
import { tempDir } from '../helpers/fixtures.ts'

const SCRIPT = fileURLToPath(new URL('./fixtures/identity-process.ts', import.meta.url))
/** The libp2p protobuf of an Ed25519 key: 4 header bytes, the 32-byte seed (private half), the 32-byte public key. */
const PROTOBUF_HEADER = 4
const MAGIC_BYTES = 'tandem-identity-v1\n'.length

const flip = (bytes: Uint8Array, at: number, mask = 0x01): Uint8Array => { const out = new Uint8Array(bytes); out[at]! ^= mask; return out }

t.test('a flipped bit is P2P_IDENTITY_DAMAGED, in either half, in either format', async t => {
  const dir = await tempDir(t)
  const good = join(dir, 'good.key')
  const key = await loadOrCreateIdentity(good)
  const current = new Uint8Array(await readFile(good))
  const legacy = privateKeyToProtobuf(key)
  // Each case: name, the file's bytes.
  const cases: Array<[string, Uint8Array]> = [
    ['private half, current format', flip(current, MAGIC_BYTES + PROTOBUF_HEADER + 5)],
    ['public half, current format', flip(current, MAGIC_BYTES + PROTOBUF_HEADER + 32 + 5)],
    ['checksum, current format', flip(current, current.byteLength - 1)],
    ['magic, current format', flip(current, 0, 0x20)],
    ['truncated, current format', current.subarray(0, current.byteLength - 10)],
    ['private half, first format', flip(legacy, PROTOBUF_HEADER + 5)],
    ['public half, first format', flip(legacy, PROTOBUF_HEADER + 32 + 5)],
    ['not a key', new TextEncoder().encode('not a key')]
  ]
  for (const [i, [name, bytes]] of cases.entries()) {
    const path = join(dir, `case-${i}.key`)
    await writeFile(path, bytes, { mode: 0o600 })
    await t.rejects(loadOrCreateIdentity(path), { code: 'P2P_IDENTITY_DAMAGED', message: new RegExp(path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) }, `${name}: damaged, naming the file`)
    t.same(new Uint8Array(await readFile(path)), bytes, `${name}: the file is left as it was`)
  }
})

t.test('a first-format file loads under its peer id and gains a checksum', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'identity.key')
  const key = await generateKeyPair('Ed25519')
  await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600 })
  const loaded = await loadOrCreateIdentity(path)
  t.equal(peerIdFromPrivateKey(loaded).toString(), peerIdFromPrivateKey(key).toString(), 'the same identity')
  t.equal((await readFile(path)).subarray(0, MAGIC_BYTES).toString(), 'tandem-identity-v1\n', 'rewritten in the current format')
  t.equal(peerIdFromPrivateKey(await loadOrCreateIdentity(path)).toString(), peerIdFromPrivateKey(key).toString(), 'which loads as the same identity')
  t.same((await readdir(dir)).sort(), ['identity.key'], 'no temporary file left')
})

t.test('three processes starting at once on an empty directory share the identity on disk', async t => {
  const dir = await tempDir(t)
  const path = join(dir, 'identity.key')
  const children = [0, 1, 2].map(() => spawn(process.execPath, [SCRIPT, path], { stdio: ['pipe', 'pipe', 'inherit'] }))
  const outputs = children.map(c => createInterface({ input: c.stdout! })[Symbol.asyncIterator]())
  // All ready (modules loaded), then all go at once.
  for (const o of outputs) t.equal((await o.next()).value, 'ready')
  for (const c of children) c.stdin!.write('go\n')
  const results = await Promise.all(outputs.map(async o => JSON.parse((await o.next()).value as string) as { peerId?: string, code?: string }))
  await Promise.all(children.map(async c => await new Promise(resolve => { if (c.exitCode !== null) resolve(c.exitCode); else c.once('exit', resolve) })))
  const onDisk = peerIdFromPrivateKey(await loadOrCreateIdentity(path)).toString()
  t.same(results, [{ peerId: onDisk }, { peerId: onDisk }, { peerId: onDisk }], 'every process runs with the identity that is on disk')
  t.same((await readdir(dir)).sort(), ['identity.key'], 'no temporary file left')
})
