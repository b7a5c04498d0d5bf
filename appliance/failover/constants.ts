/**
 * Limits and intervals of test failovers and drills (docs/failover.md
 * "Test failover"), each with its reason.
 */

/** Shortest drill schedule: a drill boots a VM for minutes under TCG; more often than hourly only loads the box. */
export const MIN_DRILL_EVERY_MS = 60 * 60_000
/** Longest drill schedule: a quarter; a proof older than that says little about today's points. */
export const MAX_DRILL_EVERY_MS = 90 * 24 * 60 * 60_000
/** Shortest time limit for a sign of life: a second (tests; a real guest needs more). */
export const MIN_DRILL_TIMEOUT_MS = 1000
/** Longest time limit for a sign of life: an hour, far above a slow TCG boot (30 to 40 s, docs/platform-notes.md). */
export const MAX_DRILL_TIMEOUT_MS = 60 * 60_000

/**
 * A scheduled drill that finds the VM busy (a test or another drill runs)
 * tries again this much later: a manual test lasts minutes to hours, and a
 * drill a few minutes late proves as much.
 */
export const DRILL_BUSY_RETRY_MS = 10 * 60_000

/** Proofs kept per relationship: the newest ones; a weekly drill fills this in two years. */
export const MAX_PROOFS_KEPT = 100

/**
 * Largest failover file read (a test's record, drill settings, proofs):
 * 100 proofs of under 1 KiB each; a larger file is not ours.
 */
export const MAX_FAILOVER_FILE_BYTES = 256 * 1024

/** Hex characters of a point's root in a screenshot's name: enough to tell points apart at a glance. */
export const SCREENSHOT_ROOT_CHARS = 12

/**
 * How long a failover VM's NBD client waits for its served point to come
 * back (QEMU's `reconnect-delay` on the overlays' backing, in seconds): the
 * serving ends with the daemon, and a daemon restarted by its service
 * manager (or after an upgrade) serves the point again within seconds. The
 * guest's reads of the point and a kept failover's copy wait meanwhile
 * instead of failing; QEMU tries again at 1, 3, 7, 15, 31 s and then
 * every 16 s (measured: docs/failover.md "After a stop or a crash"). Five
 * minutes covers a slow restart; a daemon gone for longer leaves the
 * guest's reads of the point failing (EIO) until it is back.
 */
export const NBD_RECONNECT_DELAY_S = 300

/** How long a cancelled failover's VM may take to shut down before it is forced off: its writes are discarded anyway. */
export const CANCEL_VM_STOP_WINDOW_MS = 1000

/**
 * How long an old primary's guest may take to shut down when a forced
 * reversal stops it before it is powered off: the reversal is answered
 * within the relationship protocol's 30 s, and the guest's writes since the
 * failover are kept in the salvage copy whatever it flushed.
 */
export const REVERSE_VM_STOP_WINDOW_MS = 10_000

/**
 * How long the box that failed over waits for its old primary to take a
 * reversal (dial and answer): the old primary stops its VM first (at most
 * REVERSE_VM_STOP_WINDOW_MS when forced) and records durably, well within it.
 */
export const REVERSE_REQUEST_TIMEOUT_MS = 30_000

/** A planned failover's default window for the guest to shut down: as `tandem vm stop`'s. */
export const PLANNED_SHUTDOWN_WINDOW_MS = 5 * 60_000
/** Shortest and longest window a planned failover takes: a second (tests), an hour (a guest that installs updates on the way down). */
export const MIN_PLANNED_SHUTDOWN_WINDOW_MS = 1000
export const MAX_PLANNED_SHUTDOWN_WINDOW_MS = 60 * 60_000
