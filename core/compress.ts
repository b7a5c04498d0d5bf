import binding from 'zstd-napi/binding.js'
import { MIN_COMPRESSION_SAVING, ZSTD_LEVEL } from './constants.ts'
import { CoreError, CoreErrorCode } from './errors.ts'

/** How a stored block's bytes are encoded. Values are on disk and on the wire: never renumber. */
export const Codec = { RAW: 0, ZSTD: 1 } as const
export type Codec = typeof Codec[keyof typeof Codec]

export interface EncodedBlock {
  codec: Codec
  data: Uint8Array
}

/**
 * Per-block zstd (level ZSTD_LEVEL) with a reused context; blocks that do not
 * shrink by MIN_COMPRESSION_SAVING are kept raw. One instance per thread: not
 * safe for concurrent use across workers (contexts are stateful).
 */
export class BlockCodec {
  /** Raw contexts compress into a caller's buffer: no allocation per block. */
  private readonly cctx = new binding.CCtx()
  /**
   * The raw context, not zstd-napi's Decompressor: that one allocates
   * whatever size a frame header claims (a 40-byte frame can demand
   * terabytes). Decoding into a buffer of the expected length bounds memory
   * and fails cleanly on anything longer.
   */
  private readonly dctx = new binding.DCtx()

  /** Encodes into a new buffer. */
  encode (raw: Uint8Array): EncodedBlock {
    const out = this.encodeInto(raw, new Uint8Array(maxEncodedLength(raw.byteLength)))
    return out.codec === Codec.RAW ? out : { codec: out.codec, data: out.data.slice() }
  }

  /**
   * Encodes `raw` into `out` (at least maxEncodedLength(raw) bytes): the
   * result's data is a view of `out` when compressed, or `raw` itself when
   * compression would not save MIN_COMPRESSION_SAVING. zstd stops as soon as
   * the output would not fit, so incompressible blocks cost little.
   */
  encodeInto (raw: Uint8Array, out: Uint8Array): EncodedBlock {
    const room = out.subarray(0, maxEncodedLength(raw.byteLength))
    let n: number
    try {
      n = this.cctx.compress(room, raw, ZSTD_LEVEL)
    } catch {
      return { codec: Codec.RAW, data: raw } // did not fit: not worth compressing
    }
    return { codec: Codec.ZSTD, data: room.subarray(0, n) }
  }

  /** Decodes to exactly `rawLength` bytes (a new buffer, or `data` itself when raw) or throws CORE_CODEC_FAILED. */
  decode (codec: number, data: Uint8Array, rawLength: number): Uint8Array {
    return this.decodeInto(codec, data, rawLength, codec === Codec.ZSTD ? Buffer.allocUnsafe(rawLength) : undefined)
  }

  /**
   * Decodes to exactly `rawLength` bytes into `out` (at least rawLength
   * long; reused by callers that only need to look at the bytes, such as a
   * receiver re-hashing a block: no allocation per block). Returns `data`
   * itself when raw. Throws CORE_CODEC_FAILED.
   */
  decodeInto (codec: number, data: Uint8Array, rawLength: number, out: Uint8Array | undefined): Uint8Array {
    if (codec === Codec.RAW) {
      if (data.byteLength !== rawLength) throw new CoreError(CoreErrorCode.CORE_CODEC_FAILED, `raw block is ${data.byteLength} bytes, expected ${rawLength}`)
      return data
    }
    if (codec !== Codec.ZSTD) throw new CoreError(CoreErrorCode.CORE_CODEC_FAILED, `unknown codec ${codec}`)
    if (out === undefined || out.byteLength < rawLength) throw new TypeError('decodeInto needs an output of at least rawLength bytes')
    const room = out.subarray(0, rawLength)
    let n: number
    try {
      n = this.dctx.decompress(room, data)
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_CODEC_FAILED, 'zstd block failed to decompress', { cause: err })
    }
    if (n !== rawLength) throw new CoreError(CoreErrorCode.CORE_CODEC_FAILED, `block decompressed to ${n} bytes, expected ${rawLength}`)
    return room
  }
}

/** The most bytes a compressed block may take; beyond that it is stored raw. */
export function maxEncodedLength (rawLength: number): number {
  return Math.floor(rawLength * (1 - MIN_COMPRESSION_SAVING))
}
