/**
 * The replication protocol's id, limits and timeouts, each with its reason
 * (docs/replication-protocol.md). Limits that are core's (block sizes, hash
 * length, manifest page, disk names) come from core/constants.ts, never restated.
 */
import { MANIFEST_PAGE_HASHES, MAX_BLOCK_SIZE } from '../../core/constants.ts'

/**
 * Protocol id: names the protocol, its framing and `hello`. The messages'
 * version is negotiated by `hello` (PROTOCOL_VERSIONS), so an older peer
 * hears P2P_VERSION_UNSUPPORTED rather than an unsupported protocol.
 */
export const REPLICATION_PROTOCOL = '/tandem/replicate/1.0.0'
/**
 * Message versions this build speaks, in `hello`. 2: `manifest-request`
 * carries the primary's term (a v1 one could not be checked against the
 * Replica's record, so v1 is no longer spoken: docs/replication-protocol.md "Versions").
 */
export const PROTOCOL_VERSIONS = [2] as const

/**
 * Raw block bytes the sender puts in one `blocks` message. 2 MiB rather than
 * 1 MiB: half the messages, frames, acks and window updates per GiB cost ~7%
 * less CPU on both sides together and ran ~5% faster in bench:p2p (12
 * interleaved runs, docs/benchmarks.md); the 8 MiB credit still holds three.
 */
export const TARGET_BATCH_RAW_BYTES = 2 * 1024 * 1024
/** Block data per `blocks` message: a target batch, or one block of the largest size (core's MAX_BLOCK_SIZE). */
export const MAX_BATCH_DATA_BYTES = Math.max(TARGET_BATCH_RAW_BYTES, MAX_BLOCK_SIZE)
/** Entries per `blocks` message: a batch of 4 KiB blocks (512) with room to spare, or a run of zero blocks that carry no data. */
export const MAX_BATCH_ENTRIES = 4096
/** Largest frame: a full batch plus its per-entry headers (~45 bytes each) and the map around them. */
export const MAX_REPLICATION_FRAME_BYTES = MAX_BATCH_DATA_BYTES + MAX_BATCH_ENTRIES * 48 + 4096
/**
 * Largest disk a cycle or manifest may declare: 64 TiB. Far above any VM
 * disk a branch-office box holds, far below 2^53-1 (where sizes stop being
 * exact numbers); a larger size is malformed, checked at the boundary.
 */
export const MAX_DISK_BYTES = 64 * 1024 ** 4
/**
 * Blocks of all disks of one cycle: 32 Mi (2 TiB of 64 KiB blocks). On
 * `cycle-begin` the Replica allocates 33 bytes per declared block (the
 * manifest being rebuilt, 32, and which indices entries named, 1) before
 * any data arrives, so the declared shape must bound that memory: ~1 GiB,
 * the same bound as the manifests a sender accepts (MAX_MANIFEST_HASH_BYTES).
 */
export const MAX_CYCLE_BLOCKS = 32 * 1024 * 1024
/** Disks per recovery point: a VM with more than 64 disks is not a branch office's. */
export const MAX_DISKS = 64
/**
 * Hashes per `manifest-page` message: core's manifest page, so a stored page
 * travels as one message. A change of core's page size changes what this
 * protocol version accepts: it needs a new protocol version.
 */
export const MAX_PAGE_HASHES = MANIFEST_PAGE_HASHES
/** Capabilities listed in `hello`. */
export const MAX_CAPABILITIES = 32

/** Credit the receiver grants: bytes of block data sent and not yet acknowledged as durable ("a few MiB"). */
export const DEFAULT_CREDIT_BYTES = 8 * 1024 * 1024
/**
 * The receiver checkpoints (fsync, then ack) once this much block data is
 * staged and unacknowledged. It must leave room for one largest batch under
 * the credit, or a sender could wait for an ack that never comes.
 */
export const CHECKPOINT_BYTES = DEFAULT_CREDIT_BYTES - MAX_BATCH_DATA_BYTES - 1024 * 1024

/** A peer's next message during a handshake step (hello, begin, accept, manifest). */
export const TIMEOUT_STEP_MS = 30_000
/** The receiver's wait for the sender's next message; the sender sends `keepalive` well within it while it scans unchanged data. */
export const TIMEOUT_IDLE_MS = 120_000
/** Closing a stream whose session ended: only buffered frames to flush; a peer that stopped reading gets it aborted. */
export const TIMEOUT_CLOSE_MS = 5_000
/** The sender sends `keepalive` after this long without sending anything. */
export const KEEPALIVE_MS = 20_000
/** The sender's wait for an ack while its credit is used up (the receiver fsyncs at least every few MiB). */
export const TIMEOUT_ACK_MS = 120_000
/** The sender's wait for `committed` after `cycle-end`: the receiver rebuilds manifests and commits one batch. */
export const TIMEOUT_COMMIT_MS = 600_000
/** The largest manifest the sender accepts from a Replica: 2 TiB of 64 KiB blocks (core holds manifests in memory). */
export const MAX_MANIFEST_HASH_BYTES = 1024 * 1024 * 1024
/**
 * Block indices a Replica may ask the primary to send again in one
 * `cycle-accept` (healing blocks its store found damaged), over all disks.
 * Bounds the accept frame (at most 5 bytes an index: ~320 KiB, far under a
 * frame) and the extra reading and sending one cycle takes on: 65536 blocks
 * is 4 GiB of 64 KiB blocks. A Replica with more damage asks for the rest in
 * later cycles.
 */
export const MAX_HEAL_BLOCKS = 65536

/**
 * Longest consistency note a cycle-begin may carry (why a point is
 * crash-consistent), in UTF-8 bytes: a line for the operator, kept as the
 * seed format keeps it (4096).
 */
export const MAX_CONSISTENCY_NOTE_BYTES = 4096
