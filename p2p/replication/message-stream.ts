import type { Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { P2pError, P2pErrorCode } from '../errors.ts'
import { FRAME_HEADER_BYTES } from '../wire/frame.ts'
import { FramedStream } from '../wire/framed-stream.ts'
import { MAX_REPLICATION_FRAME_BYTES, PROTOCOL_VERSIONS, TIMEOUT_STEP_MS } from './constants.ts'
import { decodeReplication, encodeReplication, type ReplicationMessage } from './messages.ts'

const READ_CODES = { timeout: P2pErrorCode.P2P_TIMEOUT, eof: P2pErrorCode.P2P_STREAM_CLOSED }

/**
 * Replication messages over one libp2p stream: frames decoded and checked
 * at the boundary (messages.ts), sends that respect the transport's
 * backpressure, and an end that tells the peer the error code.
 */
export class ReplicationStream {
  readonly stream: Stream
  private readonly io: FramedStream
  /** Bytes of every frame sent (headers included). */
  sentBytes = 0
  /** Bytes of every frame received (headers included). */
  receivedBytes = 0

  constructor (stream: Stream) {
    this.stream = stream
    this.io = new FramedStream(stream, MAX_REPLICATION_FRAME_BYTES)
  }

  async send (m: ReplicationMessage, signal?: AbortSignal): Promise<void> {
    await this.sendEncoded(encodeReplication(m), signal)
  }

  /** Sends a message already encoded (the sender sizes `blocks` frames before sending them; blocks-encoder.ts). */
  async sendEncoded (payload: Uint8Array | Uint8ArrayList, signal?: AbortSignal): Promise<void> {
    this.sentBytes += payload.byteLength + FRAME_HEADER_BYTES
    await this.io.write(payload, P2pErrorCode.P2P_STREAM_CLOSED, signal)
  }

  /** The next message and its frame size. P2P_TIMEOUT, P2P_STREAM_CLOSED, P2P_FRAME_*, P2P_MESSAGE_*. */
  async next (timeoutMs: number): Promise<{ message: ReplicationMessage, frameBytes: number }> {
    const frame = await this.io.read(timeoutMs, READ_CODES)
    this.receivedBytes += frame.byteLength + FRAME_HEADER_BYTES
    return { message: decodeReplication(frame), frameBytes: frame.byteLength + FRAME_HEADER_BYTES }
  }

  /** The next message, which must be of type `t`; a peer's `error` is thrown as its code. */
  async expect<T extends ReplicationMessage['t']> (t: T, timeoutMs: number = TIMEOUT_STEP_MS): Promise<Extract<ReplicationMessage, { t: T }>> {
    const { message } = await this.next(timeoutMs)
    return expectType(message, t)
  }

  /**
   * Tells the peer why the stream ends, then closes it; aborts it when the
   * close does not finish promptly (the peer ends its side when it reads
   * the error). Idempotent: a second call waits for the first, so a late
   * abort never discards the error frame. Never throws.
   */
  async fail (code: P2pErrorCode): Promise<void> {
    this.failing ??= (async () => {
      try {
        this.io.send(encodeReplication({ t: 'error', code }))
        await this.stream.close({ signal: AbortSignal.timeout(TIMEOUT_FAIL_CLOSE_MS) })
      } catch {
        this.stream.abort(new P2pError(code, 'replication stream ended'))
      }
    })()
    await this.failing
  }

  private failing: Promise<void> | undefined
}

/** How long an ending side waits for the peer to close after an error before it aborts the stream. */
const TIMEOUT_FAIL_CLOSE_MS = 5_000

/** `m` as a message of type `t`; a peer's `error` is thrown as its code, any other type is a protocol violation. */
export function expectType<T extends ReplicationMessage['t']> (m: ReplicationMessage, t: T): Extract<ReplicationMessage, { t: T }> {
  if (m.t === 'error') throw new P2pError(m.code, `the peer ended the exchange: ${m.code}`)
  if (m.t !== t) throw new P2pError(P2pErrorCode.P2P_PROTOCOL_VIOLATION, `expected ${t}, got ${m.t}`)
  return m as Extract<ReplicationMessage, { t: T }>
}

/** Our hello; P2P_VERSION_UNSUPPORTED when the peer's lists no version of ours. */
export const HELLO: ReplicationMessage = { t: 'hello', versions: [...PROTOCOL_VERSIONS], capabilities: ['zstd', 'resume'] }

export function checkHello (m: Extract<ReplicationMessage, { t: 'hello' }>): void {
  if (!m.versions.some(v => (PROTOCOL_VERSIONS as readonly number[]).includes(v))) {
    throw new P2pError(P2pErrorCode.P2P_VERSION_UNSUPPORTED, `the peer speaks versions ${m.versions.join(', ')}; this box ${PROTOCOL_VERSIONS.join(', ')}`)
  }
}

/** A well-formed message that breaks the protocol (out of order, another cycle, ...). */
export const violation = (why: string): P2pError => new P2pError(P2pErrorCode.P2P_PROTOCOL_VIOLATION, why)

export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i])
}

/** The P2P code of any failure, for the wire: anything that is not ours (a store failure) is P2P_REPLICA_FAILED. */
export function wireCode (err: unknown): P2pErrorCode {
  if (err instanceof P2pError) return err.code
  return P2pErrorCode.P2P_REPLICA_FAILED
}

/** Failures of the link rather than of the peer: a cycle keeps its staging for a resume. */
export function isLinkFailure (code: P2pErrorCode): boolean {
  return code === P2pErrorCode.P2P_STREAM_CLOSED || code === P2pErrorCode.P2P_TIMEOUT ||
    code === P2pErrorCode.P2P_ABORTED || code === P2pErrorCode.P2P_REPLICA_FAILED || code === P2pErrorCode.P2P_RELATIONSHIP_BUSY
}
