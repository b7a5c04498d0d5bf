import { isAbsolute } from 'node:path'
import { rm } from 'node:fs/promises'
import { DISK_NAME_PATTERN } from '../../../core/constants.ts'
import { qemuImg } from './tracking/qemu-img.ts'

/** Where one disk is served read-only over NBD: a Unix socket and the export's name (docs/nbd-server.md). */
export interface NbdDiskBacking {
  /** Absolute path of the NBD server's Unix socket. */
  socket: string
  /** The export's name: the disk's name (DISK_NAME_PATTERN). */
  export: string
}

/**
 * The NBD URI QEMU opens for `backing`: `nbd+unix:///<export>?socket=<path>`.
 * Pure. The socket path is percent-encoded (QEMU decodes query values), so
 * any absolute path works; the export name needs no encoding (checked
 * against DISK_NAME_PATTERN). TypeError for a relative socket path or a bad
 * export name (a programmer mistake: both come from our own server).
 */
export function nbdUnixUri (backing: NbdDiskBacking): string {
  if (!isAbsolute(backing.socket) || backing.socket.includes('\0')) throw new TypeError(`the NBD socket must be an absolute path, got ${backing.socket}`)
  if (!DISK_NAME_PATTERN.test(backing.export)) throw new TypeError(`the NBD export name must match ${String(DISK_NAME_PATTERN)}, got ${backing.export}`)
  const socket = backing.socket.split('/').map(encodeURIComponent).join('/')
  return `nbd+unix:///${backing.export}?socket=${socket}`
}

/**
 * Creates the qcow2 overlay `overlay` whose backing file is the NBD export
 * (with `options.reconnectDelayS`, through nbdReconnectingBacking)
 * (`qemu-img create -f qcow2 -F raw -b <uri> <overlay>`, no size: the
 * overlay takes the export's, so qemu-img connects once and the server
 * must be serving). The guest writes go to the overlay; the export is only
 * ever read. QEMU opens the backing from the overlay's header, also with
 * the driver's `-blockdev driver=qcow2,file=...` (checked with QEMU 7.2).
 * A leftover file at `overlay` is replaced: an overlay is throw-away.
 * APP_QEMU_IMG_FAILED (e.g. nothing serves the socket), CORE_ABORTED.
 */
export async function createNbdOverlay (overlay: string, backing: NbdDiskBacking, signal?: AbortSignal, options: { reconnectDelayS?: number } = {}): Promise<void> {
  if (!isAbsolute(overlay)) throw new TypeError(`overlay must be an absolute path, got ${overlay}`)
  const file = options.reconnectDelayS === undefined ? nbdUnixUri(backing) : nbdReconnectingBacking(backing, options.reconnectDelayS)
  await rm(overlay, { force: true })
  await qemuImg(['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', file, overlay], signal)
}

/**
 * The backing file name of an overlay whose NBD client survives an outage
 * of the server: QEMU's `json:` pseudo-protocol, a raw node over an `nbd`
 * node with `reconnect-delay` (seconds). When the connection drops, QEMU
 * holds the requests (the guest's and a block job's) and connects again to
 * the same socket path, at 1, 3, 7, 15 and 31 s and then every 16 s (QEMU
 * 7.2, measured); requests still waiting after `reconnectDelayS` fail with
 * EIO. Pure; the socket path is JSON-escaped, so any absolute path works.
 * (The plain `nbd+unix://` URI cannot carry the option, and `-F raw` needs
 * the raw node named in the JSON: checked with QEMU 7.2.) TypeError as
 * nbdUnixUri, or for a delay that is not a whole number of seconds from 1
 * to 3600.
 */
export function nbdReconnectingBacking (backing: NbdDiskBacking, reconnectDelayS: number): string {
  nbdUnixUri(backing)
  if (!Number.isSafeInteger(reconnectDelayS) || reconnectDelayS < 1 || reconnectDelayS > 3600) throw new TypeError(`reconnectDelayS must be 1 to 3600 seconds, got ${reconnectDelayS}`)
  const nbd = { driver: 'nbd', server: { type: 'unix', path: backing.socket }, export: backing.export, 'reconnect-delay': reconnectDelayS }
  return `json:${JSON.stringify({ driver: 'raw', file: nbd })}`
}
