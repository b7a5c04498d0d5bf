import type { Stream } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { encodeFrame, frameHeader, FrameDecoder } from './frame.ts'

/**
 * Frames over a libp2p stream: `send` one payload, `read` the next whole
 * one. Reads are bounded by `maxPayload` (checked at the header) and by a
 * time limit (`codes.timeout`; the read can be retried, nothing is lost).
 * One reader at a time.
 */
export class FramedStream {
  readonly stream: Stream
  private readonly maxPayload: number
  private readonly decoder: FrameDecoder
  private readonly iterator: AsyncIterator<Uint8ArrayList | Uint8Array>
  private readonly ready: Uint8Array[] = []
  /** A read of the stream that a timed-out `read` left pending: the next `read` takes its result, so no chunk is lost. */
  private pending: Promise<IteratorResult<Uint8ArrayList | Uint8Array>> | undefined

  constructor (stream: Stream, maxPayload: number) {
    this.stream = stream
    this.maxPayload = maxPayload
    this.decoder = new FrameDecoder(maxPayload)
    this.iterator = (stream as unknown as AsyncIterable<Uint8ArrayList | Uint8Array>)[Symbol.asyncIterator]()
  }

  send (payload: Uint8Array): void {
    this.stream.send(encodeFrame(payload, this.maxPayload))
  }

  /**
   * Sends one payload and, when the transport's buffer is full, waits for
   * its 'drain' event (never `onDrain()`, which stays resolved after the
   * first drain: docs/platform-notes.md). Rejects with `closedCode` when the
   * stream closes first, P2P_ABORTED on abort.
   */
  async write (payload: Uint8Array | Uint8ArrayList, closedCode: P2pErrorCode, signal?: AbortSignal): Promise<void> {
    try {
      // One send of a list: the payload is not copied into a frame, and the
      // muxer makes one data frame of header and payload, not a separate
      // (and separately acknowledged) frame for the 4-byte header.
      this.stream.send(new Uint8ArrayList(frameHeader(payload.byteLength, this.maxPayload), payload))
    } catch (err) {
      throw new P2pError(closedCode, 'the stream is closed', { cause: err })
    }
    if (!this.stream.writableNeedsDrain) return
    await new Promise<void>((resolve, reject) => {
      const done = (err?: P2pError): void => {
        this.stream.removeEventListener('drain', onDrain)
        this.stream.removeEventListener('close', onClose)
        signal?.removeEventListener('abort', onAbort)
        if (err === undefined) resolve()
        else reject(err)
      }
      const onDrain = (): void => { done() }
      const onClose = (): void => { done(new P2pError(closedCode, 'the stream closed while sending')) }
      // A P2pError as the reason (the peer's own error code) is passed on as it is.
      const onAbort = (): void => { done(signal?.reason instanceof P2pError ? signal.reason : new P2pError(P2pErrorCode.P2P_ABORTED, 'the transfer was cancelled', { cause: signal?.reason })) }
      this.stream.addEventListener('drain', onDrain)
      this.stream.addEventListener('close', onClose)
      signal?.addEventListener('abort', onAbort)
      if (signal?.aborted === true) onAbort()
    })
  }

  /**
   * The next payload; throws P2P_FRAME_* on bad framing, `codes.timeout`
   * after `timeoutMs`, `codes.eof` when the stream ends or is reset first.
   * A timeout loses nothing: a later read continues where this one stopped.
   */
  async read (timeoutMs: number, codes: { timeout: P2pErrorCode, eof: P2pErrorCode }): Promise<Uint8Array> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new P2pError(codes.timeout, `no message within ${timeoutMs} ms`)) }, timeoutMs)
    })
    try {
      while (this.ready.length === 0) {
        this.pending ??= this.iterator.next()
        const { value, done } = await Promise.race([this.pending.catch(err => {
          if (err instanceof P2pError) throw err
          throw new P2pError(codes.eof, 'the stream was reset', { cause: err })
        }), timeout])
        this.pending = undefined
        if (done === true) throw new P2pError(codes.eof, 'the stream ended before the message')
        if (value instanceof Uint8Array) this.ready.push(...this.decoder.push(value))
        // A list's parts go in one by one: the decoder copies each frame once, not the list first.
        else for (const part of value) this.ready.push(...this.decoder.push(part))
      }
      return this.ready.shift()!
    } finally {
      clearTimeout(timer)
    }
  }
}
