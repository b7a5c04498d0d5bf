/**
 * Pure encoders of the messages our NBD server sends and decoders of those
 * a client sends (doc/proto.md of the NetworkBlockDevice/nbd project); the
 * client's side is protocol.ts. No I/O. Every field from the client is
 * checked here, once: a malformed option body decodes to undefined (the
 * server answers NBD_REP_ERR_INVALID), a bad magic throws CORE_NBD_PROTOCOL
 * (the server hangs up).
 */
import { CoreError, CoreErrorCode } from '../errors.ts'
import {
  GREETING_BYTES, NBD_FLAG_FIXED_NEWSTYLE, NBD_FLAG_NO_ZEROES, NBD_INFO_BLOCK_SIZE, NBD_INFO_EXPORT, NBD_INIT_MAGIC,
  NBD_OPT_REPLY_MAGIC, NBD_OPTS_MAGIC, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_NONE, NBD_REPLY_TYPE_OFFSET_DATA, NBD_REQUEST_MAGIC, NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC, EXPORT_NAME_PADDING_BYTES, OPTION_HEADER_BYTES, OPTION_REPLY_HEADER_BYTES,
  REQUEST_BYTES, SIMPLE_REPLY_BYTES, STRUCTURED_REPLY_HEADER_BYTES
} from './constants.ts'
import { decodeSpecString, encodeString, type Request } from './protocol.ts'

/** A CORE_NBD_PROTOCOL error: a client of our server broke the protocol (the connection is then closed). */
export function clientViolation (message: string): CoreError {
  return new CoreError(CoreErrorCode.CORE_NBD_PROTOCOL, `NBD client broke the protocol: ${message}`)
}

function view (b: Uint8Array): DataView { return new DataView(b.buffer, b.byteOffset, b.byteLength) }

// --- Handshake, server side ---

/** NBDMAGIC, IHAVEOPT and our handshake flags: fixed newstyle, and the zeroes may be skipped. */
export function encodeGreeting (): Uint8Array {
  const b = new Uint8Array(GREETING_BYTES)
  const dv = view(b)
  dv.setBigUint64(0, NBD_INIT_MAGIC)
  dv.setBigUint64(8, NBD_OPTS_MAGIC)
  dv.setUint16(16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)
  return b
}

/** The 16-byte option header: IHAVEOPT (else a violation), option, data length (checked by the caller before reading it). */
export function decodeOptionHeader (b: Uint8Array): { option: number, length: number } {
  const dv = view(b)
  if (b.length !== OPTION_HEADER_BYTES) throw new TypeError('an option header is 16 bytes')
  if (dv.getBigUint64(0) !== NBD_OPTS_MAGIC) throw clientViolation('bad option magic')
  return { option: dv.getUint32(8), length: dv.getUint32(12) }
}

/** One option reply: magic, the option answered, reply type, payload. */
export function encodeOptionReply (option: number, type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(OPTION_REPLY_HEADER_BYTES + payload.length)
  const dv = view(b)
  dv.setBigUint64(0, NBD_OPT_REPLY_MAGIC)
  dv.setUint32(8, option)
  dv.setUint32(12, type)
  dv.setUint32(16, payload.length)
  b.set(payload, OPTION_REPLY_HEADER_BYTES)
  return b
}

/** NBD_REP_INFO payload of NBD_INFO_EXPORT: size and transmission flags. */
export function encodeExportInfo (size: number, flags: number): Uint8Array {
  const b = new Uint8Array(12)
  const dv = view(b)
  dv.setUint16(0, NBD_INFO_EXPORT)
  dv.setBigUint64(2, BigInt(size))
  dv.setUint16(10, flags)
  return b
}

/** NBD_REP_INFO payload of NBD_INFO_BLOCK_SIZE. */
export function encodeBlockSizeInfo (minimum: number, preferred: number, maximum: number): Uint8Array {
  const b = new Uint8Array(14)
  const dv = view(b)
  dv.setUint16(0, NBD_INFO_BLOCK_SIZE)
  dv.setUint32(2, minimum)
  dv.setUint32(6, preferred)
  dv.setUint32(10, maximum)
  return b
}

/** NBD_REP_SERVER payload: one export's name (NBD_OPT_LIST). */
export function encodeServerEntry (name: string): Uint8Array {
  const n = encodeString(name, 'export name')
  const b = new Uint8Array(4 + n.length)
  view(b).setUint32(0, n.length)
  b.set(n, 4)
  return b
}

/** NBD_REP_META_CONTEXT payload: id and name. */
export function encodeMetaContext (id: number, name: string): Uint8Array {
  const n = encodeString(name, 'meta context name')
  const b = new Uint8Array(4 + n.length)
  view(b).setUint32(0, id)
  b.set(n, 4)
  return b
}

/** The reply to NBD_OPT_EXPORT_NAME: size, transmission flags, then 124 zero bytes unless the client asked for NO_ZEROES. */
export function encodeExportNameReply (size: number, flags: number, noZeroes: boolean): Uint8Array {
  const b = new Uint8Array(10 + (noZeroes ? 0 : EXPORT_NAME_PADDING_BYTES))
  const dv = view(b)
  dv.setBigUint64(0, BigInt(size))
  dv.setUint16(8, flags)
  return b
}

/** NBD_OPT_EXPORT_NAME data: the whole body is the name. Undefined when it is not a spec string. */
export function decodeExportName (data: Uint8Array): string | undefined {
  return decodeSpecString(data)
}

/**
 * The export name that starts INFO, GO and the meta context options: a
 * 32-bit length and a spec string, followed by at least `rest` bytes.
 * Returns the name and where the rest starts, or undefined.
 */
function leadingName (data: Uint8Array, rest: number): { name: string, at: number } | undefined {
  if (data.length < 4 + rest) return undefined
  const nameLength = view(data).getUint32(0)
  if (nameLength > data.length - 4 - rest) return undefined
  const name = decodeSpecString(data.subarray(4, 4 + nameLength))
  return name === undefined ? undefined : { name, at: 4 + nameLength }
}

/** NBD_OPT_INFO / NBD_OPT_GO data: name, count, info types. Undefined when malformed. */
export function decodeExportRequest (data: Uint8Array): { name: string, infos: number[] } | undefined {
  const head = leadingName(data, 2)
  if (head === undefined) return undefined
  const dv = view(data)
  const count = dv.getUint16(head.at)
  if (data.length !== head.at + 2 + 2 * count) return undefined
  const infos = Array.from({ length: count }, (_, i) => dv.getUint16(head.at + 2 + 2 * i))
  return { name: head.name, infos }
}

/** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT data: name, count, queries. Undefined when malformed. */
export function decodeMetaContextRequest (data: Uint8Array): { name: string, queries: string[] } | undefined {
  const head = leadingName(data, 4)
  if (head === undefined) return undefined
  const dv = view(data)
  const count = dv.getUint32(head.at)
  let at = head.at + 4
  // Each query takes at least its 4-byte length: a count the data cannot hold is refused before looping.
  if (count > (data.length - at) / 4) return undefined
  const queries: string[] = []
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.length) return undefined
    const length = dv.getUint32(at)
    if (length > data.length - at - 4) return undefined
    const query = decodeSpecString(data.subarray(at + 4, at + 4 + length))
    if (query === undefined) return undefined
    queries.push(query)
    at += 4 + length
  }
  return at === data.length ? { name: head.name, queries } : undefined
}

// --- Transmission, server side ---

/**
 * The 28-byte request header: a bad magic is a violation. The cookie stays
 * a bigint (echoed as sent); an offset beyond 2^53 becomes Infinity, past
 * the end of any export.
 */
export function decodeRequest (b: Uint8Array): Request {
  if (b.length !== REQUEST_BYTES) throw new TypeError('a request is 28 bytes')
  const dv = view(b)
  if (dv.getUint32(0) !== NBD_REQUEST_MAGIC) throw clientViolation('bad request magic')
  const offset = dv.getBigUint64(16)
  return {
    flags: dv.getUint16(4),
    type: dv.getUint16(6),
    cookie: dv.getBigUint64(8),
    offset: offset > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(offset),
    length: dv.getUint32(24)
  }
}

/** A simple reply header (READ data, if any, follows it). */
export function encodeSimpleReply (error: number, cookie: bigint): Uint8Array {
  const b = new Uint8Array(SIMPLE_REPLY_BYTES)
  const dv = view(b)
  dv.setUint32(0, NBD_SIMPLE_REPLY_MAGIC)
  dv.setUint32(4, error)
  dv.setBigUint64(8, cookie)
  return b
}

function chunkHeader (b: Uint8Array, flags: number, type: number, cookie: bigint, length: number): void {
  const dv = view(b)
  dv.setUint32(0, NBD_STRUCTURED_REPLY_MAGIC)
  dv.setUint16(4, flags)
  dv.setUint16(6, type)
  dv.setBigUint64(8, cookie)
  dv.setUint32(16, length)
}

/** The final NONE chunk (success without payload). */
export function encodeNoneChunk (cookie: bigint): Uint8Array {
  const b = new Uint8Array(STRUCTURED_REPLY_HEADER_BYTES)
  chunkHeader(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, 0)
  return b
}

/** The head of a final OFFSET_DATA chunk: chunk header and offset; the `dataLength` bytes follow it. */
export function encodeDataChunkHead (cookie: bigint, offset: number, dataLength: number): Uint8Array {
  const b = new Uint8Array(STRUCTURED_REPLY_HEADER_BYTES + 8)
  chunkHeader(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + dataLength)
  view(b).setBigUint64(STRUCTURED_REPLY_HEADER_BYTES, BigInt(offset))
  return b
}

/** A final ERROR chunk: error value and a short message for people (at most a spec string). */
export function encodeErrorChunk (cookie: bigint, error: number, message: string): Uint8Array {
  const m = encodeString(message, 'error message')
  const b = new Uint8Array(STRUCTURED_REPLY_HEADER_BYTES + 6 + m.length)
  chunkHeader(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie, 6 + m.length)
  const dv = view(b)
  dv.setUint32(STRUCTURED_REPLY_HEADER_BYTES, error)
  dv.setUint16(STRUCTURED_REPLY_HEADER_BYTES + 4, m.length)
  b.set(m, STRUCTURED_REPLY_HEADER_BYTES + 6)
  return b
}

/** A final BLOCK_STATUS chunk for one context: its id, then (length, flags) descriptors. */
export function encodeBlockStatusChunk (cookie: bigint, contextId: number, extents: ReadonlyArray<{ length: number, flags: number }>): Uint8Array {
  const payload = 4 + 8 * extents.length
  const b = new Uint8Array(STRUCTURED_REPLY_HEADER_BYTES + payload)
  chunkHeader(b, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_BLOCK_STATUS, cookie, payload)
  const dv = view(b)
  dv.setUint32(STRUCTURED_REPLY_HEADER_BYTES, contextId)
  extents.forEach((e, i) => {
    dv.setUint32(STRUCTURED_REPLY_HEADER_BYTES + 4 + 8 * i, e.length)
    dv.setUint32(STRUCTURED_REPLY_HEADER_BYTES + 8 + 8 * i, e.flags)
  })
  return b
}
