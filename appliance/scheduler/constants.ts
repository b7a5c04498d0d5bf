/**
 * Limits and pauses of the scheduler (docs/scheduler.md), each with its reason.
 */

/** First pause before retrying a cycle that failed on the network: long enough for a dropped link to come back, short against a 30 s frequency. */
export const RETRY_INITIAL_MS = 2_000
/** Longest pause between retries: a box that stays unreachable is tried every few minutes, not hammered; the relationship's health says it is failing. */
export const RETRY_MAX_MS = 5 * 60_000
/** Each failed retry doubles the pause (up to RETRY_MAX_MS). */
export const RETRY_FACTOR = 2
/**
 * Pause after a cycle of a `continuous` relationship before the next: the
 * next cycle starts at once otherwise, and an idle VM would spin through
 * empty cycles; one second bounds that to one cheap cycle a second.
 */
export const CONTINUOUS_PAUSE_MS = 1_000
/**
 * Cycles running at once across all relationships: a cycle hashes and
 * compresses on the scan pool's threads (one per core on a 2-core box);
 * more cycles at once only share the same cores and the same link.
 */
export const MAX_CONCURRENT_CYCLES = 2
