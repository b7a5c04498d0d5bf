/**
 * Errors raised by appliance/ (the CLI and, later, the daemon). Stable
 * upper-case codes, listed in docs/errors.md.
 */
import { TandemError, type TandemErrorOptions } from '../core/errors.ts'

export const AppErrorCode = {
  /** A command-line argument or option is missing or malformed. */
  APP_USAGE: 'APP_USAGE',
  /** An operation that loses data was asked for without confirmation (`--yes`). */
  APP_CONFIRMATION_REQUIRED: 'APP_CONFIRMATION_REQUIRED',
  /** Verification found damaged or differing blocks. */
  APP_VERIFY_FAILED: 'APP_VERIFY_FAILED',
  /** The paired-peers file exists but is not a valid version 1 document; it is never silently reset (that would unpair every box). */
  APP_PEERS_CORRUPT: 'APP_PEERS_CORRUPT',
  /** The primary's replication state for a relationship is damaged; it is not reset silently (that would resend whole disks). */
  APP_STATE_CORRUPT: 'APP_STATE_CORRUPT',
  /** QEMU refused a QMP command; the message carries QEMU's error class and description, `details` has `{ command, class, desc }`. */
  APP_QMP_ERROR: 'APP_QMP_ERROR',
  /** QEMU is not reachable on its QMP socket, or the connection ended (QEMU exited, was killed, or the client was closed). */
  APP_QMP_DISCONNECTED: 'APP_QMP_DISCONNECTED',
  /** QEMU did not greet, answer a command or send an awaited event in time. */
  APP_QMP_TIMEOUT: 'APP_QMP_TIMEOUT',
  /** QEMU sent malformed or oversized QMP input; the connection is closed. */
  APP_QMP_PROTOCOL: 'APP_QMP_PROTOCOL',
  /** No guest agent answered the synchronization (none running in the guest, or the channel is stuck). */
  APP_AGENT_UNAVAILABLE: 'APP_AGENT_UNAVAILABLE',
  /** The guest agent did not answer a command in time. */
  APP_AGENT_TIMEOUT: 'APP_AGENT_TIMEOUT',
  /** The guest agent returned an error for a command (e.g. a freeze failed). */
  APP_AGENT_ERROR: 'APP_AGENT_ERROR',
  /** qemu-img is missing, failed (its message quoted) or ran past its time limit. */
  APP_QEMU_IMG_FAILED: 'APP_QEMU_IMG_FAILED',
  /** A raw disk's metadata sidecar belongs to another file or another size; it is kept (its bitmaps are the change history) and not replaced silently. */
  APP_SIDECAR_MISMATCH: 'APP_SIDECAR_MISMATCH',
  /** The running QEMU has no block node with the disk's node name. */
  APP_DISK_NODE_MISSING: 'APP_DISK_NODE_MISSING',
  /** A VM definition is malformed or out of range; the message names the field. */
  APP_VM_INVALID: 'APP_VM_INVALID',
  /** QEMU could not start the VM (it exited, or was not running in time); the message quotes the last lines of its stderr. */
  APP_VM_START_FAILED: 'APP_VM_START_FAILED',
  /** The VM is not running under this driver (never started, stopped or crashed). */
  APP_VM_NOT_RUNNING: 'APP_VM_NOT_RUNNING',
  /** A VM of that name is already starting, running or stopping under this driver. */
  APP_VM_ALREADY_RUNNING: 'APP_VM_ALREADY_RUNNING',
  /** Another process holds the disk open for writing (QEMU's image lock), or opened or changed it while it was being read. */
  APP_DISK_IN_USE: 'APP_DISK_IN_USE',
  /** The VM inventory file exists but is not a valid version 1 document; it is never reset (that would forget every VM). */
  APP_INVENTORY_CORRUPT: 'APP_INVENTORY_CORRUPT',
  /** A VM of that name is already in the inventory. */
  APP_VM_EXISTS: 'APP_VM_EXISTS',
  /** A disk file (or sidecar) given for a VM already belongs to another VM of the inventory. */
  APP_DISK_TAKEN: 'APP_DISK_TAKEN',
  /** A failure no layer classified (a bug, or an unforeseen system error); the message says what failed. */
  APP_UNEXPECTED: 'APP_UNEXPECTED',
  /** A relationship setting (frequency, recovery points, app-consistent interval, bandwidth, initial replication) is malformed or out of range; `details.setting` names it. */
  APP_SETTING_INVALID: 'APP_SETTING_INVALID',
  /** The relationship's state does not allow what was asked (e.g. resume while replicating); nothing changed. `details`: `state`, `input`. */
  APP_INVALID_STATE: 'APP_INVALID_STATE',
  /** The relationships file exists but is not a valid version 1 document; it is never silently reset (that would forget what this box protects). */
  APP_RELATIONSHIPS_CORRUPT: 'APP_RELATIONSHIPS_CORRUPT',
  /** The event log had a cut-short or unreadable line (a crash while writing, or damage); the line is skipped and reported, never fatal. */
  APP_EVENT_LOG_DAMAGED: 'APP_EVENT_LOG_DAMAGED',
  /** Tandem does not run this VM (manual driver): it cannot start or stop it, only read its disks while no process holds them. */
  APP_VM_NOT_MANAGED: 'APP_VM_NOT_MANAGED',
  /** Another daemon already runs on this data directory (it holds the directory's lock). */
  APP_DAEMON_RUNNING: 'APP_DAEMON_RUNNING',
  /** The command needs the daemon and none answers on the data directory's API socket; start it with `tandem start`. */
  APP_DAEMON_NOT_RUNNING: 'APP_DAEMON_NOT_RUNNING',
  /** The data directory has no `config.json`: run `tandem init` first. */
  APP_DATA_NOT_INITIALIZED: 'APP_DATA_NOT_INITIALIZED',
  /** `tandem init` was run on a data directory that already holds a `config.json`; nothing was changed. */
  APP_DATA_ALREADY_INITIALIZED: 'APP_DATA_ALREADY_INITIALIZED',
  /** The data directory's `config.json` is not a valid version 1 document (the message names the field); it is never rewritten silently. */
  APP_CONFIG_INVALID: 'APP_CONFIG_INVALID',
  /** The peer is not paired with this box. */
  APP_PEER_NOT_FOUND: 'APP_PEER_NOT_FOUND',
  /** The local API answered with something that is not a valid answer (too large, not JSON, no code) or did not answer in time. */
  APP_API_FAILED: 'APP_API_FAILED',
  /** The daemon could not listen on a configured address (in use by another process, not an address of this host, or not allowed). */
  APP_LISTEN_FAILED: 'APP_LISTEN_FAILED',
  /** No Node.js that can run Tandem: the project's own is not installed (run `npm install`) and this one cannot strip TypeScript types, or type stripping is turned off. Raised by bin/tandem.js before any TypeScript loads. */
  APP_RUNTIME_UNAVAILABLE: 'APP_RUNTIME_UNAVAILABLE',
  /** No relationship by that name on this box: none protects that VM here (as primary: `replication enable` makes one), nor does this box hold one by that name as Replica (nor a removed one's kept points). */
  APP_RELATIONSHIP_NOT_FOUND: 'APP_RELATIONSHIP_NOT_FOUND',
  /** The VM already has a replication relationship (one per VM); `replication remove` ends it first. */
  APP_RELATIONSHIP_EXISTS: 'APP_RELATIONSHIP_EXISTS',
  /** No job of that id: this daemon never ran it, forgot it (it keeps the newest 100 ended jobs), or was restarted since (the event log keeps how it ended). */
  APP_JOB_NOT_FOUND: 'APP_JOB_NOT_FOUND',
  /** The seed names a relationship that this box does not hold as Replica from the box that exported it: import it on that relationship's Replica. */
  APP_SEED_MISMATCH: 'APP_SEED_MISMATCH',
  /** The seed was exported from a bare store (`seed export --store`) and names no relationship: import it offline with `seed import FILE --store DIR`. */
  APP_SEED_NO_ORIGIN: 'APP_SEED_NO_ORIGIN',
  /** No VM of that name is in the inventory (`tandem vm list` shows them). */
  APP_VM_NOT_FOUND: 'APP_VM_NOT_FOUND',
  /** A disk path given for a VM does not exist, or is not a regular file or a block device. */
  APP_DISK_NOT_FOUND: 'APP_DISK_NOT_FOUND',
  /** A disk image is neither raw nor qcow2 (what `qemu-img info` probed); `details.format` names it. */
  APP_DISK_FORMAT_UNSUPPORTED: 'APP_DISK_FORMAT_UNSUPPORTED',
  /** The VM runs under Tandem (qemu driver): stop it first (`tandem vm stop`). */
  APP_VM_RUNNING: 'APP_VM_RUNNING',
  /** A replication relationship protects the VM: remove it first (`tandem replication remove`). `details.relationship` names it. */
  APP_VM_PROTECTED: 'APP_VM_PROTECTED',
  /** The guest did not shut down within the stop's window; the VM still runs (add `--force` to end it). */
  APP_VM_STOP_TIMEOUT: 'APP_VM_STOP_TIMEOUT',
  /** The Replica holds no recovery point of that id for the relationship: none has reached this box yet, or retention pruned it (`tandem points NAME` lists those held). */
  APP_POINT_NOT_FOUND: 'APP_POINT_NOT_FOUND',
  /** QEMU's screendump gave no usable image: not a PNG (or PPM to convert), a size of zero or out of range, or a file too large. docs/failover.md. */
  APP_SCREENSHOT_INVALID: 'APP_SCREENSHOT_INVALID',
  /** No proof of the relationship names that screenshot file, or its file is gone. docs/failover.md "Drills through the daemon". */
  APP_SCREENSHOT_NOT_FOUND: 'APP_SCREENSHOT_NOT_FOUND',
  /** The VM boots a kernel (or initrd) that is not on this box at the path its primary uses: copy it there. `details.file`. docs/failover.md. */
  APP_BOOT_FILE_MISSING: 'APP_BOOT_FILE_MISSING',
  /** A drill saw no sign of life (or could not take its screenshot); the reason says why, and the point is not marked proven. docs/failover.md. */
  APP_DRILL_FAILED: 'APP_DRILL_FAILED',
  /** A failover file (a test's record, a relationship's drill settings or proofs, a failover's record) is not a valid document; it is left as it is, never reset. */
  APP_FAILOVER_FILE_CORRUPT: 'APP_FAILOVER_FILE_CORRUPT',
  /** A kept failover's copy into the VM's own disks (QMP block-stream) ended before it finished; the VM still runs on the served point, what was copied is kept, and `tandem failover complete` again copies only the rest. docs/failover.md. */
  APP_FAILOVER_COPY_FAILED: 'APP_FAILOVER_COPY_FAILED',
  /** No salvage copy of that id is on this box (`tandem salvage list` lists them). docs/failover.md "Salvage". */
  APP_SALVAGE_NOT_FOUND: 'APP_SALVAGE_NOT_FOUND'
} as const

export type AppErrorCode = typeof AppErrorCode[keyof typeof AppErrorCode]

/** An appliance error: a TandemError (core/errors.ts) with an APP_* code; `details` holds structured facts such as QEMU's error class. */
export class AppError extends TandemError {
  declare readonly code: AppErrorCode
  constructor (code: AppErrorCode, message: string, options: TandemErrorOptions = {}) {
    super(code, message, options)
    this.name = 'AppError'
  }
}
