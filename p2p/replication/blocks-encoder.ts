import { Uint8ArrayList } from 'uint8arraylist'
import { HASH_LENGTH } from '../../core/constants.ts'
import type { BlockEntry } from './messages.ts'

/**
 * The sender's encoder of `blocks` messages: the same msgpack bytes as
 * `encodeReplication` (messages.ts), byte for byte, but as a list of parts
 * in which each block's data is the caller's own buffer, not a copy. A
 * batch is about a MiB of compressed blocks; copying it into a frame, as a
 * general encoder must, cost the primary a copy and a short-lived MiB per
 * batch (a third of its garbage in bench:p2p). Callers must not change the
 * data buffers until the stream has sent them.
 *
 * The layout is msgpackr's for the same object (checked by a test): a
 * map16 of t, cycle, seq, disk, entries; entries an array of 5-element
 * arrays [index, hash, codec, rawLength, data].
 */
export function encodeBlocks (m: { cycle: Uint8Array, seq: number, disk: string, entries: BlockEntry[] }): Uint8ArrayList {
  const disk = Buffer.from(m.disk, 'utf8')
  const w = new MetaWriter(64 + m.cycle.byteLength + disk.byteLength + m.entries.length * (ENTRY_META_BYTES + HASH_LENGTH))
  w.byte(0xde); w.u16(5)
  w.str(T); w.str(BLOCKS)
  w.str(CYCLE); w.bin(m.cycle)
  w.str(SEQ); w.uint(m.seq)
  w.str(DISK); w.str(disk)
  w.str(ENTRIES); w.arrayHeader(m.entries.length)
  for (const e of m.entries) {
    w.arrayHeader(5)
    w.uint(e.index)
    w.bin(e.hash)
    w.uint(e.codec)
    w.uint(e.rawLength)
    w.binHeader(e.data.byteLength)
    if (e.data.byteLength > 0) w.cut(e.data)
  }
  return w.finish()
}

/** Bytes of one entry around its hash and data, at most: array header, three uints, two bin headers. */
const ENTRY_META_BYTES = 1 + 5 + 2 + 5 + 5 + 5

const ascii = (s: string): Uint8Array => Buffer.from(s, 'utf8')
const T = ascii('t')
const BLOCKS = ascii('blocks')
const CYCLE = ascii('cycle')
const SEQ = ascii('seq')
const DISK = ascii('disk')
const ENTRIES = ascii('entries')

/** Writes msgpack headers and small values into one buffer; `cut` splices a caller's buffer in between. */
class MetaWriter {
  private readonly meta: Uint8Array
  private readonly view: DataView
  private at = 0
  private from = 0
  private readonly list = new Uint8ArrayList()

  constructor (capacity: number) {
    this.meta = new Uint8Array(capacity)
    this.view = new DataView(this.meta.buffer)
  }

  byte (b: number): void { this.meta[this.at++] = b }
  u16 (v: number): void { this.view.setUint16(this.at, v); this.at += 2 }
  u32 (v: number): void { this.view.setUint32(this.at, v); this.at += 4 }

  /** A non-negative integer below 2^32, in msgpackr's smallest form. */
  uint (v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new TypeError(`${v} is not a u32`)
    if (v < 0x80) this.byte(v)
    else if (v < 0x100) { this.byte(0xcc); this.byte(v) } else if (v < 0x10000) { this.byte(0xcd); this.u16(v) } else { this.byte(0xce); this.u32(v) }
  }

  str (utf8: Uint8Array): void {
    const n = utf8.byteLength
    if (n < 0x20) this.byte(0xa0 | n)
    else if (n < 0x100) { this.byte(0xd9); this.byte(n) } else throw new TypeError('string too long for a blocks message')
    this.meta.set(utf8, this.at)
    this.at += n
  }

  arrayHeader (n: number): void {
    if (n < 0x10) this.byte(0x90 | n)
    else if (n < 0x10000) { this.byte(0xdc); this.u16(n) } else { this.byte(0xdd); this.u32(n) }
  }

  binHeader (n: number): void {
    if (n < 0x100) { this.byte(0xc4); this.byte(n) } else if (n < 0x10000) { this.byte(0xc5); this.u16(n) } else { this.byte(0xc6); this.u32(n) }
  }

  /** A small bin value, copied into the meta buffer. */
  bin (b: Uint8Array): void {
    this.binHeader(b.byteLength)
    this.meta.set(b, this.at)
    this.at += b.byteLength
  }

  /** Ends the current meta part and appends `data` itself as the next part. */
  cut (data: Uint8Array): void {
    if (this.at > this.from) this.list.append(this.meta.subarray(this.from, this.at))
    this.list.append(data)
    this.from = this.at
  }

  finish (): Uint8ArrayList {
    if (this.at > this.from) this.list.append(this.meta.subarray(this.from, this.at))
    return this.list
  }
}
