/**
 * Limits and timeouts of drills (docs/failover.md "Drills"), each with its reason.
 */

/**
 * Default wait for a sign of life. Under TCG (no usable KVM) a Debian
 * system reached its services in 30 to 40 s on an idle development box
 * (docs/platform-notes.md); five minutes covers a loaded box and a slow
 * guest. Under KVM a boot takes seconds: callers may pass less.
 */
export const DEFAULT_SIGN_OF_LIFE_TIMEOUT_MS = 5 * 60_000

/** Longest serial pattern accepted: a console marker or prompt is a few dozen characters; a longer pattern is a mistake. */
export const MAX_SERIAL_PATTERN_CHARS = 256

/**
 * Characters of one serial console line a pattern is tested against. Real
 * console lines are under 200 characters; a guest that never prints a
 * newline has its output cut into pieces of this length, so the pattern
 * always runs on a bounded string.
 */
export const MAX_SERIAL_LINE_CHARS = 4096

/** Bytes read from the serial log at a time: only the new bytes are read, in pieces of at most this. */
export const SERIAL_READ_CHUNK_BYTES = 64 * 1024

/**
 * Memory of the worker that watches the serial log: it holds one read
 * buffer, one line and the compiled pattern; this bounds what a
 * pathological pattern can take.
 */
export const SERIAL_WORKER_HEAP_MIB = 32

/**
 * Least time between two attempts to reach the guest agent. An attempt
 * waits up to TIMEOUT_AGENT_SYNC_MS for the agent's sync reply, so this
 * only paces attempts that fail at once (the socket is not there).
 */
export const AGENT_RETRY_MS = 1_000

/**
 * Largest screenshot file read back (PNG) or converted (PPM, 3 bytes a
 * pixel): a 3840x2160 PPM is 24 MiB. A larger file is not a screen.
 */
export const MAX_SCREENSHOT_BYTES = 64 * 1024 * 1024

/** Widest or tallest screenshot accepted, in pixels (QEMU's VGA devices stop far below). */
export const MAX_SCREENSHOT_SIDE = 16_384
