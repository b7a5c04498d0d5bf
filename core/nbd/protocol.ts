/**
 * Pure encoders and decoders of NBD messages (doc/proto.md of the
 * NetworkBlockDevice/nbd project). No I/O. Decoders check every field that
 * comes from the server once, here: a length past a MAX_* or a malformed
 * field throws CORE_NBD_PROTOCOL before anything is buffered on its account.
 */
import { CoreError, CoreErrorCode } from '../errors.ts'
import {
  MAX_ERROR_PAYLOAD_BYTES, MAX_EXPORT_NAME_BYTES, MAX_EXTENTS_PER_REPLY, MAX_MINIMUM_BLOCK_SIZE, MAX_OPTION_REPLY_BYTES,
  MAX_STRING_BYTES, NBD_ERRNO_NAMES, NBD_INFO_BLOCK_SIZE, NBD_INFO_EXPORT, NBD_OPT_GO, NBD_OPT_REPLY_MAGIC,
  NBD_OPT_SET_META_CONTEXT, NBD_OPTS_MAGIC, NBD_REPLY_TYPE_BLOCK_STATUS, NBD_REPLY_TYPE_ERROR_BIT,
  NBD_REPLY_TYPE_ERROR_OFFSET, NBD_REPLY_TYPE_NONE, NBD_REPLY_TYPE_OFFSET_DATA, NBD_REPLY_TYPE_OFFSET_HOLE,
  NBD_REQUEST_MAGIC, NBD_SIMPLE_REPLY_MAGIC, NBD_STRUCTURED_REPLY_MAGIC, OPTION_HEADER_BYTES,
  OPTION_REPLY_HEADER_BYTES, REQUEST_BYTES
} from './constants.ts'

/** A CORE_NBD_PROTOCOL error: the server broke the protocol. */
export function protocolError (message: string, details?: Record<string, unknown>): CoreError {
  return new CoreError(CoreErrorCode.CORE_NBD_PROTOCOL, `NBD server broke the protocol: ${message}`, details === undefined ? {} : { details })
}

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

function view (b: Uint8Array): DataView { return new DataView(b.buffer, b.byteOffset, b.byteLength) }

/** A string the spec allows: UTF-8, no NUL, at most 4096 bytes. TypeError otherwise (a caller's mistake). */
export function encodeString (s: string, what: string, max = MAX_STRING_BYTES): Uint8Array {
  const bytes = utf8.encode(s)
  if (bytes.length > max) throw new TypeError(`${what} is longer than ${max} bytes`)
  if (bytes.includes(0)) throw new TypeError(`${what} contains a NUL character`)
  return bytes
}

/** A string from the peer as the spec allows it (valid UTF-8, no NUL), or undefined. */
export function decodeSpecString (bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined
  try { return utf8Strict.decode(bytes) } catch { return undefined }
}

/** A string from the server; malformed UTF-8 is a protocol violation. */
function decodeString (bytes: Uint8Array, what: string): string {
  try { return utf8Strict.decode(bytes) } catch { throw protocolError(`${what} is not valid UTF-8`) }
}

/** A u64 from the wire as a number; above 2^53 is refused (no export or offset is that large). */
function u64 (dv: DataView, at: number, what: string): number {
  const v = dv.getBigUint64(at)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError(`${what} ${v} is beyond 2^53`)
  return Number(v)
}

// --- Handshake ---

/** The 4-byte client flags word. */
export function encodeClientFlags (flags: number): Uint8Array {
  const b = new Uint8Array(4)
  view(b).setUint32(0, flags)
  return b
}

/** One option: IHAVEOPT, option number, data length, data. */
export function encodeOption (option: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(OPTION_HEADER_BYTES + data.length)
  const dv = view(b)
  dv.setBigUint64(0, NBD_OPTS_MAGIC)
  dv.setUint32(8, option)
  dv.setUint32(12, data.length)
  b.set(data, OPTION_HEADER_BYTES)
  return b
}

/** NBD_OPT_GO: export name and the NBD_INFO_* items asked for. */
export function encodeGoOption (exportName: string, infoRequests: number[] = [NBD_INFO_BLOCK_SIZE]): Uint8Array {
  const name = encodeString(exportName, 'export name', MAX_EXPORT_NAME_BYTES)
  const data = new Uint8Array(4 + name.length + 2 + 2 * infoRequests.length)
  const dv = view(data)
  dv.setUint32(0, name.length)
  data.set(name, 4)
  dv.setUint16(4 + name.length, infoRequests.length)
  infoRequests.forEach((t, i) => { dv.setUint16(6 + name.length + 2 * i, t) })
  return encodeOption(NBD_OPT_GO, data)
}

/** NBD_OPT_SET_META_CONTEXT: export name and one query per context. */
export function encodeSetMetaContextOption (exportName: string, queries: string[]): Uint8Array {
  const name = encodeString(exportName, 'export name', MAX_EXPORT_NAME_BYTES)
  const qs = queries.map(q => encodeString(q, 'meta context name'))
  const data = new Uint8Array(4 + name.length + 4 + qs.reduce((n, q) => n + 4 + q.length, 0))
  const dv = view(data)
  dv.setUint32(0, name.length)
  data.set(name, 4)
  let at = 4 + name.length
  dv.setUint32(at, qs.length)
  at += 4
  for (const q of qs) {
    dv.setUint32(at, q.length)
    data.set(q, at + 4)
    at += 4 + q.length
  }
  return encodeOption(NBD_OPT_SET_META_CONTEXT, data)
}

export interface OptionReplyHeader {
  option: number
  type: number
  length: number
}

/** The 20-byte option reply header; the payload length is checked against MAX_OPTION_REPLY_BYTES. */
export function decodeOptionReplyHeader (b: Uint8Array, expectedOption: number): OptionReplyHeader {
  const dv = view(b)
  if (b.length !== OPTION_REPLY_HEADER_BYTES) throw new TypeError('option reply header must be 20 bytes')
  if (dv.getBigUint64(0) !== NBD_OPT_REPLY_MAGIC) throw protocolError('bad option reply magic')
  const option = dv.getUint32(8)
  const type = dv.getUint32(12)
  const length = dv.getUint32(16)
  if (option !== expectedOption) throw protocolError(`reply to option ${option} while ${expectedOption} was asked`)
  if (length > MAX_OPTION_REPLY_BYTES) throw protocolError(`option reply of ${length} bytes (at most ${MAX_OPTION_REPLY_BYTES})`, { length })
  return { option, type, length }
}

export type InfoReply =
  | { type: 'export', size: number, flags: number }
  | { type: 'block-size', minimum: number, preferred: number, maximum: number }
  | { type: 'other', info: number }

const isPowerOfTwo = (n: number): boolean => n > 0 && (n & (n - 1)) === 0

/** An NBD_REP_INFO payload. Unknown info types are returned as 'other' (to be ignored). */
export function decodeInfoReply (p: Uint8Array): InfoReply {
  if (p.length < 2) throw protocolError('NBD_REP_INFO shorter than its type')
  const dv = view(p)
  const info = dv.getUint16(0)
  if (info === NBD_INFO_EXPORT) {
    if (p.length !== 12) throw protocolError(`NBD_INFO_EXPORT of ${p.length} bytes (must be 12)`)
    return { type: 'export', size: u64(dv, 2, 'export size'), flags: dv.getUint16(10) }
  }
  if (info === NBD_INFO_BLOCK_SIZE) {
    if (p.length !== 14) throw protocolError(`NBD_INFO_BLOCK_SIZE of ${p.length} bytes (must be 14)`)
    const minimum = dv.getUint32(2)
    const preferred = dv.getUint32(6)
    const maximum = dv.getUint32(10)
    // The spec's constraints: powers of two, min <= 64 KiB, preferred >= min, maximum a multiple of min.
    if (!isPowerOfTwo(minimum) || minimum > MAX_MINIMUM_BLOCK_SIZE || !isPowerOfTwo(preferred) || preferred < minimum ||
      maximum < minimum || (maximum !== 0xffffffff && maximum % minimum !== 0)) {
      throw protocolError(`impossible block sizes ${minimum}/${preferred}/${maximum}`)
    }
    return { type: 'block-size', minimum, preferred, maximum }
  }
  return { type: 'other', info }
}

/** An NBD_REP_META_CONTEXT payload: id then name. */
export function decodeMetaContextReply (p: Uint8Array): { id: number, name: string } {
  if (p.length < 5) throw protocolError('NBD_REP_META_CONTEXT too short')
  return { id: view(p).getUint32(0), name: decodeString(p.subarray(4), 'meta context name') }
}

/** The message of an option error reply, for humans (invalid UTF-8 is replaced, not fatal). */
export function decodeOptionErrorMessage (p: Uint8Array): string {
  return new TextDecoder().decode(p)
}

// --- Transmission ---

export interface Request {
  flags: number
  type: number
  cookie: bigint
  offset: number
  length: number
}

/** The 28-byte request header. */
export function encodeRequest (r: Request): Uint8Array {
  const b = new Uint8Array(REQUEST_BYTES)
  const dv = view(b)
  dv.setUint32(0, NBD_REQUEST_MAGIC)
  dv.setUint16(4, r.flags)
  dv.setUint16(6, r.type)
  dv.setBigUint64(8, r.cookie)
  dv.setBigUint64(16, BigInt(r.offset))
  dv.setUint32(24, r.length)
  return b
}

export type ReplyKind = 'simple' | 'structured'

/** Which reply starts with these 4 bytes; any other magic is a protocol violation. */
export function decodeReplyMagic (b: Uint8Array): ReplyKind {
  const magic = view(b).getUint32(0)
  if (magic === NBD_SIMPLE_REPLY_MAGIC) return 'simple'
  if (magic === NBD_STRUCTURED_REPLY_MAGIC) return 'structured'
  throw protocolError(`bad reply magic 0x${magic.toString(16)}`)
}

/** The 12 bytes after a simple reply's magic: error and cookie. */
export function decodeSimpleReply (b: Uint8Array): { error: number, cookie: bigint } {
  const dv = view(b)
  return { error: dv.getUint32(0), cookie: dv.getBigUint64(4) }
}

export interface ChunkHeader {
  flags: number
  type: number
  cookie: bigint
  length: number
}

/** The 16 bytes after a structured reply's magic. Lengths are checked by checkChunkLength once the request is known. */
export function decodeChunkHeader (b: Uint8Array): ChunkHeader {
  const dv = view(b)
  return { flags: dv.getUint16(0), type: dv.getUint16(2), cookie: dv.getBigUint64(4), length: dv.getUint32(12) }
}

export const isErrorChunk = (type: number): boolean => (type & NBD_REPLY_TYPE_ERROR_BIT) !== 0

/**
 * Refuses a chunk whose payload length is impossible for its type and
 * request, before its payload is read: data no longer than the request,
 * block status no more than MAX_EXTENTS_PER_REPLY, errors no longer than a
 * spec string. Unknown non-error types are violations (the spec: hard disconnect).
 */
export function checkChunkLength (h: ChunkHeader, request: { type: 'read' | 'block-status', length: number }): void {
  const bad = (why: string): CoreError => protocolError(`chunk type ${h.type} of ${h.length} bytes: ${why}`, { type: h.type, length: h.length })
  switch (h.type) {
    case NBD_REPLY_TYPE_NONE:
      if (h.length !== 0) throw bad('NONE carries no payload')
      return
    case NBD_REPLY_TYPE_OFFSET_DATA:
      if (request.type !== 'read') throw bad('data in reply to a non-read')
      if (h.length < 9 || h.length - 8 > request.length) throw bad(`data must be 1..${request.length} bytes`)
      return
    case NBD_REPLY_TYPE_OFFSET_HOLE:
      if (request.type !== 'read') throw bad('hole in reply to a non-read')
      if (h.length !== 12) throw bad('a hole is 12 bytes')
      return
    case NBD_REPLY_TYPE_BLOCK_STATUS:
      if (request.type !== 'block-status') throw bad('block status in reply to a read')
      if (h.length < 12 || (h.length - 4) % 8 !== 0) throw bad('block status is 4 + 8n bytes, n >= 1')
      if ((h.length - 4) / 8 > MAX_EXTENTS_PER_REPLY) throw bad(`more than ${MAX_EXTENTS_PER_REPLY} extents`)
      return
    default:
      if (!isErrorChunk(h.type)) throw bad('unknown chunk type')
      if (h.length < 6 || h.length > MAX_ERROR_PAYLOAD_BYTES) throw bad(`error chunks are 6..${MAX_ERROR_PAYLOAD_BYTES} bytes`)
  }
}

/** The 8-byte offset at the head of OFFSET_DATA. */
export function decodeDataOffset (b: Uint8Array): number {
  return u64(view(b), 0, 'data offset')
}

/** An OFFSET_HOLE payload. */
export function decodeHole (p: Uint8Array): { offset: number, length: number } {
  const dv = view(p)
  const length = dv.getUint32(8)
  if (length === 0) throw protocolError('empty hole')
  return { offset: u64(dv, 0, 'hole offset'), length }
}

export interface BlockStatusChunk {
  contextId: number
  extents: Array<{ length: number, flags: number }>
}

/** A BLOCK_STATUS payload: context id then (length, flags) descriptors, none empty. */
export function decodeBlockStatus (p: Uint8Array): BlockStatusChunk {
  const dv = view(p)
  const extents: Array<{ length: number, flags: number }> = []
  for (let at = 4; at + 8 <= p.length; at += 8) {
    const length = dv.getUint32(at)
    if (length === 0) throw protocolError('empty block status extent')
    extents.push({ length, flags: dv.getUint32(at + 4) })
  }
  return { contextId: dv.getUint32(0), extents }
}

export interface ErrorChunk {
  /** Raw error value from the wire. */
  errno: number
  /** Its name (EIO, EINVAL...); values the spec does not define count as EINVAL, as it says. */
  name: string
  message: string
  /** For ERROR_OFFSET: where the error happened. */
  offset?: number
}

/** An error chunk (ERROR, ERROR_OFFSET or an unknown type with bit 15 set). */
export function decodeErrorChunk (type: number, p: Uint8Array): ErrorChunk {
  const dv = view(p)
  const errno = dv.getUint32(0)
  const messageLength = dv.getUint16(4)
  const tail = type === NBD_REPLY_TYPE_ERROR_OFFSET ? 8 : 0
  if (p.length < 6 + tail) throw protocolError(`error chunk type ${type} too short`)
  if (6 + messageLength + tail > p.length) throw protocolError('error message longer than its chunk')
  if (errno === 0) throw protocolError('error chunk with error value 0')
  const out: ErrorChunk = { errno, name: errnoName(errno), message: new TextDecoder().decode(p.subarray(6, 6 + messageLength)) }
  if (type === NBD_REPLY_TYPE_ERROR_OFFSET) out.offset = u64(dv, 6 + messageLength, 'error offset')
  return out
}

/** The NBD errno name; values the spec does not define are EINVAL. */
export function errnoName (errno: number): string {
  return NBD_ERRNO_NAMES[errno] ?? 'EINVAL'
}
