/**
 * The JSON schemas of `/v1/auth/*` (docs/api.md "Login"): like every route's,
 * nothing removed or coerced (web/api-server.ts).
 */
import { object } from '../schemas.ts'
import { MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS } from './constants.ts'
import { SESSION_HANDLE_PATTERN } from './session-store.ts'

const str = { type: 'string' } as const
/** A new password: its length rule is in the refusal's message (ajv's "must NOT have fewer than 8 characters"). */
const newPassword = { type: 'string', minLength: MIN_PASSWORD_CHARS, maxLength: MAX_PASSWORD_CHARS } as const
/** A password to check: any that could have been set. */
const givenPassword = { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_CHARS } as const
/** A typed setup code: 12 characters, with dashes and spaces the human may add. */
const setupCode = { type: 'string', minLength: 1, maxLength: 32 } as const

export const authStateSchema = object({ passwordSet: { type: 'boolean' }, loggedIn: { type: 'boolean' }, csrfToken: { type: ['string', 'null'] } })
export const setupBody = object({ code: setupCode, password: newPassword })
export const loginBody = object({ password: givenPassword })
export const passwordBody = object({ current: givenPassword, password: newPassword })
export const csrfTokenSchema = object({ csrfToken: str })
export const logoutSchema = object({ loggedOut: { type: 'boolean', const: true } })
export const passwordChangedSchema = object({ changed: { type: 'boolean', const: true }, revokedSessions: { type: 'integer', minimum: 0 } })
export const sessionParams = object({ id: { type: 'string', pattern: SESSION_HANDLE_PATTERN } })
export const sessionRevokedSchema = object({ id: str, revoked: { type: 'boolean', const: true } })
export const sessionsSchema = {
  type: 'array',
  items: object({ id: str, created: str, lastSeen: str, address: str, userAgent: str, current: { type: 'boolean' } })
}
