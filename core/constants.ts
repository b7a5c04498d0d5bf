/**
 * Limits and defaults of the core engine, each with its reason.
 */

/**
 * Default block size: 64 KiB. Measured (docs/block-size.md): BLAKE3 hashes 64 KiB
 * blocks at ~5.5 GB/s per core against ~6.8 for 1 MiB, so the scan costs little
 * more, while a scattered small write costs 16x fewer bytes on the wire than with
 * 1 MiB blocks. It also matches QEMU's default dirty-bitmap granularity (64 KiB).
 */
export const DEFAULT_BLOCK_SIZE = 64 * 1024

/** Smallest block size: below 4 KiB the manifest (32 B/block) outgrows its use. */
export const MIN_BLOCK_SIZE = 4 * 1024

/** Largest block size: larger blocks resend too much for small writes and pin memory per worker. */
export const MAX_BLOCK_SIZE = 4 * 1024 * 1024

/** BLAKE3-256 digest length in bytes. */
export const HASH_LENGTH = 32

/**
 * Bytes a scan worker reads and hashes per task. Measured on 2 cores: 4 MiB
 * scans as fast as 8 MiB (the thread hop is tens of microseconds) and its
 * read buffers, compression arenas and result buffers cut the initial
 * replication's peak RSS by ~50 MiB.
 */
export const SCAN_CHUNK_BYTES = 4 * 1024 * 1024

/**
 * Bytes of disk a scan asks a view's data extents for at once: one NBD
 * BLOCK_STATUS request, or one walk of a file's holes. A window's answer
 * and its pieces are all that is held, so a fragmented terabyte disk costs
 * no more memory than a 1 GiB one; 20 questions scan a 20 GiB disk.
 */
export const SCAN_EXTENT_WINDOW_BYTES = 1024 * 1024 * 1024

/**
 * Scan tasks queued per worker thread. Tasks that name a file descriptor
 * carry no data, so a deeper queue costs nothing and hides the thread hop
 * between tasks (measured: 7-12% idle per worker with 2).
 */
export const SCAN_TASKS_PER_THREAD = 4

/**
 * Result buffers a scan pool keeps for reuse once their consumer gives them
 * back (ScanPool.recycle). Each new result buffer is V8 external memory, and
 * every 64 MB of it that outlives the young generation starts a full
 * collection on the consuming thread: reusing them halved the primary's
 * full collections in bench:p2p (docs/benchmarks.md). A handful covers the
 * tasks in flight.
 */
export const MAX_SPARE_RESULTS = 8

/**
 * Largest pack file before a new one is started. Packs are the unit of
 * deletion when pruning; 64 MiB keeps repacking cheap and file counts low.
 */
export const MAX_PACK_BYTES = 64 * 1024 * 1024

/**
 * Hashes per manifest page (32 KiB values: 64 MiB of disk at 64 KiB blocks).
 * Pages are shared between points, so a cycle writes only the pages whose
 * region changed: for a 1 TiB disk a small change costs a 512 KiB page list
 * plus the changed pages, not a 512 MiB manifest.
 */
export const MANIFEST_PAGE_HASHES = 1024

/** Largest disk accepted: 2^53 bytes keeps every offset an exact JS number. */
export const MAX_DISK_BYTES = Number.MAX_SAFE_INTEGER

/** Default number of additional recovery points kept besides the latest (Hyper-V's maximum is 24). */
export const DEFAULT_ADDITIONAL_POINTS = 24

/** Most additional recovery points a retention policy may keep: far above Hyper-V's 24, and a store's point list stays small enough to list at once. */
export const MAX_ADDITIONAL_POINTS = 10_000

/** Default spacing of additional recovery points: one per hour, like Hyper-V. */
export const DEFAULT_POINT_INTERVAL_MS = 60 * 60 * 1000

/** zstd level for blocks: level 1 compresses ~1.1 GB/s per core at a ratio within 3% of level 3 (docs/compression.md). */
export const ZSTD_LEVEL = 1

/** A compressed block is kept only when it saves at least this fraction; otherwise it is stored raw. */
export const MIN_COMPRESSION_SAVING = 1 / 32

/** Disk names: safe as file names on every filesystem and in LevelDB keys. */
export const DISK_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** Blocks read concurrently when restoring or verifying from packs. */
export const READ_CONCURRENCY = 8

/**
 * Decoded blocks one point export keeps (core/point-export.ts). NBD
 * clients read ranges that straddle or sit inside our blocks (QEMU's
 * requests are 64 KiB-aligned; a block may be 4 MiB): without a cache each
 * read re-reads and re-verifies whole blocks. 16 MiB holds four blocks of
 * the largest size for a few concurrent readers, or 256 of the default size.
 */
export const POINT_EXPORT_CACHE_BYTES = 16 * 1024 * 1024
