/**
 * The worker thread of waitForSerialMatch (serial-watch.ts): watches the
 * serial log, reads only the bytes added since the last read, in pieces of
 * at most SERIAL_READ_CHUNK_BYTES, and feeds them to a SerialLineScanner.
 * Posts one message, `{ line }` on the first match or `{ error }`, then
 * waits to be terminated (the caller ends it in every case).
 */
import { watch } from 'node:fs'
import { open } from 'node:fs/promises'
import { parentPort, workerData } from 'node:worker_threads'
import { MAX_SERIAL_LINE_CHARS, SERIAL_READ_CHUNK_BYTES } from './constants.ts'
import { SerialLineScanner } from './serial-lines.ts'

/** What waitForSerialMatch passes in `workerData`. */
export interface SerialWatchData { path: string, source: string, flags: string }

/** The one message the worker posts. */
export type SerialWatchMessage = { line: string } | { error: string }

const data = workerData as SerialWatchData
let done = false
const post = (message: SerialWatchMessage): void => {
  if (done) return
  done = true
  parentPort!.postMessage(message)
}

try {
  const scanner = new SerialLineScanner(new RegExp(data.source, data.flags), MAX_SERIAL_LINE_CHARS)
  const file = await open(data.path, 'r')
  const buffer = Buffer.allocUnsafe(SERIAL_READ_CHUNK_BYTES)
  let position = 0
  let reading = false
  let again = false
  // Reads to the end of the file; a change seen meanwhile makes it read again, so no write is missed.
  const drain = async (): Promise<void> => {
    if (reading) { again = true; return }
    reading = true
    try {
      do {
        again = false
        for (;;) {
          const { bytesRead } = await file.read(buffer, 0, buffer.byteLength, position)
          if (bytesRead === 0) break
          position += bytesRead
          const line = scanner.push(buffer.subarray(0, bytesRead))
          if (line !== undefined) { post({ line }); return }
        }
      } while (again && !done)
    } catch (err) {
      post({ error: `cannot read the serial log ${data.path}: ${(err as Error).message}` })
    } finally {
      reading = false
    }
  }
  // watch first, then read what is already there: a write in between is seen by one or the other
  watch(data.path, { persistent: true }, () => { void drain() })
    .on('error', err => { post({ error: `cannot watch the serial log ${data.path}: ${err.message}` }) })
  await drain()
} catch (err) {
  post({ error: `cannot watch the serial log ${data.path}: ${(err as Error).message}` })
}
