import { AppError, AppErrorCode } from '../../../errors.ts'
import { MAX_SCREENSHOT_SIDE } from './constants.ts'
import type { RgbImage } from './png.ts'

/** Longest PPM header accepted: magic, width, height, maxval and a few comments. */
const MAX_PPM_HEADER_BYTES = 1024

/**
 * Parses a binary PPM (Netpbm `P6`, what QEMU's `screendump` writes without
 * a format): `P6`, whitespace, width, height and maxval as ASCII decimals
 * separated by whitespace (`#` comments to the end of a line allowed), one
 * whitespace byte, then width x height RGB triples. Only maxval 255 (one
 * byte a sample), which QEMU always writes. Pure; the pixels are a view
 * into `file`. APP_SCREENSHOT_INVALID for anything else, a side out of
 * 1..MAX_SCREENSHOT_SIDE, or fewer pixel bytes than the header promises.
 */
export function parsePpm (file: Uint8Array): RgbImage {
  let at = 0
  const token = (): string => {
    for (;;) {
      while (at < file.length && isSpace(file[at]!)) at++
      if (file[at] !== 0x23) break // '#': a comment to the end of the line
      while (at < file.length && file[at] !== 0x0a) at++
    }
    const start = at
    while (at < file.length && !isSpace(file[at]!) && at - start < 16) at++
    if (at >= MAX_PPM_HEADER_BYTES) invalid('the header is too long')
    return Buffer.from(file.buffer, file.byteOffset + start, at - start).toString('latin1')
  }
  if (token() !== 'P6') invalid('not a binary PPM (P6)')
  const width = decimal(token(), 'width')
  const height = decimal(token(), 'height')
  if (decimal(token(), 'maxval') !== 255) invalid('only maxval 255 is read')
  if (at >= file.length || !isSpace(file[at]!)) invalid('no whitespace after the header')
  at++
  for (const [side, name] of [[width, 'width'], [height, 'height']] as const) {
    if (side < 1 || side > MAX_SCREENSHOT_SIDE) invalid(`${name} ${side} is out of range`)
  }
  const bytes = width * height * 3
  if (file.length - at < bytes) invalid(`${file.length - at} pixel bytes, the header promises ${bytes}`)
  return { width, height, rgb: file.subarray(at, at + bytes) }
}

function isSpace (b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x0b || b === 0x0c
}

function decimal (s: string, name: string): number {
  if (!/^[0-9]{1,6}$/.test(s)) invalid(`${name} is not a decimal number`)
  return Number(s)
}

function invalid (why: string): never {
  throw new AppError(AppErrorCode.APP_SCREENSHOT_INVALID, `the screenshot is not a valid PPM: ${why}`)
}
