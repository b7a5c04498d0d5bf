/**
 * The relationship protocol's id, limits and timeouts, each with its reason
 * (docs/relationship-protocol.md). The bounds are the wire's: wider than
 * what the appliance's settings allow (so that a change of policy there
 * needs no new protocol version), narrow enough that a hostile or mistyped
 * value is refused at the boundary. The Replica's registrar applies its own
 * policy on top (P2P_RELATIONSHIP_REFUSED).
 */

/** Protocol id; the version changes with any incompatible message change (a new id, served beside the old one while both are in use). */
export const RELATIONSHIP_PROTOCOL = '/tandem/relationship/1.0.0'

/**
 * Largest frame either side sends or reads. The largest valid offer (64
 * disks with 64-character names, 16 NICs with 32-character models, each
 * with its mode, a 15-character bridge and a MAC) encodes to under 9 KiB
 * without its optional kernel boot, and to under 12 KiB with one at its
 * bounds (tested); the rest leaves room for optional fields a
 * later version adds and still bounds what a peer can make us buffer.
 */
export const MAX_RELATIONSHIP_FRAME_BYTES = 16 * 1024

/** vCPUs of a protected VM: above any VM a branch-office box runs (the QEMU driver allows 64); more is a mistake. */
export const MAX_VCPUS = 256
/** Memory of a protected VM: 4 TiB in MiB, above any box Tandem runs on (the QEMU driver allows 1 TiB). */
export const MAX_MEMORY_MIB = 4 * 1024 * 1024
/** NICs of a protected VM: each takes a PCI slot of QEMU's `pc` machine (the QEMU driver allows 8). */
export const MAX_NICS = 16
/** A NIC model: a QEMU device name such as `virtio-net-pci` or `e1000`; 32 characters is well above any. */
export const NIC_MODEL_PATTERN = /^[a-z0-9][a-z0-9._-]{0,31}$/
/** A host bridge's name: a Linux interface name, at most 15 characters (IFNAMSIZ - 1). */
export const NIC_BRIDGE_PATTERN = /^[A-Za-z0-9_.-]{1,15}$/
/** A unicast MAC (the lowest bit of the first octet clear), colon-separated. */
export const NIC_MAC_PATTERN = /^[0-9a-fA-F][02468aceACE](:[0-9a-fA-F]{2}){5}$/

/**
 * A kernel or initrd path of a VM that boots a kernel directly, in UTF-8
 * bytes: the primary's own paths (such as `/var/lib/tandem/boot/vmlinuz`)
 * are well under this; with the command line below, a kernel boot adds at
 * most 3 KiB to an offer.
 */
export const MAX_BOOT_PATH_BYTES = 512
/** The kernel command line of a VM that boots a kernel directly, in UTF-8 bytes: x86 Linux reads at most 2048 (COMMAND_LINE_SIZE). */
export const MAX_BOOT_APPEND_BYTES = 2048

/**
 * Listen addresses an old primary names in its answer to `reverse`: a box
 * listens on a few; 16 of at most 256 characters stay far inside a frame.
 */
export const MAX_ANSWER_ADDRESSES = 16
/** One multiaddr as text: an IPv6 address, a port and a peer id take about 120 characters. */
export const MAX_ADDRESS_CHARS = 256

/** Longest cycle frequency: a day. A relationship whose newest point may be older is not protecting anything. */
export const MAX_FREQUENCY_MS = 24 * 60 * 60 * 1000
/** Longest app-consistent interval: a week (Hyper-V allows 12 hours). */
export const MAX_APP_CONSISTENT_MS = 7 * 24 * 60 * 60 * 1000
/** Largest bandwidth limit: 1 TB/s, far above any link; more is a mistake. */
export const MAX_BANDWIDTH_BYTES_PER_SECOND = 1e12

/** The Replica's wait for the request once a stream is open: the primary sends its one small message at once. */
export const TIMEOUT_REQUEST_MS = 10_000
/** The registrar's time to record a request: one small file written and synced, on a box whose disk may be busy replicating. */
export const TIMEOUT_RECORD_MS = 30_000
/** The primary's wait for the answer: the Replica's record time plus a margin for the link. */
export const TIMEOUT_ANSWER_MS = TIMEOUT_RECORD_MS + 15_000
/** How long a side that answered or failed waits for its close to pass to the transport before it aborts the stream. */
export const TIMEOUT_CLOSE_MS = 5_000
/** Requests at once per connection: a primary sends one per relationship it changes; more in flight is not an honest primary. */
export const MAX_INBOUND_STREAMS = 8
