import type { Socket } from 'node:net'
import { READ_BUFFER_HIGH_WATER } from './constants.ts'

/**
 * Exact-length reads from a socket, for one consumer at a time (the
 * handshake, then the reply loop). Bytes can be copied straight into a
 * caller's buffer or skipped. When the socket ends or fails, the waiting
 * read and every later one reject with the error `onEnd` returns.
 * The socket is paused while more than `highWater` bytes wait
 * (READ_BUFFER_HIGH_WATER unless given).
 */
export class ByteReader {
  readonly #socket: Socket
  readonly #chunks: Buffer[] = []
  #available = 0
  #ended: Error | undefined
  #wake: (() => void) | undefined
  readonly #highWater: number

  constructor (socket: Socket, onEnd: (cause: unknown) => Error, highWater = READ_BUFFER_HIGH_WATER) {
    this.#socket = socket
    this.#highWater = highWater
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk)
      this.#available += chunk.length
      if (this.#available > this.#highWater) socket.pause()
      this.#notify()
    })
    const end = (cause?: unknown): void => {
      this.#ended ??= onEnd(cause)
      this.#notify()
    }
    socket.on('end', () => { end() })
    socket.on('close', () => { end() })
    socket.on('error', err => { end(err) })
  }

  #notify (): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  /** Waits until some bytes are available; rejects once the socket ended and nothing is left. */
  async #more (): Promise<void> {
    while (this.#available === 0) {
      if (this.#ended !== undefined) throw this.#ended
      await new Promise<void>(resolve => { this.#wake = resolve })
    }
  }

  /** Consumes exactly `n` bytes, handing each piece to `sink` (which may be undefined to skip). */
  async #take (n: number, sink: ((piece: Buffer, at: number) => void) | undefined): Promise<void> {
    let done = 0
    while (done < n) {
      await this.#more()
      const head = this.#chunks[0]!
      const k = Math.min(head.length, n - done)
      sink?.(head.subarray(0, k), done)
      if (k === head.length) this.#chunks.shift()
      else this.#chunks[0] = head.subarray(k)
      this.#available -= k
      done += k
      if (this.#socket.isPaused() && this.#available <= this.#highWater / 2) this.#socket.resume()
    }
  }

  /** The next `n` bytes (a view of the received data when it is contiguous, else a copy). */
  async read (n: number): Promise<Uint8Array> {
    if (this.#available >= n && this.#chunks[0]!.length >= n) {
      const head = this.#chunks[0]!
      const out = head.subarray(0, n)
      await this.#take(n, undefined)
      return out
    }
    const out = new Uint8Array(n)
    await this.#take(n, (piece, at) => { out.set(piece, at) })
    return out
  }

  /**
   * Consumes exactly `n` bytes, handing each received piece to `sink` with
   * its position in the n. The sink decides per piece where it goes, so a
   * destination abandoned midway stops receiving bytes at once.
   */
  async consume (n: number, sink: (piece: Uint8Array, at: number) => void): Promise<void> {
    await this.#take(n, sink)
  }

  /** Drops the next `n` bytes. */
  async skip (n: number): Promise<void> {
    await this.#take(n, undefined)
  }
}
