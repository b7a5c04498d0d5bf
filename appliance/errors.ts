/**
 * Errors raised by appliance/ (the CLI and, later, the daemon). Stable
 * upper-case codes, listed in docs/errors.md.
 */
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
  /** A failure no layer classified (a bug, or an unforeseen system error); the message says what failed. */
  APP_UNEXPECTED: 'APP_UNEXPECTED',
  /** No Node.js that can run Tandem: the project's own is not installed (run `npm install`) and this one cannot strip TypeScript types, or type stripping is turned off. Raised by bin/tandem.js before any TypeScript loads. */
  APP_RUNTIME_UNAVAILABLE: 'APP_RUNTIME_UNAVAILABLE'
} as const

export type AppErrorCode = typeof AppErrorCode[keyof typeof AppErrorCode]

export class AppError extends Error {
  readonly code: AppErrorCode
  /** Structured facts for logs and callers (e.g. QEMU's error class); never needed to classify the error, the code does that. */
  readonly details: Record<string, unknown> | undefined
  constructor (code: AppErrorCode, message: string, options: { cause?: unknown, details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
    this.details = options.details
  }
}
