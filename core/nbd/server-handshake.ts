import type { Socket } from 'node:net'
import type { ByteReader } from './byte-reader.ts'
import {
  BASE_ALLOCATION, BASE_ALLOCATION_CONTEXT_ID, MAX_OPTION_DATA_BYTES, MAX_OPTIONS, MAX_REQUEST_BYTES,
  NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_FLAG_CAN_MULTI_CONN, NBD_FLAG_HAS_FLAGS, NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_DF, NBD_FLAG_SEND_FLUSH, NBD_OPT_ABORT, NBD_OPT_EXPORT_NAME, NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, NBD_REP_ERR_INVALID,
  NBD_REP_ERR_UNKNOWN, NBD_REP_ERR_UNSUP, NBD_REP_INFO, NBD_REP_META_CONTEXT, NBD_REP_SERVER, OPTION_HEADER_BYTES
} from './constants.ts'
import { preferredBlockSize, type NbdExport } from './export.ts'
import {
  clientViolation, decodeExportName, decodeExportRequest, decodeMetaContextRequest, decodeOptionHeader,
  encodeBlockSizeInfo, encodeExportInfo, encodeExportNameReply, encodeGreeting, encodeMetaContext, encodeOptionReply,
  encodeServerEntry
} from './server-codec.ts'

/** What option haggling settled for the transmission phase. */
export interface ClientSession {
  export: NbdExport
  /** The client negotiated structured replies (READ answers in chunks, BLOCK_STATUS possible). */
  structured: boolean
  /** base:allocation was selected for this export: BLOCK_STATUS is answered with its id. */
  allocation: boolean
}

const KNOWN_CLIENT_FLAGS = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES

/** Transmission flags: read-only, FLUSH accepted (a no-op: nothing is ever written), several connections alike, DF once chunks are on. */
export function transmissionFlags (structured: boolean): number {
  return NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY | NBD_FLAG_SEND_FLUSH | NBD_FLAG_CAN_MULTI_CONN | (structured ? NBD_FLAG_SEND_DF : 0)
}

/** The meta contexts a query list selects on `e`: base:allocation when asked for (listing: also by `base:` or no query) and `e` has extents. */
function selectedContexts (e: NbdExport, queries: string[], listing: boolean): boolean {
  if (e.extents === undefined) return false
  if (listing && queries.length === 0) return true
  return queries.some(q => q === BASE_ALLOCATION || (listing && q === 'base:'))
}

/**
 * The server's side of the fixed-newstyle handshake, from the greeting to
 * the end of option haggling (docs/nbd-server.md lists what is answered
 * how). Resolves with the session when the client enters transmission
 * (NBD_OPT_GO, NBD_OPT_EXPORT_NAME), undefined when it aborts
 * (NBD_OPT_ABORT, acknowledged). Throws CORE_NBD_PROTOCOL when the client
 * must be hung up on (bad magic, unknown client flags, non-fixed newstyle,
 * option data over MAX_OPTION_DATA_BYTES, more than MAX_OPTIONS options, an
 * unknown export by NBD_OPT_EXPORT_NAME), or the reader's end error.
 * A state machine over the socket; long because the options are one switch.
 */
export async function negotiateWithClient (socket: Socket, reader: ByteReader, exports: ReadonlyMap<string, NbdExport>): Promise<ClientSession | undefined> {
  socket.write(encodeGreeting())
  const cf = await reader.read(4)
  const clientFlags = new DataView(cf.buffer, cf.byteOffset, 4).getUint32(0)
  if ((clientFlags & ~KNOWN_CLIENT_FLAGS) !== 0) throw clientViolation(`unknown client flags 0x${clientFlags.toString(16)}`)
  if ((clientFlags & NBD_FLAG_C_FIXED_NEWSTYLE) === 0) throw clientViolation('the client does not speak fixed newstyle')
  const noZeroes = (clientFlags & NBD_FLAG_C_NO_ZEROES) !== 0

  let structured = false
  // The export name SET_META_CONTEXT last selected base:allocation for; it applies only if GO names the same export.
  let allocationFor: string | undefined
  const reply = (option: number, type: number, payload?: Uint8Array): void => { socket.write(encodeOptionReply(option, type, payload)) }

  for (let n = 0; n < MAX_OPTIONS; n++) {
    const { option, length } = decodeOptionHeader(await reader.read(OPTION_HEADER_BYTES))
    if (length > MAX_OPTION_DATA_BYTES) throw clientViolation(`option ${option} with ${length} bytes of data (at most ${MAX_OPTION_DATA_BYTES})`)
    const data = length === 0 ? new Uint8Array(0) : await reader.read(length)
    switch (option) {
      case NBD_OPT_EXPORT_NAME: {
        const name = decodeExportName(data)
        const e = name === undefined ? undefined : exports.get(name)
        // This option cannot be answered with an error: the spec says hang up.
        if (e === undefined) throw clientViolation('NBD_OPT_EXPORT_NAME of an unknown export')
        socket.write(encodeExportNameReply(e.size, transmissionFlags(structured), noZeroes))
        return { export: e, structured, allocation: structured && allocationFor === e.name }
      }
      case NBD_OPT_ABORT:
        reply(option, NBD_REP_ACK)
        return undefined
      case NBD_OPT_LIST:
        if (length !== 0) { reply(option, NBD_REP_ERR_INVALID); break }
        for (const name of exports.keys()) reply(option, NBD_REP_SERVER, encodeServerEntry(name))
        reply(option, NBD_REP_ACK)
        break
      case NBD_OPT_INFO:
      case NBD_OPT_GO: {
        const asked = decodeExportRequest(data)
        if (asked === undefined) { reply(option, NBD_REP_ERR_INVALID); break }
        const e = exports.get(asked.name)
        if (e === undefined) { reply(option, NBD_REP_ERR_UNKNOWN); break }
        reply(option, NBD_REP_INFO, encodeExportInfo(e.size, transmissionFlags(structured)))
        // Sent whether asked or not (as QEMU does): minimum 1 is the default, so no client is constrained by it.
        reply(option, NBD_REP_INFO, encodeBlockSizeInfo(1, preferredBlockSize(e), MAX_REQUEST_BYTES))
        reply(option, NBD_REP_ACK)
        if (option === NBD_OPT_GO) return { export: e, structured, allocation: structured && allocationFor === e.name }
        break
      }
      case NBD_OPT_STRUCTURED_REPLY:
        if (length !== 0 || structured) { reply(option, NBD_REP_ERR_INVALID); break }
        structured = true
        reply(option, NBD_REP_ACK)
        break
      case NBD_OPT_LIST_META_CONTEXT:
      case NBD_OPT_SET_META_CONTEXT: {
        const listing = option === NBD_OPT_LIST_META_CONTEXT
        // SET replaces the selection even when it fails (the spec).
        if (!listing) allocationFor = undefined
        const asked = decodeMetaContextRequest(data)
        if (!structured || asked === undefined) { reply(option, NBD_REP_ERR_INVALID); break }
        const e = exports.get(asked.name)
        if (e === undefined) { reply(option, NBD_REP_ERR_UNKNOWN); break }
        if (selectedContexts(e, asked.queries, listing)) {
          // LIST's ids are reserved: zero.
          reply(option, NBD_REP_META_CONTEXT, encodeMetaContext(listing ? 0 : BASE_ALLOCATION_CONTEXT_ID, BASE_ALLOCATION))
          if (!listing) allocationFor = e.name
        }
        reply(option, NBD_REP_ACK)
        break
      }
      default:
        // STARTTLS included: this server speaks plain text on a private Unix socket only.
        reply(option, NBD_REP_ERR_UNSUP)
    }
  }
  throw clientViolation(`more than ${MAX_OPTIONS} options`)
}
