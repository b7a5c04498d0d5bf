/**
 * Reads a QR code drawn in half blocks (appliance/cli/console-qr.ts) back,
 * as a camera would: the cells become modules, the modules pixels (dark on
 * light, PIXELS_PER_MODULE each), and jsqr decodes the image. Nothing of
 * uqr's matrix is used: what is decoded is the text the console printed.
 */
import * as jsqr from 'jsqr'

/** jsqr is a CommonJS bundle: its decoder is `default`, or `default.default` where a loader wraps it once more. */
type Decode = (data: Uint8ClampedArray, width: number, height: number, options?: { inversionAttempts?: 'dontInvert' }) => { data: string } | null
const loaded = (jsqr as unknown as { default: Decode | { default: Decode } }).default
const jsQR: Decode = typeof loaded === 'function' ? loaded : loaded.default

const PIXELS_PER_MODULE = 4

/** The modules of a half-block drawing: each cell is two modules, the upper and the lower; true is dark. */
export function modulesOf (lines: string[]): boolean[][] {
  const width = Math.max(...lines.map(l => [...l].length))
  const rows: boolean[][] = []
  for (const line of lines) {
    const cells = [...line.padEnd(width, ' ')]
    rows.push(cells.map(c => c === '█' || c === '▀'))
    rows.push(cells.map(c => c === '█' || c === '▄'))
  }
  return rows
}

/** The text of the code drawn in `lines`, or null when jsqr finds none. */
export function decodeTextQr (lines: string[]): string | null {
  const modules = modulesOf(lines)
  const w = modules[0]!.length * PIXELS_PER_MODULE
  const h = modules.length * PIXELS_PER_MODULE
  const rgba = new Uint8ClampedArray(w * h * 4)
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = modules[Math.floor(y / PIXELS_PER_MODULE)]![Math.floor(x / PIXELS_PER_MODULE)] === true ? 0 : 255
      rgba.set([v, v, v, 255], (y * w + x) * 4)
    }
  }
  return jsQR(rgba, w, h, { inversionAttempts: 'dontInvert' })?.data ?? null
}
