/**
 * The admin login of the browser-facing server (docs/web.md "Server and
 * login"). The composition root calls `ensureSetupCode` at `tandem init` and
 * at daemon start, and shows `readSetupCode` on the console and in the local
 * `tandem status`.
 */
export { ensureSetupCode, readSetupCode, passwordIsSet, AdminStore, ADMIN_FILE } from './admin-store.ts'
export { SETUP_CODE_FILE } from './setup-code.ts'
export { hostAllowed, originAllowed, canonicalHost } from './allowed-hosts.ts'
export { SessionStore, type SessionInfo } from './session-store.ts'
export * from './constants.ts'
