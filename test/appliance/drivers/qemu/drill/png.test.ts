/**
 * The PNG writer and header check: an encoded image has the signature,
 * an IHDR with its size and a correct CRC, one IDAT whose inflated rows
 * are filter byte 0 then the pixels, and an IEND; pngSize accepts it and
 * refuses damaged or empty headers with APP_SCREENSHOT_INVALID.
 */
import t from 'tap'
import { crc32, inflateSync } from 'node:zlib'
import { AppErrorCode } from '../../../../../appliance/errors.ts'
import { encodePng, pngSize, PNG_SIGNATURE, MAX_SCREENSHOT_SIDE } from '../../../../../appliance/drivers/qemu/drill/index.ts'

/** The chunks of a PNG: type, data, and whether the CRC is right. */
function chunks (png: Buffer): Array<{ type: string, data: Buffer, crcOk: boolean }> {
  const out = []
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at)
    const type = png.toString('latin1', at + 4, at + 8)
    const data = png.subarray(at + 8, at + 8 + length)
    out.push({ type, data, crcOk: crc32(png.subarray(at + 4, at + 8 + length)) === png.readUInt32BE(at + 8 + length) })
    at += 12 + length
  }
  return out
}

t.test('an encoded image is laid out as the PNG specification says', async t => {
  const width = 3
  const height = 2
  const rgb = Uint8Array.from({ length: width * height * 3 }, (_, i) => i * 13 % 256)
  const png = encodePng({ width, height, rgb })
  t.ok(png.subarray(0, 8).equals(PNG_SIGNATURE), 'signature')
  const c = chunks(png)
  t.same(c.map(x => x.type), ['IHDR', 'IDAT', 'IEND'])
  t.ok(c.every(x => x.crcOk), 'every CRC is right')
  t.same([...c[0]!.data], [0, 0, 0, 3, 0, 0, 0, 2, 8, 2, 0, 0, 0], 'IHDR: 3x2, 8-bit RGB, deflate, no interlace')
  const rows = inflateSync(c[1]!.data)
  t.same([...rows], [0, ...rgb.subarray(0, 9), 0, ...rgb.subarray(9)], 'each row: filter type 0 then its pixels')
  t.equal(c[2]!.data.length, 0)
  t.same(pngSize(png), { width: 3, height: 2 })
})

t.test('bad input to the writer is a TypeError', async t => {
  t.throws(() => encodePng({ width: 2, height: 2, rgb: new Uint8Array(11) }), TypeError)
  t.throws(() => encodePng({ width: 0, height: 2, rgb: new Uint8Array(0) }), TypeError)
  t.throws(() => encodePng({ width: MAX_SCREENSHOT_SIDE + 1, height: 1, rgb: new Uint8Array((MAX_SCREENSHOT_SIDE + 1) * 3) }), TypeError)
})

t.test('a file that is not a usable PNG is APP_SCREENSHOT_INVALID', async t => {
  const good = encodePng({ width: 1, height: 1, rgb: new Uint8Array(3) })
  const patched = (at: number, bytes: number[]): Buffer => { const b = Buffer.from(good); b.set(bytes, at); return b }
  const withSize = (w: number, h: number): Buffer => {
    const b = Buffer.from(good)
    b.writeUInt32BE(w, 16)
    b.writeUInt32BE(h, 20)
    b.writeUInt32BE(crc32(b.subarray(12, 29)), 29)
    return b
  }
  const bad: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['a PPM', Buffer.from('P6\n1 1\n255\n\0\0\0')],
    ['cut in the IHDR', good.subarray(0, 20)],
    ['another first chunk', patched(12, [0x74, 0x45, 0x58, 0x74])],
    ['an IHDR of another length', patched(8, [0, 0, 0, 12])],
    ['a damaged IHDR (CRC)', patched(17, [9])],
    ['width 0', withSize(0, 1)],
    ['height 0', withSize(1, 0)],
    ['too tall', withSize(1, MAX_SCREENSHOT_SIDE + 1)]
  ]
  for (const [what, file] of bad) t.throws(() => pngSize(file), { code: AppErrorCode.APP_SCREENSHOT_INVALID }, what)
})
