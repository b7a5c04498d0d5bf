/**
 * A QR code as inline SVG elements, drawn from uqr's module matrix (no
 * markup string, so nothing is parsed as HTML): one path of unit squares,
 * dark on a light quiet zone in both colour schemes, as scanners expect.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { encode } from 'uqr'

/** The quiet zone around the code, in modules: the QR standard asks for 4. */
const QUIET_MODULES = 4

export function QrCode ({ text, label }: { text: string, label: string }): ComponentChildren {
  const { data, size } = encode(text, { ecc: 'M', border: QUIET_MODULES })
  let d = ''
  data.forEach((row, y) => { row.forEach((dark, x) => { if (dark) d += `M${x} ${y}h1v1h-1z` }) })
  return html`
    <svg class="qr" viewBox="0 0 ${size} ${size}" role="img" aria-label=${label} shape-rendering="crispEdges">
      <rect class="qr-light" width=${size} height=${size} />
      <path class="qr-dark" d=${d} />
    </svg>`
}
