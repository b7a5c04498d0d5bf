/**
 * Reads a QR code with the device's camera, where the browser allows it
 * (a secure context with a camera: the box's HTTPS page on a phone): frames
 * of the camera's video go through jsqr until one holds a code. The camera
 * is released as soon as a code is read, the operator stops, or the page goes.
 */
import { html } from 'htm/preact'
import type { ComponentChildren } from 'preact'
import { useEffect, useRef, useState } from 'preact/hooks'
import jsQR from 'jsqr'

/** Whether this browser can offer the camera at all. */
export const cameraAvailable = (): boolean => typeof navigator.mediaDevices?.getUserMedia === 'function'

export function QrScanner ({ onFound }: { onFound: (text: string) => void }): ComponentChildren {
  const [scanning, setScanning] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const video = useRef<HTMLVideoElement>(null)
  useEffect(() => {
    if (!scanning) return
    let stream: MediaStream | null = null
    let frame = 0
    let gone = false
    const canvas = document.createElement('canvas')
    const context = canvas.getContext('2d', { willReadFrequently: true })
    const look = (): void => {
      const v = video.current
      if (gone || v === null || context === null) return
      if (v.readyState >= v.HAVE_CURRENT_DATA && v.videoWidth > 0) {
        canvas.width = v.videoWidth
        canvas.height = v.videoHeight
        context.drawImage(v, 0, 0)
        const found = jsQR(context.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height)
        if (found !== null && found.data !== '') { setScanning(false); onFound(found.data); return }
      }
      frame = requestAnimationFrame(look)
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } }).then(s => {
      stream = s
      if (gone || video.current === null) { s.getTracks().forEach(track => { track.stop() }); return }
      video.current.srcObject = s
      video.current.play().then(look, look)
    }, (err: unknown) => { setError(`The camera could not be used: ${err instanceof Error ? err.message : String(err)}`); setScanning(false) })
    return () => {
      gone = true
      cancelAnimationFrame(frame)
      stream?.getTracks().forEach(track => { track.stop() })
    }
  }, [scanning, onFound])
  if (!cameraAvailable()) return null
  return html`
    <div class="scan">
      <button type="button" class="quiet" onClick=${() => { setError(null); setScanning(!scanning) }}>${scanning ? 'Stop the camera' : 'Scan the QR code with the camera'}</button>
      ${scanning ? html`<video ref=${video} class="scan-video" muted playsinline aria-label="Camera view: hold the other box's QR code in front of it"></video>` : null}
      ${error === null ? null : html`<p class="form-error" role="alert">${error}</p>`}
    </div>`
}
