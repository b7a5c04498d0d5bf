/** Limits and defaults of the libp2p node, each with its reason. */

/** Default listen address: all IPv4 interfaces, TCP 7450 (one site opens this port, the other dials out). */
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/7450']

/** A dial that has not connected in this long fails: a box on a WAN answers in well under a second. */
export const TIMEOUT_DIAL_MS = 10_000

/** Inbound connections at once: two paired boxes need a handful; more is someone probing. */
export const MAX_CONNECTIONS = 16

/**
 * Inbound connections from peers that are not paired, at once: they exist
 * only while a pairing window is open, and one pairing needs one. The cap
 * keeps MAX_CONNECTIONS - MAX_UNPAIRED_CONNECTIONS slots for paired peers,
 * so strangers that connect during a window cannot lock the paired box out.
 */
export const MAX_UNPAIRED_CONNECTIONS = 4
