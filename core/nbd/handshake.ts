import type { Socket } from 'node:net'
import { CoreError, CoreErrorCode } from '../errors.ts'
import type { ByteReader } from './byte-reader.ts'
import {
  DEFAULT_BLOCK_SIZE, MAX_META_CONTEXTS, MAX_OPTION_REPLIES, MAX_REQUEST_BYTES, NBD_CLISERV_MAGIC,
  NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_FLAG_FIXED_NEWSTYLE, NBD_FLAG_NO_ZEROES, NBD_FLAG_READ_ONLY,
  NBD_INIT_MAGIC, NBD_OPT_GO, NBD_OPT_SET_META_CONTEXT, NBD_OPT_STRUCTURED_REPLY, NBD_OPTS_MAGIC, NBD_REP_ACK,
  NBD_REP_ERR_UNKNOWN, NBD_REP_ERR_UNSUP, NBD_REP_FLAG_ERROR, NBD_REP_INFO, NBD_REP_META_CONTEXT,
  OPTION_ERROR_NAMES, OPTION_REPLY_HEADER_BYTES
} from './constants.ts'
import {
  decodeInfoReply, decodeMetaContextReply, decodeOptionErrorMessage, decodeOptionReplyHeader, encodeClientFlags,
  encodeGoOption, encodeOption, encodeSetMetaContextOption, protocolError
} from './protocol.ts'

export interface BlockSizeConstraints {
  minimum: number
  preferred: number
  maximum: number
}

/** What the handshake settled: the export and the transmission options. */
export interface NegotiatedExport {
  size: number
  readOnly: boolean
  blockSize: BlockSizeConstraints
  metaContexts: Map<string, number>
}

function handshakeFailed (message: string, details?: Record<string, unknown>): CoreError {
  return new CoreError(CoreErrorCode.CORE_NBD_HANDSHAKE_FAILED, message, details === undefined ? {} : { details })
}

/** Why an option was refused, for messages: the reply's name and the server's text. */
function refusal (type: number, payload: Uint8Array): string {
  const name = OPTION_ERROR_NAMES[type] ?? `error 0x${type.toString(16)}`
  const text = decodeOptionErrorMessage(payload)
  return text === '' ? name : `${name}: ${text}`
}

interface OptionReply { type: number, payload: Uint8Array }

async function readOptionReply (reader: ByteReader, option: number): Promise<OptionReply> {
  const header = decodeOptionReplyHeader(await reader.read(OPTION_REPLY_HEADER_BYTES), option)
  const payload = header.length === 0 ? new Uint8Array(0) : await reader.read(header.length)
  return { type: header.type, payload }
}

/**
 * Sends one option and collects its replies: the non-final ones (INFO,
 * META_CONTEXT) through `each`, until ACK (returned) or an error reply
 * (returned too: the caller decides). At most MAX_OPTION_REPLIES replies.
 */
async function haggle (socket: Socket, reader: ByteReader, option: number, message: Uint8Array,
  each: (reply: OptionReply) => void): Promise<OptionReply> {
  socket.write(message)
  for (let i = 0; i <= MAX_OPTION_REPLIES; i++) {
    const reply = await readOptionReply(reader, option)
    if (reply.type === NBD_REP_ACK) {
      if (reply.payload.length !== 0) throw protocolError('NBD_REP_ACK with a payload')
      return reply
    }
    if ((reply.type & NBD_REP_FLAG_ERROR) !== 0) return reply
    each(reply)
  }
  throw protocolError(`more than ${MAX_OPTION_REPLIES} replies to option ${option}`)
}

/**
 * The fixed-newstyle handshake, up to and including NBD_OPT_GO: structured
 * replies (required), the meta contexts asked for (those the server lacks
 * are absent from the result), then GO with NBD_INFO_BLOCK_SIZE.
 * A state machine over the socket; long because the spec's steps are sequential.
 * Throws CORE_NBD_HANDSHAKE_FAILED (refused or lacking), CORE_NBD_PROTOCOL,
 * or the reader's end error (CORE_NBD_DISCONNECTED).
 */
export async function negotiate (socket: Socket, reader: ByteReader, exportName: string, metaContexts: string[]): Promise<NegotiatedExport> {
  const hello = await reader.read(18)
  const dv = new DataView(hello.buffer, hello.byteOffset, hello.byteLength)
  if (dv.getBigUint64(0) !== NBD_INIT_MAGIC) throw protocolError('not an NBD server (bad initial magic)')
  const second = dv.getBigUint64(8)
  if (second === NBD_CLISERV_MAGIC) throw handshakeFailed('the NBD server speaks only the oldstyle handshake, which is not supported')
  if (second !== NBD_OPTS_MAGIC) throw protocolError('bad newstyle magic')
  const serverFlags = dv.getUint16(16)
  if ((serverFlags & NBD_FLAG_FIXED_NEWSTYLE) === 0) throw handshakeFailed('the NBD server does not speak fixed newstyle negotiation')
  // NO_ZEROES only matters after NBD_OPT_EXPORT_NAME, which we never send; asked for when offered all the same.
  socket.write(encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | ((serverFlags & NBD_FLAG_NO_ZEROES) !== 0 ? NBD_FLAG_C_NO_ZEROES : 0)))

  const structured = await haggle(socket, reader, NBD_OPT_STRUCTURED_REPLY, encodeOption(NBD_OPT_STRUCTURED_REPLY), () => {
    throw protocolError('unexpected reply to NBD_OPT_STRUCTURED_REPLY')
  })
  if (structured.type !== NBD_REP_ACK) throw handshakeFailed(`the NBD server refused structured replies (${refusal(structured.type, structured.payload)})`)

  const contexts = new Map<string, number>()
  if (metaContexts.length > 0) {
    const ids = new Set<number>()
    const done = await haggle(socket, reader, NBD_OPT_SET_META_CONTEXT, encodeSetMetaContextOption(exportName, metaContexts), reply => {
      if (reply.type !== NBD_REP_META_CONTEXT) throw protocolError(`reply type ${reply.type} to NBD_OPT_SET_META_CONTEXT`)
      const { id, name } = decodeMetaContextReply(reply.payload)
      if (ids.has(id) || contexts.has(name)) throw protocolError(`meta context ${name} (id ${id}) given twice`)
      if (contexts.size >= MAX_META_CONTEXTS) throw protocolError(`more than ${MAX_META_CONTEXTS} meta contexts`)
      ids.add(id)
      contexts.set(name, id)
    })
    if (done.type === NBD_REP_ERR_UNSUP) contexts.clear()
    else if (done.type !== NBD_REP_ACK) throw handshakeFailed(`the NBD server refused the meta contexts (${refusal(done.type, done.payload)})`, { exportName })
  }

  let size: number | undefined
  let readOnly = false
  let blockSize: BlockSizeConstraints = { ...DEFAULT_BLOCK_SIZE }
  const go = await haggle(socket, reader, NBD_OPT_GO, encodeGoOption(exportName), reply => {
    if (reply.type !== NBD_REP_INFO) throw protocolError(`reply type ${reply.type} to NBD_OPT_GO`)
    const info = decodeInfoReply(reply.payload)
    if (info.type === 'export') {
      size = info.size
      readOnly = (info.flags & NBD_FLAG_READ_ONLY) !== 0
    } else if (info.type === 'block-size') {
      blockSize = { minimum: info.minimum, preferred: info.preferred, maximum: info.maximum }
    }
  })
  if (go.type === NBD_REP_ERR_UNKNOWN) throw handshakeFailed(`the NBD server has no export named ${JSON.stringify(exportName)} (${refusal(go.type, go.payload)})`, { exportName })
  if (go.type === NBD_REP_ERR_UNSUP) throw handshakeFailed('the NBD server does not support NBD_OPT_GO', { exportName })
  if (go.type !== NBD_REP_ACK) throw handshakeFailed(`the NBD server refused export ${JSON.stringify(exportName)} (${refusal(go.type, go.payload)})`, { exportName })
  if (size === undefined) throw protocolError('NBD_OPT_GO acknowledged without NBD_INFO_EXPORT')
  return { size, readOnly, blockSize, metaContexts: contexts }
}

/** The largest READ to send: the server's maximum, capped at ours, a multiple of its minimum. */
export function readChunkBytes (b: BlockSizeConstraints): number {
  const cap = Math.min(b.maximum, MAX_REQUEST_BYTES)
  return Math.max(b.minimum, cap - (cap % b.minimum))
}
