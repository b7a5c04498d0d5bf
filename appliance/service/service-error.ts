import { TandemError } from '../../core/errors.ts'

/**
 * An error that came through the service boundary with only its code and
 * message (the API client rebuilds them from `{ code, message }`): the code
 * may be any folder's (CORE_, P2P_, APP_, WEB_), so it is a plain string.
 * A TandemError, so the CLI reports it with its code like any other.
 */
export class ServiceError extends TandemError {
  constructor (code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options)
    this.name = 'ServiceError'
  }
}

/** A stable error code of ours: upper case, with a folder prefix. */
export const ERROR_CODE_PATTERN = /^(CORE|P2P|APP|WEB)_[A-Z0-9_]+$/

/** The code of `err` when it carries one of ours, else undefined. */
export function errorCodeOf (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && ERROR_CODE_PATTERN.test(code) ? code : undefined
}
