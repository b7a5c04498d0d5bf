import { crc32, deflateSync } from 'node:zlib'
import { AppError, AppErrorCode } from '../../../errors.ts'
import { MAX_SCREENSHOT_SIDE } from './constants.ts'

/*
 * A minimal PNG writer and header check, after the PNG specification (W3C,
 * "Portable Network Graphics (PNG) Specification", sections 5 "Datastream
 * structure" and 11.2 "Critical chunks"):
 *
 *   signature  89 50 4E 47 0D 0A 1A 0A
 *   chunk      length (u32 BE, of the data only) | type (4 ASCII bytes) | data | CRC-32 (u32 BE) of type and data
 *   IHDR       width u32 | height u32 | bit depth u8 | colour type u8 | compression u8 | filter u8 | interlace u8  (13 bytes, first chunk)
 *   IDAT       a zlib stream of the scanlines, each a filter-type byte then the row's pixels
 *   IEND       no data, last chunk
 *
 * Written: 8-bit RGB (colour type 2), compression 0 (deflate), filter
 * method 0 with filter type 0 (None) on every row, no interlace, one IDAT.
 */

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)

/** An image as 8-bit RGB triples, row after row, top to bottom. */
export interface RgbImage { width: number, height: number, rgb: Uint8Array }

/** The PNG file of `image`. Pure. TypeError when `rgb` does not hold width x height x 3 bytes or a side is out of range. */
export function encodePng (image: RgbImage): Buffer {
  const { width, height, rgb } = image
  checkSide(width, 'width')
  checkSide(height, 'height')
  if (rgb.byteLength !== width * height * 3) throw new TypeError(`rgb must hold ${width * height * 3} bytes, got ${rgb.byteLength}`)
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([8, 2, 0, 0, 0], 8)
  const row = width * 3
  const raw = Buffer.alloc((row + 1) * height)
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * row, (y + 1) * row), y * (row + 1) + 1) // filter byte 0 stays
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

/**
 * Checks that `file` starts as a PNG (the signature, then an IHDR chunk of
 * 13 bytes with a correct CRC, width and height from 1 to
 * MAX_SCREENSHOT_SIDE) and returns its size. Pure. APP_SCREENSHOT_INVALID
 * otherwise. The image data is not decoded.
 */
export function pngSize (file: Uint8Array): { width: number, height: number } {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength)
  if (b.length < 33 || !b.subarray(0, 8).equals(PNG_SIGNATURE)) invalid('no PNG signature')
  if (b.readUInt32BE(8) !== 13 || b.toString('latin1', 12, 16) !== 'IHDR') invalid('the first chunk is not a 13-byte IHDR')
  if (crc32(b.subarray(12, 29)) !== b.readUInt32BE(29)) invalid('the IHDR chunk fails its CRC')
  const width = b.readUInt32BE(16)
  const height = b.readUInt32BE(20)
  if (width < 1 || height < 1 || width > MAX_SCREENSHOT_SIDE || height > MAX_SCREENSHOT_SIDE) invalid(`its size ${width}x${height} is out of range`)
  return { width, height }
}

function chunk (type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.byteLength)
  out.writeUInt32BE(data.byteLength, 0)
  out.write(type, 4, 'latin1')
  out.set(data, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.byteLength)), 8 + data.byteLength)
  return out
}

function checkSide (v: number, name: string): void {
  if (!Number.isSafeInteger(v) || v < 1 || v > MAX_SCREENSHOT_SIDE) throw new TypeError(`${name} must be an integer from 1 to ${MAX_SCREENSHOT_SIDE}, got ${v}`)
}

function invalid (why: string): never {
  throw new AppError(AppErrorCode.APP_SCREENSHOT_INVALID, `the screenshot is not a valid PNG: ${why}`)
}
