/**
 * NBD client: reads and block status (allocation, QEMU dirty bitmaps) of a
 * disk exported by qemu-nbd, qemu-storage-daemon or nbdkit over a Unix
 * socket. See docs/nbd-client.md.
 *
 * NBD server: serves read-only exports (a recovery point's disks) to QEMU
 * and other clients over a Unix socket. See docs/nbd-server.md.
 */
export { NbdClient, type NbdConnectInit } from './client.ts'
export { mergeExtents, nonZeroExtents, type NbdExtent } from './extents.ts'
export type { BlockSizeConstraints } from './handshake.ts'
export { NbdServer, type NbdServerInit } from './server.ts'
export type { NbdExport, NbdExportExtent } from './export.ts'
export type { NbdServerFailure } from './server-connection.ts'
export {
  BASE_ALLOCATION, MAX_BLOCK_STATUS_LENGTH, MAX_CONNECTIONS, MAX_EXTENTS_PER_REPLY, MAX_IN_FLIGHT, MAX_META_CONTEXTS, MAX_OPTION_DATA_BYTES,
  MAX_PENDING_REPLY_BYTES, MAX_PENDING_REQUESTS, MAX_REPLY_EXTENTS, MAX_REQUEST_BYTES, MAX_SOCKET_PATH_BYTES, NBD_STATE_DIRTY, NBD_STATE_HOLE,
  NBD_STATE_ZERO, TIMEOUT_HANDSHAKE_MS, TIMEOUT_REQUEST_MS, TIMEOUT_SERVER_HANDSHAKE_MS
} from './constants.ts'
