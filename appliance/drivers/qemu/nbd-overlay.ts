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
 * (`qemu-img create -f qcow2 -F raw -b <uri> <overlay>`, no size: the
 * overlay takes the export's, so qemu-img connects once and the server
 * must be serving). The guest writes go to the overlay; the export is only
 * ever read. QEMU opens the backing from the overlay's header, also with
 * the driver's `-blockdev driver=qcow2,file=...` (checked with QEMU 7.2).
 * A leftover file at `overlay` is replaced: an overlay is throw-away.
 * APP_QEMU_IMG_FAILED (e.g. nothing serves the socket), CORE_ABORTED.
 */
export async function createNbdOverlay (overlay: string, backing: NbdDiskBacking, signal?: AbortSignal): Promise<void> {
  if (!isAbsolute(overlay)) throw new TypeError(`overlay must be an absolute path, got ${overlay}`)
  const uri = nbdUnixUri(backing)
  await rm(overlay, { force: true })
  await qemuImg(['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', uri, overlay], signal)
}
