import t from 'tap'
import { decodeManifest, diskRoot, encodeManifest, pointRoot, blockCount, blockLength } from '../../core/manifest.ts'
import { zeroHash, toHex } from '../../core/hash.ts'

t.test('encoding: literal bytes', async t => {
  const hashes = new Uint8Array(64).fill(0xab, 0, 32).fill(0xcd, 32, 64)
  const bytes = encodeManifest({ size: 4097, blockSize: 4096, hashes })
  t.equal(Buffer.from(bytes.subarray(0, 16)).toString('hex'), '544d4631' + '0110000000000000' + '00100000')
  t.equal(bytes.byteLength, 16 + 64)
  const back = decodeManifest(bytes)
  t.same({ size: back.size, blockSize: back.blockSize, hashes: toHex(back.hashes) }, { size: 4097, blockSize: 4096, hashes: toHex(hashes) })
})

t.test('decoding rejects malformed input with CORE_MANIFEST_INVALID', async t => {
  const good = encodeManifest({ size: 4096, blockSize: 4096, hashes: new Uint8Array(32) })
  const cases: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['short header', good.subarray(0, 10)],
    ['bad magic', Uint8Array.from([0, ...good.subarray(1)])],
    ['missing hash', good.subarray(0, 16 + 31)],
    ['extra hash', new Uint8Array([...good, ...new Uint8Array(32)])],
    ['block size not a power of two', (() => { const b = Buffer.from(good); b.writeUInt32LE(5000, 12); return b })()],
    ['size beyond 2^53', (() => { const b = Buffer.from(good); b.writeBigUInt64LE(2n ** 60n, 4); return b })()]
  ]
  for (const [name, bytes] of cases) t.throws(() => decodeManifest(bytes), { code: 'CORE_MANIFEST_INVALID' }, name)
})

t.test('block arithmetic', async t => {
  const table: Array<[number, number, number, number]> = [
    // size, blockSize, count, length of last block
    [0, 4096, 0, 0],
    [1, 4096, 1, 1],
    [4096, 4096, 1, 4096],
    [4097, 4096, 2, 1],
    [5 * 2 ** 30 + 12345, 65536, 81921, 12345]
  ]
  for (const [size, bs, count, last] of table) {
    t.equal(blockCount(size, bs), count, `count for ${size}`)
    if (count > 0) t.equal(blockLength({ size, blockSize: bs }, count - 1), last, `last length for ${size}`)
  }
})

t.test('root hashes are stable (golden values; the zero hash matches the b3sum CLI)', async t => {
  const m = { size: 8192, blockSize: 4096, hashes: new Uint8Array([...zeroHash(4096), ...zeroHash(4096)]) }
  t.equal(toHex(zeroHash(4096)), 'b6fb73fc46938c981e2b0b4b1ef282adcfc89854d01bfe3972fdc4785b41b2c7')
  t.equal(diskRoot(m), '4498214a60c2b63fa1bd60d795722c2d652dfbd8f6189aacfc85b7b509f495d5')
  t.equal(pointRoot([{ name: 'a', root: diskRoot(m) }]), '3fd0869f07aab38f3cb601634e2d7cbda7b7b008304843ec8fca074d83130223')
  t.not(diskRoot(m), diskRoot({ ...m, size: 8191 }), 'size is bound into the root')
  t.equal(pointRoot([{ name: 'b', root: 'x' }, { name: 'a', root: 'y' }]), pointRoot([{ name: 'a', root: 'y' }, { name: 'b', root: 'x' }]), 'disk order does not matter')
})
