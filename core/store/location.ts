import type { Codec } from '../compress.ts'

/** Where a block's stored bytes are: pack, byte offset of the data, lengths, codec. */
export interface BlockLocation {
  pack: string
  offset: number
  storedLength: number
  rawLength: number
  codec: Codec
}

const PACK_ID_BYTES = 8
export const LOCATION_BYTES = PACK_ID_BYTES + 8 + 4 + 4 + 1

/** 25 bytes: pack id (8), offset u64 LE, stored length u32 LE, raw length u32 LE, codec u8. */
export function encodeLocation (l: BlockLocation): Uint8Array {
  const b = Buffer.alloc(LOCATION_BYTES)
  b.write(l.pack, 0, PACK_ID_BYTES, 'hex')
  b.writeBigUInt64LE(BigInt(l.offset), 8)
  b.writeUInt32LE(l.storedLength, 16)
  b.writeUInt32LE(l.rawLength, 20)
  b.writeUInt8(l.codec, 24)
  return b
}

export function decodeLocation (bytes: Uint8Array): BlockLocation {
  if (bytes.byteLength !== LOCATION_BYTES) throw new RangeError(`block location is ${bytes.byteLength} bytes, expected ${LOCATION_BYTES}`)
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return {
    pack: b.toString('hex', 0, PACK_ID_BYTES),
    offset: Number(b.readBigUInt64LE(8)),
    storedLength: b.readUInt32LE(16),
    rawLength: b.readUInt32LE(20),
    codec: b.readUInt8(24) as Codec
  }
}

export const PACK_ID_HEX_LENGTH = PACK_ID_BYTES * 2
