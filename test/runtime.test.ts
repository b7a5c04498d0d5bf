/**
 * The runtime (README "Node.js"): the tests run on the project's own Node
 * (the `node` devDependency, first on PATH in npm scripts) whatever Node the
 * machine has, TypeScript runs by Node's own type stripping, and the native
 * modules load and work on it.
 */
import t from 'tap'
import { blake3 } from '@napi-rs/blake-hash'
import { ClassicLevel } from 'classic-level'
import { isNativeAccelerationEnabled, pack, unpack } from 'msgpackr'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { Compressor, Decompressor } from 'zstd-napi'
import { tempDir } from './helpers/fixtures.ts'

const require = createRequire(import.meta.url)
const projectNode = (require('node/package.json') as { version: string }).version

t.test('the tests run on the project\'s Node, with nothing but its own type stripping', async t => {
  t.comment(`node ${process.version} (${process.execPath})`)
  t.equal(process.version, `v${projectNode}`, 'the version of the `node` devDependency')
  t.equal(process.features.typescript, 'strip')
  const loaders = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].filter(a => /tsx|ts-node/.test(a))
  t.same(loaders, [], 'no TypeScript loader (tsx, ts-node) is registered')
})

t.test('Promise.withResolvers is the runtime\'s own (libp2p 3 calls it; no polyfill)', async t => {
  t.match(Function.prototype.toString.call(Promise.withResolvers), /\[native code\]/)
})

t.test('@napi-rs/blake-hash: BLAKE3 of the empty input', async t => {
  t.equal(Buffer.from(blake3(Buffer.alloc(0))).toString('hex'), 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262')
})

t.test('zstd-napi: a block round-trips and shrinks', async t => {
  const block = Buffer.alloc(64 * 1024, 'tandem ')
  const compressed = new Compressor().compress(block)
  t.ok(compressed.byteLength < block.byteLength / 10)
  t.same(new Decompressor().decompress(compressed), block)
})

t.test('classic-level: a LevelDB opens, writes, reads back and closes', async t => {
  const db = new ClassicLevel<string, string>(join(await tempDir(t), 'db'))
  await db.open()
  await db.put('point', '1')
  t.equal(await db.get('point'), '1')
  await db.close()
})

t.test('msgpackr: round trip, with its native string extractor on linux-x64', async t => {
  const value = { kind: 'blocks', names: ['a'.repeat(100), 'b'.repeat(100)], count: 2 }
  t.same(unpack(pack(value)), value)
  if (process.platform === 'linux' && process.arch === 'x64') t.equal(isNativeAccelerationEnabled, true)
})
