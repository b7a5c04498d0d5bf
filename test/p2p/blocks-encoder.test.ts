/**
 * The sender's zero-copy `blocks` encoder writes exactly the bytes of the
 * general encoder, for every size class of its integers, strings, arrays and
 * bins, and hands each block's data on as the caller's own buffer.
 */
import t from 'tap'
import { encodeBlocks } from '../../p2p/replication/blocks-encoder.ts'
import { decodeReplication, encodeReplication, WireCodec, type BlockEntry } from '../../p2p/replication/messages.ts'
import { prng, testSeed } from '../helpers/fixtures.ts'

const cycle = new Uint8Array(16).fill(9)

function entry (index: number, codec: WireCodec, rawLength: number, dataLength: number, fill: number): BlockEntry {
  return { index, hash: new Uint8Array(32).fill(fill), codec, rawLength, data: new Uint8Array(dataLength).fill(fill) }
}

const cases: Array<{ name: string, seq: number, disk: string, entries: BlockEntry[] }> = [
  { name: 'no entries', seq: 1, disk: 'disk0', entries: [] },
  { name: 'one small raw block', seq: 0x7f, disk: 'disk0', entries: [entry(0, WireCodec.RAW, 4, 4, 1)] },
  { name: 'zero entry without data', seq: 0x80, disk: 'd', entries: [entry(0xff, WireCodec.ZERO, 65536, 0, 0)] },
  { name: 'bin8, bin16, bin32 data', seq: 0xffff, disk: 'disk-with.a_long-name-of-forty-characters', entries: [
    entry(0x100, WireCodec.ZSTD, 65536, 0xff, 2), entry(0xffff, WireCodec.ZSTD, 65536, 0x100, 3),
    entry(0x10000, WireCodec.RAW, 0x10000, 0x10000, 4), entry(0xffffffff, WireCodec.RAW, 0x10001, 0x10001, 5)
  ] },
  { name: 'sixteen entries (array16)', seq: 0x10000, disk: 'x'.repeat(31), entries: Array.from({ length: 16 }, (_, i) => entry(i * 1000, WireCodec.ZSTD, 65536, 100 + i, i)) },
  { name: 'u32 seq, 64-character disk name', seq: 0xffffffff, disk: 'y'.repeat(64), entries: [entry(7, WireCodec.ZSTD, 4096, 33, 7)] }
]

const flat = (l: { subarray: () => Uint8Array }): Uint8Array => l.subarray()

for (const c of cases) {
  t.test(c.name, async t => {
    const m = { t: 'blocks' as const, cycle, seq: c.seq, disk: c.disk, entries: c.entries }
    const list = encodeBlocks(m)
    const bytes = flat(list)
    t.same(Buffer.from(bytes), Buffer.from(encodeReplication(m)), 'the same bytes as the general encoder')
    t.equal(list.byteLength, bytes.byteLength)
    if (c.entries.length > 0) t.same(decodeReplication(bytes), m, 'decodes to the message') // (an empty batch is malformed on the wire)
  })
}

t.test('block data is passed on, not copied', async t => {
  const data = new Uint8Array(70_000).fill(6)
  const list = encodeBlocks({ cycle, seq: 1, disk: 'disk0', entries: [{ index: 0, hash: new Uint8Array(32), codec: WireCodec.RAW, rawLength: data.byteLength, data }] })
  t.ok([...list].some(part => part === data), 'the data buffer is one of the parts')
})

t.test('random batches encode like the general encoder', async t => {
  const seed = testSeed(t)
  const rand = prng(seed)
  for (let n = 0; n < 50; n++) {
    const count = Math.floor(rand() * 40)
    const entries = Array.from({ length: count }, (_, i) => {
      const codec = [WireCodec.RAW, WireCodec.ZSTD, WireCodec.ZERO][Math.floor(rand() * 3)]!
      const length = codec === WireCodec.ZERO ? 0 : Math.floor(rand() * 70_000)
      return entry(i * 3 + Math.floor(rand() * 3), codec, 65536, length, Math.floor(rand() * 256))
    })
    const m = { t: 'blocks' as const, cycle, seq: Math.floor(rand() * 2 ** 32), disk: 'disk' + Math.floor(rand() * 10), entries }
    if (!Buffer.from(flat(encodeBlocks(m))).equals(Buffer.from(encodeReplication(m)))) t.fail(`batch ${n} differs (seed ${seed})`)
  }
  t.pass('50 random batches')
})
