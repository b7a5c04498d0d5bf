/**
 * Limits and timeouts of the manual driver (docs/vms.md), each with its reason.
 */

/** How often a manual disk's guard re-checks the image lock while the caller reads. */
export const MANUAL_GUARD_INTERVAL_MS = 1_000
