/**
 * NBD wire numbers (doc/proto.md of the NetworkBlockDevice/nbd project) and
 * the limits and timeouts of our client (docs/nbd-client.md) and server
 * (docs/nbd-server.md), each with its reason.
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
/** The server accepts NBD_CMD_FLUSH. */
export const NBD_FLAG_SEND_FLUSH = 1 << 2
/** The server honours NBD_CMD_FLAG_DF (one content chunk per READ); only with structured replies. */
export const NBD_FLAG_SEND_DF = 1 << 7
/** Several connections to the export see the same data (nothing is cached per connection). */
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8

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
export const NBD_CMD_WRITE = 1
export const NBD_CMD_DISC = 2
export const NBD_CMD_FLUSH = 3
export const NBD_CMD_TRIM = 4
export const NBD_CMD_CACHE = 5
export const NBD_CMD_WRITE_ZEROES = 6
export const NBD_CMD_BLOCK_STATUS = 7
export const NBD_CMD_RESIZE = 8
/** READ: answer with at most one content chunk. */
export const NBD_CMD_FLAG_DF = 1 << 2
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
export const NBD_EPERM = 1
export const NBD_EIO = 5
export const NBD_EINVAL = 22
export const NBD_ESHUTDOWN = 108

// --- Sizes of fixed wire structures ---

export const OPTION_HEADER_BYTES = 16
export const OPTION_REPLY_HEADER_BYTES = 20
export const REQUEST_BYTES = 28
export const SIMPLE_REPLY_BYTES = 16
export const STRUCTURED_REPLY_HEADER_BYTES = 20
/** The greeting: NBDMAGIC, IHAVEOPT, 16-bit handshake flags. */
export const GREETING_BYTES = 18
/** Zero padding after the NBD_OPT_EXPORT_NAME reply, unless the client asked for NO_ZEROES. */
export const EXPORT_NAME_PADDING_BYTES = 124

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
 * are also split there when the server advertises more. Our server
 * advertises it as its maximum block size and refuses longer requests.
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

// --- Our server's limits (docs/nbd-server.md) ---

/**
 * Clients one server serves at once: QEMU opens one connection per NBD node
 * (the VM's disk, plus one for a mirror or stream job), nbdinfo one. Eight
 * leave room and bound the server's memory (MAX_PENDING_REPLY_BYTES each).
 */
export const MAX_CONNECTIONS = 8

/**
 * Longest Unix socket path a client can connect to: Linux's sun_path holds
 * 108 bytes with the terminating NUL. The server binds in a private
 * directory and links the socket into place, so a longer path would be
 * created and still refuse every client: it is refused at start instead.
 */
export const MAX_SOCKET_PATH_BYTES = 107
/**
 * Option data the server reads: GO/INFO and the meta context options carry
 * an export name (a spec string) plus a few short items; four spec strings
 * is far beyond any real client. Longer is a hard disconnect, before
 * anything is buffered on its account (the spec allows it against denial of service).
 */
export const MAX_OPTION_DATA_BYTES = 4 * MAX_STRING_BYTES
/** Options in one handshake: QEMU sends a handful, `nbdinfo --list` a few per export; more is a client looping. */
export const MAX_OPTIONS = 256
/**
 * Requests a connection works on or holds unsent replies for; further
 * requests are left unread in the socket until replies drain
 * (backpressure). QEMU's own server works on 16 per client, and QEMU's
 * client sends at most 16.
 */
export const MAX_PENDING_REQUESTS = 16
/**
 * Reply bytes a connection holds (data being read for it or written but
 * not yet taken by the socket) before it stops reading requests. A request
 * of up to MAX_REQUEST_BYTES is always admitted when nothing is pending, so
 * a connection holds at most this plus one request: a client that never
 * reads its replies cannot make the server buffer more.
 */
export const MAX_PENDING_REPLY_BYTES = 32 * 1024 * 1024
/**
 * Received bytes the server buffers before pausing a client's socket:
 * requests are 28 bytes (WRITE payloads are skipped, never kept), so 1 MiB
 * is tens of thousands of them, and a flood of requests stays in the client's socket.
 */
export const SERVER_READ_BUFFER_HIGH_WATER = 1024 * 1024
/**
 * Descriptors in one BLOCK_STATUS reply (64 KiB of them). The spec lets a
 * server answer fewer than asked; clients continue where a reply stops.
 */
export const MAX_REPLY_EXTENTS = 8192
/** The one meta context the spec defines: allocation (holes, zeros). */
export const BASE_ALLOCATION = 'base:allocation'
/** base:allocation's context id on our server: any number, unique among the contexts of a connection. */
export const BASE_ALLOCATION_CONTEXT_ID = 1
/**
 * From accept to the end of option haggling: a real client needs
 * milliseconds; a client that connects and stalls holds a connection slot
 * for at most this long.
 */
export const TIMEOUT_SERVER_HANDSHAKE_MS = 10_000
