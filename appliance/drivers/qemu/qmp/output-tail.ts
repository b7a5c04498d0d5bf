import type { Readable } from 'node:stream'

/**
 * Keeps the last `maxBytes` of a child's output stream (QEMU puts its error
 * on the last lines) so that memory stays bounded however much it writes.
 * `text()` is what was kept so far, as UTF-8.
 */
export function keepTail (stream: Readable, maxBytes: number): { text: () => string } {
  let tail = Buffer.alloc(0)
  stream.on('data', (chunk: Buffer) => {
    tail = Buffer.concat([tail, chunk])
    if (tail.length > maxBytes) tail = tail.subarray(tail.length - maxBytes)
  })
  return { text: () => tail.toString('utf8') }
}
