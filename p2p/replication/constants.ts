/** The replication protocol's id, limits and timeouts, each with its reason (docs/replication-protocol.md). */

/** Protocol id; the version changes with any incompatible message change. */
export const REPLICATION_PROTOCOL = '/tandem/replicate/1.0.0'
/** Protocol versions this build speaks, in `hello`. */
export const PROTOCOL_VERSIONS = [1] as const

/** Block data per `blocks` message: 1 MiB keeps Noise frames large (fast) and acks frequent. */
export const MAX_BATCH_DATA_BYTES = 1024 * 1024
/** Entries per `blocks` message: 1 MiB of 4 KiB blocks, or of zero blocks that carry no data. */
export const MAX_BATCH_ENTRIES = 4096
/** Largest frame: a full batch plus its per-entry headers (~45 bytes each) and the map around them. */
export const MAX_REPLICATION_FRAME_BYTES = MAX_BATCH_DATA_BYTES + MAX_BATCH_ENTRIES * 48 + 4096
/** Largest block a relationship may use (core's MAX_BLOCK_SIZE). */
export const MAX_BLOCK_BYTES = 4 * 1024 * 1024
/** Disks per recovery point: a VM with more than 64 disks is not a branch office's. */
export const MAX_DISKS = 64
/** Hashes per `manifest-page` message: core's manifest page (1024 x 32 bytes). */
export const MAX_PAGE_HASHES = 1024
/** Capabilities listed in `hello`. */
export const MAX_CAPABILITIES = 32
/** Default credit: bytes of block data the sender may have sent but not had acknowledged as durable. */
export const DEFAULT_CREDIT_BYTES = 8 * 1024 * 1024
