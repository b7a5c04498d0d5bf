import { Compressor } from 'zstd-napi'
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
  private readonly compressor = new Compressor()
  /**
   * The raw context, not zstd-napi's Decompressor: that one allocates
   * whatever size a frame header claims (a 40-byte frame can demand
   * terabytes). Decoding into a buffer of the expected length bounds memory
   * and fails cleanly on anything longer.
   */
  private readonly dctx = new binding.DCtx()

  constructor () {
    this.compressor.setParameters({ compressionLevel: ZSTD_LEVEL })
  }

  encode (raw: Uint8Array): EncodedBlock {
    const packed = this.compressor.compress(raw)
    if (packed.byteLength > raw.byteLength * (1 - MIN_COMPRESSION_SAVING)) return { codec: Codec.RAW, data: raw }
    return { codec: Codec.ZSTD, data: packed }
  }

  /** Decodes to exactly `rawLength` bytes or throws CORE_CODEC_FAILED. */
  decode (codec: number, data: Uint8Array, rawLength: number): Uint8Array {
    if (codec === Codec.RAW) {
      if (data.byteLength !== rawLength) throw new CoreError(CoreErrorCode.CORE_CODEC_FAILED, `raw block is ${data.byteLength} bytes, expected ${rawLength}`)
      return data
    }
    if (codec !== Codec.ZSTD) throw new CoreError(CoreErrorCode.CORE_CODEC_FAILED, `unknown codec ${codec}`)
    const out = Buffer.allocUnsafe(rawLength)
    let n: number
    try {
      n = this.dctx.decompress(out, data)
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_CODEC_FAILED, 'zstd block failed to decompress', { cause: err })
    }
    if (n !== rawLength) throw new CoreError(CoreErrorCode.CORE_CODEC_FAILED, `block decompressed to ${n} bytes, expected ${rawLength}`)
    return out
  }
}
