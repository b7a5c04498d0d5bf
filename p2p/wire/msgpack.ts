import { Packr, Unpackr } from 'msgpackr'

/**
 * The msgpack codec of every Tandem protocol. Plain msgpack only: nil,
 * booleans, numbers, strings, binary, arrays and maps. Every extension type
 * (msgpackr's record definitions and structures, timestamps, typed arrays,
 * errors, sets ...) is refused before msgpackr sees the bytes: msgpackr
 * decodes them even with records turned off, and a hostile peer could use
 * them to make the decoder build what we do not expect
 * (docs/replication-protocol.md, "Framing").
 * `unpackMessage` may throw anything on bad input: callers turn that into
 * their MALFORMED code.
 */
const packr = new Packr({ useRecords: false })
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })

export const packMessage = (v: unknown): Uint8Array => packr.pack(v)
export const unpackMessage = (b: Uint8Array): unknown => {
  checkPlainMsgpack(b)
  return unpackr.unpack(b)
}

/** True for a plain decoded map (msgpackr turns reserved bytes into class instances). */
export function isPlainMap (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype
}

/** Thrown by `checkPlainMsgpack`; callers map it to their MALFORMED code. */
export class NotPlainMsgpackError extends TypeError {
  constructor (message: string) {
    super(message)
    this.name = 'NotPlainMsgpackError'
  }
}

/**
 * Checks that `b` is exactly one plain msgpack value (spec: github.com/msgpack/msgpack,
 * spec.md, "Formats"): no extension type (0xc7-0xc9, 0xd4-0xd8), no
 * reserved byte (0xc1), nothing truncated, nothing after the value.
 * Walks the headers only (string and binary bodies are skipped, not read),
 * so a 2 MiB batch costs a few thousand steps. Throws NotPlainMsgpackError.
 */
export function checkPlainMsgpack (b: Uint8Array): void {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const fail = (why: string, at: number): never => { throw new NotPlainMsgpackError(`not plain msgpack at byte ${at}: ${why}`) }
  let at = 0
  let values = 1 // values still to read
  const need = (n: number): void => { if (at + n > b.byteLength) fail('truncated', at) }
  const skip = (n: number): void => { need(n); at += n }
  const uint = (n: 1 | 2 | 4): number => {
    need(n)
    const v = n === 1 ? view.getUint8(at) : n === 2 ? view.getUint16(at) : view.getUint32(at)
    at += n
    return v
  }
  const children = (n: number): void => {
    values += n
    // Each value takes at least one byte: a count beyond what is left is a lie.
    if (values > b.byteLength - at) fail('more elements than bytes', at)
  }
  while (values > 0) {
    values--
    need(1)
    const start = at
    const h = view.getUint8(at++)
    if (h <= 0x7f || h >= 0xe0) continue // fixint
    if (h <= 0x8f) { children(2 * (h & 0x0f)); continue } // fixmap
    if (h <= 0x9f) { children(h & 0x0f); continue } // fixarray
    if (h <= 0xbf) { skip(h & 0x1f); continue } // fixstr
    switch (h) {
      case 0xc0: case 0xc2: case 0xc3: break // nil, false, true
      case 0xc4: case 0xd9: skip(uint(1)); break // bin 8, str 8
      case 0xc5: case 0xda: skip(uint(2)); break // bin 16, str 16
      case 0xc6: case 0xdb: skip(uint(4)); break // bin 32, str 32
      case 0xca: skip(4); break // float 32
      case 0xcb: skip(8); break // float 64
      case 0xcc: case 0xd0: skip(1); break // (u)int 8
      case 0xcd: case 0xd1: skip(2); break // (u)int 16
      case 0xce: case 0xd2: skip(4); break // (u)int 32
      case 0xcf: case 0xd3: skip(8); break // (u)int 64
      case 0xdc: children(uint(2)); break // array 16
      case 0xdd: children(uint(4)); break // array 32
      case 0xde: children(2 * uint(2)); break // map 16
      case 0xdf: children(2 * uint(4)); break // map 32
      case 0xc1: fail('reserved byte 0xc1', start); break
      default: fail(`extension type (0x${h.toString(16)})`, start) // 0xc7-0xc9, 0xd4-0xd8
    }
  }
  if (at !== b.byteLength) fail('bytes after the value', at)
}
