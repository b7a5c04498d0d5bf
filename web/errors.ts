/**
 * The API's own error codes, and the one place where an error code becomes
 * an HTTP status (docs/api.md "Errors"). Errors travel as `{ code, message }`;
 * clients match the code, the status is for HTTP tools and browsers.
 */
export const WebErrorCode = {
  /** The request does not match its route's schema (an unknown property, a wrong type, a missing field), is not JSON, or is too large. */
  WEB_BAD_REQUEST: 'WEB_BAD_REQUEST',
  /** No route has that method and path. */
  WEB_NOT_FOUND: 'WEB_NOT_FOUND',
  /** The API socket's path holds something that is not a socket; it is left as it is. */
  WEB_SOCKET_PATH_INVALID: 'WEB_SOCKET_PATH_INVALID',
  /** The browser-facing server: the request needs a session (log in first), or its session ended (logged out, revoked, expired). */
  WEB_LOGIN_REQUIRED: 'WEB_LOGIN_REQUIRED',
  /** A state-changing request without the session's token in its `x-csrf-token` header, or with a wrong one. */
  WEB_CSRF_INVALID: 'WEB_CSRF_INVALID',
  /** The `Host` header names none of the box's own names or addresses (a DNS-rebinding attempt, or a name not configured). */
  WEB_HOST_INVALID: 'WEB_HOST_INVALID',
  /** A login or setup request whose `Origin` is not the server's own. */
  WEB_ORIGIN_INVALID: 'WEB_ORIGIN_INVALID',
  /** Too many login or setup attempts, from this address or in all; wait a minute. */
  WEB_RATE_LIMITED: 'WEB_RATE_LIMITED',
  /** The password is wrong (login). */
  WEB_LOGIN_FAILED: 'WEB_LOGIN_FAILED',
  /** The current password given to change it is wrong. */
  WEB_PASSWORD_WRONG: 'WEB_PASSWORD_WRONG',
  /** No admin password is set yet: set it with the setup code first. */
  WEB_PASSWORD_NOT_SET: 'WEB_PASSWORD_NOT_SET',
  /** The admin password is set already; setup is done once. */
  WEB_PASSWORD_ALREADY_SET: 'WEB_PASSWORD_ALREADY_SET',
  /** The setup code is wrong, or was replaced after too many wrong tries. */
  WEB_SETUP_CODE_INVALID: 'WEB_SETUP_CODE_INVALID',
  /** No session has that id (it ended, or never existed). */
  WEB_SESSION_NOT_FOUND: 'WEB_SESSION_NOT_FOUND',
  /** MAX_LIVE_CLIENTS live streams are open already (or the server is closing). */
  WEB_LIVE_BUSY: 'WEB_LIVE_BUSY'
} as const

export type WebErrorCode = typeof WebErrorCode[keyof typeof WebErrorCode]

/** The status a code is answered with; any code not listed is 500. */
export const HTTP_STATUS: Readonly<Record<string, number>> = {
  WEB_BAD_REQUEST: 400,
  WEB_NOT_FOUND: 404,
  WEB_LOGIN_REQUIRED: 401,
  WEB_CSRF_INVALID: 403,
  WEB_HOST_INVALID: 421,
  WEB_ORIGIN_INVALID: 403,
  WEB_RATE_LIMITED: 429,
  WEB_LOGIN_FAILED: 401,
  WEB_PASSWORD_WRONG: 403,
  WEB_PASSWORD_NOT_SET: 409,
  WEB_PASSWORD_ALREADY_SET: 409,
  WEB_SETUP_CODE_INVALID: 403,
  WEB_SESSION_NOT_FOUND: 404,
  WEB_LIVE_BUSY: 503,
  APP_USAGE: 400,
  APP_CONFIRMATION_REQUIRED: 400,
  APP_PEER_NOT_FOUND: 404,
  APP_RELATIONSHIP_NOT_FOUND: 404,
  APP_DATA_NOT_INITIALIZED: 409,
  P2P_INVITE_INVALID: 400,
  P2P_PAIRING_FAILED: 403,
  P2P_PAIRING_CLOSED: 409,
  P2P_PAIRING_BUSY: 409,
  P2P_BOX_NAME_INVALID: 409,
  P2P_PAIRING_UNREACHABLE: 502,
  P2P_PAIRING_MALFORMED: 502,
  P2P_PAIRING_TIMEOUT: 504,
  APP_VM_NOT_FOUND: 404,
  APP_RELATIONSHIP_EXISTS: 409,
  APP_INVALID_STATE: 409,
  APP_SETTING_INVALID: 400,
  APP_JOB_NOT_FOUND: 404,
  APP_POINT_NOT_FOUND: 404,
  APP_SCREENSHOT_NOT_FOUND: 404,
  APP_SEED_MISMATCH: 409,
  APP_SEED_NO_ORIGIN: 400,
  CORE_SEED_INVALID: 400,
  CORE_SEED_TRUNCATED: 400,
  P2P_RELATIONSHIP_REFUSED: 409,
  P2P_PEER_UNREACHABLE: 502,
  APP_VM_INVALID: 400,
  APP_VM_EXISTS: 409,
  APP_DISK_TAKEN: 409,
  APP_DISK_NOT_FOUND: 400,
  APP_DISK_FORMAT_UNSUPPORTED: 400,
  APP_DISK_IN_USE: 409,
  APP_VM_NOT_MANAGED: 409,
  APP_VM_RUNNING: 409,
  APP_VM_PROTECTED: 409,
  APP_VM_ALREADY_RUNNING: 409,
  APP_VM_STOP_TIMEOUT: 409,
  APP_BOOT_FILE_MISSING: 409,
  APP_VM_NOT_RUNNING: 409,
  APP_FAILOVER_COPY_FAILED: 409,
  APP_SALVAGE_NOT_FOUND: 404,
  P2P_VM_RUNNING: 409,
  P2P_FAILOVER_REFUSED: 409,
  P2P_STALE_TERM: 409,
  P2P_FAILED_OVER: 409
}

/** A failure nothing classified (a bug): the server's fault. */
export const DEFAULT_ERROR_STATUS = 500

/** Pure. */
export function httpStatusOf (code: string): number {
  return Object.hasOwn(HTTP_STATUS, code) ? HTTP_STATUS[code]! : DEFAULT_ERROR_STATUS
}

export class WebError extends Error {
  readonly code: WebErrorCode
  constructor (code: WebErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'WebError'
    this.code = code
  }
}
