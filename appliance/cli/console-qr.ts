/**
 * A QR code as lines of text for a terminal (the box's console, docs/console.md):
 * two modules per character cell, one above the other, drawn with the half
 * blocks `▀ ▄ █` and a space, which the Linux console's own font has. The
 * ink is the dark modules: the caller shows the lines dark on light (on a
 * terminal it sets black on white, console-screen.ts), as scanners expect.
 * Pure.
 */
import { encode } from 'uqr'

/** The quiet zone around the code, in modules: the QR standard asks for 4, and scanners miss codes without it. */
export const QR_QUIET_MODULES = 4

/**
 * The error correction level: L, the lowest. A code on a screen is neither
 * dirty nor torn, and every level up makes an invite's code a version or
 * two larger, which a console of 80 or 128 columns cannot spare.
 */
export const QR_ECC = 'L'

/** A code's lines, and its size in character cells. */
export interface TextQr {
  lines: string[]
  columns: number
  rows: number
}

/** Cells by the dark modules of (top, bottom). */
const CELL = { both: '█', top: '▀', bottom: '▄', none: ' ' } as const

/** `text` as a QR code in half blocks, with its quiet zone (light: spaces). */
export function textQr (text: string): TextQr {
  const { data, size } = encode(text, { ecc: QR_ECC, border: QR_QUIET_MODULES })
  const lines: string[] = []
  for (let y = 0; y < size; y += 2) {
    let line = ''
    for (let x = 0; x < size; x++) {
      // An odd size leaves the last row's lower half outside the code: light, like the quiet zone.
      const top = data[y]![x] === true
      const bottom = y + 1 < size && data[y + 1]![x] === true
      line += top ? (bottom ? CELL.both : CELL.top) : (bottom ? CELL.bottom : CELL.none)
    }
    lines.push(line)
  }
  return { lines, columns: size, rows: lines.length }
}
