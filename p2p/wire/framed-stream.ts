import type { Stream } from '@libp2p/interface'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { encodeFrame, FrameDecoder } from './frame.ts'

/**
 * Frames over a libp2p stream: `send` one payload, `read` the next whole
 * one. Reads are bounded by `maxPayload` (checked at the header) and by a
 * time limit; on timeout the stream is aborted and `timeoutCode` thrown.
 * One reader at a time.
 */
export class FramedStream {
  readonly stream: Stream
  private readonly maxPayload: number
  private readonly decoder: FrameDecoder
  private readonly iterator: AsyncIterator<{ subarray: () => Uint8Array } | Uint8Array>
  private readonly ready: Uint8Array[] = []

  constructor (stream: Stream, maxPayload: number) {
    this.stream = stream
    this.maxPayload = maxPayload
    this.decoder = new FrameDecoder(maxPayload)
    this.iterator = (stream as unknown as AsyncIterable<{ subarray: () => Uint8Array } | Uint8Array>)[Symbol.asyncIterator]()
  }

  send (payload: Uint8Array): void {
    this.stream.send(encodeFrame(payload, this.maxPayload))
  }

  /** The next payload; throws P2P_FRAME_* on bad framing, `timeoutCode` after `timeoutMs`, a P2P_PAIRING_MALFORMED-like `eofCode` when the stream ends first. */
  async read (timeoutMs: number, codes: { timeout: P2pErrorCode, eof: P2pErrorCode }): Promise<Uint8Array> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new P2pError(codes.timeout, `no message within ${timeoutMs} ms`)) }, timeoutMs)
    })
    try {
      while (this.ready.length === 0) {
        const { value, done } = await Promise.race([this.iterator.next(), timeout])
        if (done === true) throw new P2pError(codes.eof, 'the stream ended before the message')
        const chunk = value instanceof Uint8Array ? value : value.subarray()
        this.ready.push(...this.decoder.push(chunk))
      }
      return this.ready.shift()!
    } finally {
      clearTimeout(timer)
    }
  }
}
