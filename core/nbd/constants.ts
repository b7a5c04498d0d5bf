/**
 * NBD wire numbers (doc/proto.md of the NetworkBlockDevice/nbd project) and
 * this client's limits and timeouts, each with its reason (docs/nbd-client.md).
 */

// --- Handshake magics (64-bit values, network byte order) ---

/** First 8 bytes from every NBD server: ASCII "NBDMAGIC". */
export const NBD_INIT_MAGIC = 0x4e42444d41474943n
/** Second 8 bytes in newstyle negotiation, and the prefix of every client option: ASCII "IHAVEOPT". */
export const NBD_OPTS_MAGIC = 0x49484156454f5054n
/** Second 8 bytes in the obsolete oldstyle negotiation (which we refuse). */
export const NBD_CLISERV_MAGIC = 0x00420281861253n
/** Prefix of every option reply in fixed newstyle negotiation. */
export const NBD_OPT_REPLY_MAGIC = 0x3e889045565a9n

// --- Transmission magics (32-bit) ---

/** Prefix of every request the client sends. */
export const NBD_REQUEST_MAGIC = 0x25609513
/** Prefix of a simple reply (error + cookie, no payload once structured replies are on). */
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698
/** Prefix of a structured reply chunk. */
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef

// --- Handshake flags (server, 16 bits) and client flags (32 bits) ---

/** Server speaks fixed newstyle: options get replies instead of a dropped connection. */
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0
/** Server can skip the 124 zero bytes after NBD_OPT_EXPORT_NAME. */
export const NBD_FLAG_NO_ZEROES = 1 << 1
/** Client speaks fixed newstyle. */
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0
/** Client asks the server to skip the 124 zero bytes (sent only when offered). */
export const NBD_FLAG_C_NO_ZEROES = 1 << 1

// --- Transmission flags (16 bits, in NBD_INFO_EXPORT) ---

/** Always set by a conforming server. */
export const NBD_FLAG_HAS_FLAGS = 1 << 0
/** The export refuses writes. */
export const NBD_FLAG_READ_ONLY = 1 << 1

// --- Options ---

export const NBD_OPT_EXPORT_NAME = 1
export const NBD_OPT_ABORT = 2
export const NBD_OPT_LIST = 3
export const NBD_OPT_STARTTLS = 5
export const NBD_OPT_INFO = 6
export const NBD_OPT_GO = 7
export const NBD_OPT_STRUCTURED_REPLY = 8
export const NBD_OPT_LIST_META_CONTEXT = 9
export const NBD_OPT_SET_META_CONTEXT = 10

// --- Option reply types; errors have bit 31 set ---

export const NBD_REP_ACK = 1
export const NBD_REP_SERVER = 2
export const NBD_REP_INFO = 3
export const NBD_REP_META_CONTEXT = 4
export const NBD_REP_FLAG_ERROR = 0x80000000
export const NBD_REP_ERR_UNSUP = 0x80000001
export const NBD_REP_ERR_POLICY = 0x80000002
export const NBD_REP_ERR_INVALID = 0x80000003
export const NBD_REP_ERR_PLATFORM = 0x80000004
export const NBD_REP_ERR_TLS_REQD = 0x80000005
export const NBD_REP_ERR_UNKNOWN = 0x80000006
export const NBD_REP_ERR_SHUTDOWN = 0x80000007
export const NBD_REP_ERR_BLOCK_SIZE_REQD = 0x80000008
export const NBD_REP_ERR_TOO_BIG = 0x80000009

/** Names of option reply errors, for messages. */
export const OPTION_ERROR_NAMES: Readonly<Record<number, string>> = {
  [NBD_REP_ERR_UNSUP]: 'NBD_REP_ERR_UNSUP',
  [NBD_REP_ERR_POLICY]: 'NBD_REP_ERR_POLICY',
  [NBD_REP_ERR_INVALID]: 'NBD_REP_ERR_INVALID',
  [NBD_REP_ERR_PLATFORM]: 'NBD_REP_ERR_PLATFORM',
  [NBD_REP_ERR_TLS_REQD]: 'NBD_REP_ERR_TLS_REQD',
  [NBD_REP_ERR_UNKNOWN]: 'NBD_REP_ERR_UNKNOWN',
  [NBD_REP_ERR_SHUTDOWN]: 'NBD_REP_ERR_SHUTDOWN',
  [NBD_REP_ERR_BLOCK_SIZE_REQD]: 'NBD_REP_ERR_BLOCK_SIZE_REQD',
  [NBD_REP_ERR_TOO_BIG]: 'NBD_REP_ERR_TOO_BIG'
}

// --- NBD_REP_INFO types ---

export const NBD_INFO_EXPORT = 0
export const NBD_INFO_NAME = 1
export const NBD_INFO_DESCRIPTION = 2
export const NBD_INFO_BLOCK_SIZE = 3

// --- Commands and command flags ---

export const NBD_CMD_READ = 0
export const NBD_CMD_DISC = 2
export const NBD_CMD_BLOCK_STATUS = 7
/** BLOCK_STATUS: one extent only. Unused: it would make continuation slow. */
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3

// --- Structured reply flags and chunk types ---

/** Last chunk of a reply. */
export const NBD_REPLY_FLAG_DONE = 1 << 0
export const NBD_REPLY_TYPE_NONE = 0
export const NBD_REPLY_TYPE_OFFSET_DATA = 1
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5
/** Bit 15 marks every error chunk type, known or not. */
export const NBD_REPLY_TYPE_ERROR_BIT = 1 << 15
export const NBD_REPLY_TYPE_ERROR = NBD_REPLY_TYPE_ERROR_BIT + 1
export const NBD_REPLY_TYPE_ERROR_OFFSET = NBD_REPLY_TYPE_ERROR_BIT + 2

/** The error values the protocol defines; anything else is treated as EINVAL, as the spec says. */
export const NBD_ERRNO_NAMES: Readonly<Record<number, string>> = {
  1: 'EPERM',
  5: 'EIO',
  12: 'ENOMEM',
  22: 'EINVAL',
  28: 'ENOSPC',
  75: 'EOVERFLOW',
  95: 'ENOTSUP',
  108: 'ESHUTDOWN'
}
export const NBD_ESHUTDOWN = 108

// --- Sizes of fixed wire structures ---

export const OPTION_HEADER_BYTES = 16
export const OPTION_REPLY_HEADER_BYTES = 20
export const REQUEST_BYTES = 28
export const SIMPLE_REPLY_BYTES = 16
export const STRUCTURED_REPLY_HEADER_BYTES = 20

// --- Our limits ---

/** Longest string the spec allows (export names, context names, error messages). */
export const MAX_STRING_BYTES = 4096
/** Longest export name we send: the spec's string limit. */
export const MAX_EXPORT_NAME_BYTES = MAX_STRING_BYTES
/** Meta contexts we ask for or accept: base:allocation plus a few dirty bitmaps; a server returning more is hostile. */
export const MAX_META_CONTEXTS = 16
/** Largest option reply payload: a 4-byte id or 2-byte type plus one spec string, with room to spare. */
export const MAX_OPTION_REPLY_BYTES = MAX_STRING_BYTES + 64
/** Non-final replies to one option (INFO, META_CONTEXT): ours need a handful; more means a runaway server. */
export const MAX_OPTION_REPLIES = 64
/**
 * Largest single READ we send, and so the largest data chunk we buffer:
 * 32 MiB is the spec's interoperable maximum and QEMU's limit, so requests
 * are also split there when the server advertises more.
 */
export const MAX_REQUEST_BYTES = 32 * 1024 * 1024
/**
 * Extents in one BLOCK_STATUS chunk: QEMU sends at most 1 MiB of descriptors
 * (131072) per context; a larger chunk is refused before it is buffered.
 */
export const MAX_EXTENTS_PER_REPLY = 128 * 1024
/** Largest error chunk: the 6-byte head, a spec string and an 8-byte offset. */
export const MAX_ERROR_PAYLOAD_BYTES = 6 + MAX_STRING_BYTES + 8
/**
 * Length of one BLOCK_STATUS request: the field is 32 bits; 2 GiB keeps it
 * aligned to any power-of-two minimum block size. Longer ranges continue.
 */
export const MAX_BLOCK_STATUS_LENGTH = 2 ** 31
/**
 * Requests on the wire at once, over all callers: QEMU's server works on 16
 * per client and stops reading beyond that, so more only queue in its socket.
 */
export const MAX_IN_FLIGHT = 16
/** Requests one read() keeps in flight: 4 x 32 MiB keeps a local server busy without hogging the slots. */
export const READ_PIPELINE_DEPTH = 4
/** Received bytes buffered before the socket is paused: two largest chunks. */
export const READ_BUFFER_HIGH_WATER = 2 * MAX_REQUEST_BYTES

/** Block size constraints assumed when the server sends none (the spec's defaults, capped at our request size). */
export const DEFAULT_BLOCK_SIZE = { minimum: 1, preferred: 4096, maximum: MAX_REQUEST_BYTES } as const
/** Largest minimum block size the spec allows (64 KiB). */
export const MAX_MINIMUM_BLOCK_SIZE = 64 * 1024

// --- Timeouts ---

/** Connect through NBD_OPT_GO: a local server answers in milliseconds; 10 s covers a loaded host. */
export const TIMEOUT_HANDSHAKE_MS = 10_000
/** One request, from the call to its last chunk: a 32 MiB read from slow, busy storage stays far below it. */
export const TIMEOUT_REQUEST_MS = 60_000
/** close(): wait for the server to drop the connection after NBD_CMD_DISC before destroying the socket. */
export const TIMEOUT_DISCONNECT_MS = 2_000

// --- Meta context flags ---

/** base:allocation: the extent is not allocated. */
export const NBD_STATE_HOLE = 1 << 0
/** base:allocation: the extent reads as zeros. */
export const NBD_STATE_ZERO = 1 << 1
/** qemu:dirty-bitmap:NAME: the extent is dirty in the bitmap. */
export const NBD_STATE_DIRTY = 1 << 0
