export { createTandemNode, type TandemNode, type TandemNodeInit } from './node.ts'
export { loadOrCreateIdentity, IdentityError } from './identity.ts'
export { DEFAULT_LISTEN, TIMEOUT_DIAL_MS, MAX_CONNECTIONS, MAX_UNPAIRED_CONNECTIONS } from './constants.ts'
