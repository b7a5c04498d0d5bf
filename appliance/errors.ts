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
  /** A failure no layer classified (a bug, or an unforeseen system error); the message says what failed. */
  APP_UNEXPECTED: 'APP_UNEXPECTED'
} as const

export type AppErrorCode = typeof AppErrorCode[keyof typeof AppErrorCode]

export class AppError extends Error {
  readonly code: AppErrorCode
  constructor (code: AppErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.code = code
  }
}
