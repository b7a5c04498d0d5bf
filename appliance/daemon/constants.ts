/** Limits and timeouts of the daemon, each with its reason. */

/**
 * How long stop() waits for the Replica's open stores to close once the
 * receiver has stopped: a store closes after its commit's image update and
 * pruning, which on a large disk can outlast a systemd stop timeout. What is
 * left is finished by the store's next writer (docs/store-format.md), so
 * giving up here loses nothing.
 */
export const TIMEOUT_STORES_CLOSE_MS = 10_000

/** Addresses an invite carries: p2p's limit (window.ts MAX_ADDRESSES). */
export const MAX_INVITE_ADDRESSES = 8

/** Longest multiaddr an invite carries (p2p's check in decodeInvite). */
export const MAX_INVITE_ADDRESS_CHARS = 256

/** Longest pairing window an operator may ask for: a day; longer gives an attacker more time for nothing. */
export const MAX_PAIRING_TTL_MS = 24 * 3_600_000

/** Shortest pairing window: below a few seconds nobody can type the PIN on the other box. */
export const MIN_PAIRING_TTL_MS = 1_000

/** vCPUs of a VM added without `--cpus`: one is enough to boot anything, and the operator raises it. */
export const DEFAULT_VM_CPUS = 1

/** Memory of a VM added without `--memory`, in MiB: enough for a small Linux server or appliance. */
export const DEFAULT_VM_MEMORY_MIB = 1024
