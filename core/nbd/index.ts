/**
 * NBD client: reads and block status (allocation, QEMU dirty bitmaps) of a
 * disk exported by qemu-nbd, qemu-storage-daemon or nbdkit over a Unix
 * socket. See docs/nbd-client.md.
 */
export { NbdClient, type NbdConnectInit } from './client.ts'
export { mergeExtents, type NbdExtent } from './extents.ts'
export type { BlockSizeConstraints } from './handshake.ts'
export {
  MAX_BLOCK_STATUS_LENGTH, MAX_EXTENTS_PER_REPLY, MAX_IN_FLIGHT, MAX_META_CONTEXTS, MAX_REQUEST_BYTES,
  NBD_STATE_DIRTY, NBD_STATE_HOLE, NBD_STATE_ZERO, TIMEOUT_HANDSHAKE_MS, TIMEOUT_REQUEST_MS
} from './constants.ts'
