/**
 * Block codec: round trips, the store-raw rule, and hostile input (a frame
 * that claims a huge size, garbage, a wrong length) failing with
 * CORE_CODEC_FAILED without allocating what it claims.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { compress } from 'zstd-napi'
import { BlockCodec, Codec } from '../../core/compress.ts'

t.test('compressible blocks are stored compressed, random ones raw', async t => {
  const codec = new BlockCodec()
  const text = Buffer.alloc(65536, 'tandem replica block ')
  const enc = codec.encode(text)
  t.equal(enc.codec, Codec.ZSTD)
  t.ok(enc.data.byteLength < 1000)
  t.same(Buffer.from(codec.decode(enc.codec, enc.data, 65536)), text)
  const random = randomBytes(65536)
  const raw = codec.encode(random)
  t.equal(raw.codec, Codec.RAW)
  t.same(Buffer.from(codec.decode(raw.codec, raw.data, 65536)), random)
})

t.test('hostile or damaged input fails with CORE_CODEC_FAILED', async t => {
  const codec = new BlockCodec()
  const bomb = compress(Buffer.alloc(16 * 1024 * 1024)) // a few hundred bytes claiming 16 MiB
  t.ok(bomb.byteLength < 4096)
  t.throws(() => codec.decode(Codec.ZSTD, bomb, 65536), { code: 'CORE_CODEC_FAILED' }, 'more output than the block may have')
  t.throws(() => codec.decode(Codec.ZSTD, randomBytes(100), 65536), { code: 'CORE_CODEC_FAILED' }, 'garbage')
  t.throws(() => codec.decode(Codec.ZSTD, compress(Buffer.alloc(100, 1)), 65536), { code: 'CORE_CODEC_FAILED' }, 'shorter than the block')
  t.throws(() => codec.decode(Codec.RAW, Buffer.alloc(10), 65536), { code: 'CORE_CODEC_FAILED' }, 'raw of the wrong length')
  t.throws(() => codec.decode(7, Buffer.alloc(10), 65536), { code: 'CORE_CODEC_FAILED' }, 'unknown codec')
})
