/**
 * Serving a recovery point of the Replica over NBD (docs/failover.md
 * "Serving a point"): every disk of the point read-only, straight from the
 * relationship's store, for QEMU to boot through a qcow2 overlay while
 * replication goes on.
 */
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { CoreErrorCode } from '../../core/errors.ts'
import { MAX_SOCKET_PATH_BYTES, NbdServer, type NbdExport } from '../../core/nbd/index.ts'
import { openPointExport } from '../../core/point-export.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import type { HeldStore } from '../replication/open-stores.ts'
import type { PointPins } from '../replication/replica-retention.ts'

/** Where the server logs (the daemon's logger: one JSON line per call). */
export interface PointServerLog {
  info: (fields: object, message: string) => void
  error: (fields: object, message: string) => void
}

export interface PointServerInit {
  /** DATA/exports/: the servings' sockets; emptied by start(). */
  dir: string
  /** The relationships' stores (StoreReplicaSink.hold). */
  stores: { hold: (peer: string, relationship: string, signal?: AbortSignal) => Promise<HeldStore> }
  pins: PointPins
  logger: PointServerLog
}

/** One disk of a served point. */
export interface ServedDisk {
  name: string
  /** Bytes (QEMU sees it rounded up to 512: docs/nbd-server.md). */
  size: number
  /** What QEMU opens, e.g. as a qcow2 overlay's backing: `nbd+unix:///<disk>?socket=<socket>`. */
  uri: string
  /** Root of the disk's manifest in the point (hex): what change tracking that starts from the point is relative to. */
  root: string
}

/** A point being served; it stays pinned and its store open until close(). */
export interface PointServing {
  peer: string
  relationship: string
  point: number
  /** The Unix socket (mode 0600) serving every disk, one NBD export per disk name. */
  socket: string
  disks: ServedDisk[]
  /** Stops the server (its clients are disconnected), then releases the store and the pin. Idempotent; never rejects. */
  close: () => Promise<void>
}

/**
 * The points served on this box. Each serve() is a serving of its own: its
 * own socket, pin and share of the store, so serving a point twice gives
 * two independent servings, each closed by its own caller (a test failover
 * and a drill of the same point never cut each other off).
 *
 * Lifecycle: start() (empties DATA/exports/: a socket left by a crash),
 * serve() any number of times, stop() (daemon stop, before the stores
 * close: closes every serving, and refuses further ones).
 */
export class PointServer {
  private readonly init: PointServerInit
  private readonly servings = new Set<PointServing>()
  /** serve() calls in flight, which stop() waits for (each ends registered, or failed and cleaned up). */
  private readonly starting = new Set<Promise<unknown>>()
  private readonly stopping = new AbortController()
  private seq = 0

  constructor (init: PointServerInit) {
    this.init = init
  }

  /** Makes DATA/exports/ (0700) empty: no serving outlives its daemon, so what is there is a crash's leftover. */
  async start (): Promise<void> {
    await rm(this.init.dir, { recursive: true, force: true })
    await mkdir(this.init.dir, { recursive: true, mode: 0o700 })
  }

  /**
   * Serves point `pointId` of `peer`'s relationship `relationship`: pins
   * it (retention keeps it: replica-retention.ts), holds the store, opens
   * one export per disk and starts one NBD server with all of them on a new
   * socket under DATA/exports/. Throws APP_POINT_NOT_FOUND (no such point,
   * or no store yet), APP_INVALID_STATE (the daemon is stopping),
   * CORE_NBD_LISTEN_FAILED (the socket path is too long: a shorter data
   * directory), the store's open errors; nothing is left pinned or held.
   * A read that fails later (a corrupt block) is logged and answered EIO.
   * `options.socketName`: a fixed name under DATA/exports/ instead of a new
   * one, for a client that must find the point again at the same place
   * after a daemon restart (a failover's VM reconnects to its path:
   * docs/failover.md "Unplanned failover"); a name being served already is
   * CORE_NBD_LISTEN_FAILED.
   */
  async serve (peer: string, relationship: string, pointId: number, signal?: AbortSignal, options: { socketName?: string } = {}): Promise<PointServing> {
    if (this.stopping.signal.aborted) throw stoppingError()
    const work = this.openServing(peer, relationship, pointId, signal === undefined ? this.stopping.signal : AbortSignal.any([signal, this.stopping.signal]), options.socketName)
    this.starting.add(work)
    try {
      return await work
    } finally {
      this.starting.delete(work)
    }
  }

  /** Refuses new servings, waits for those being opened, then closes every serving. Idempotent. */
  async stop (): Promise<void> {
    this.stopping.abort()
    await Promise.allSettled([...this.starting])
    await Promise.all([...this.servings].map(async s => { await s.close() }))
  }

  private async openServing (peer: string, relationship: string, pointId: number, signal: AbortSignal, socketName: string | undefined): Promise<PointServing> {
    const { logger } = this.init
    if (!Number.isSafeInteger(pointId) || pointId < 1) throw new AppError(AppErrorCode.APP_USAGE, `${String(pointId).slice(0, 40)} is not a recovery point id`)
    // Pinned before the store is held: hold() lets any prune that chose its points before the pin finish first.
    const unpin = this.init.pins.pin(peer, relationship, pointId)
    let held: HeldStore | undefined
    let server: NbdServer | undefined
    try {
      held = await this.init.stores.hold(peer, relationship, signal)
      const store = held.store
      const point = await store.getPoint(pointId).catch(err => { throw pointNotFound(err, relationship, pointId) })
      const exports: NbdExport[] = []
      for (const d of point.disks) exports.push(await openPointExport(store, pointId, d.name))
      if (this.stopping.signal.aborted) throw stoppingError()
      const socket = socketName === undefined ? this.socketPath(relationship, pointId) : join(this.init.dir, socketName)
      server = new NbdServer({
        socketPath: socket,
        exports,
        onError: (err, where) => {
          logger.error({ err, peer, relationship, point: pointId, disk: where.exportName, command: where.command, offset: where.offset, length: where.length },
            'a served recovery point could not be read: the client was answered EIO')
        }
      })
      await server.start()
      const running = server
      const keep = held
      let closing: Promise<void> | undefined
      const serving: PointServing = {
        peer,
        relationship,
        point: pointId,
        socket,
        disks: exports.map(e => ({ name: e.name, size: e.size, uri: nbdUri(e.name, socket), root: point.disks.find(d => d.name === e.name)!.root })),
        close: async () => {
          closing ??= (async () => {
            await running.stop()
            this.servings.delete(serving)
            await keep.release().catch(err => { logger.error({ err, peer, relationship }, 'a store could not be closed after serving a point') })
            unpin()
            logger.info({ peer, relationship, point: pointId, socket }, 'recovery point no longer served')
          })()
          await closing
        }
      }
      this.servings.add(serving)
      logger.info({ peer, relationship, point: pointId, socket, disks: serving.disks.map(d => d.name) }, 'recovery point served')
      return serving
    } catch (err) {
      await server?.stop()
      await held?.release().catch(() => {})
      unpin()
      throw err
    }
  }

  /**
   * A new socket under DATA/exports/, named after the relationship and the
   * point (and a counter: a point may be served twice), or after the point
   * alone when the relationship's id would take the path past what a Unix
   * socket allows.
   */
  private socketPath (relationship: string, pointId: number): string {
    const n = ++this.seq
    const full = join(this.init.dir, `${relationship}-p${pointId}-${n}.sock`)
    return Buffer.byteLength(full) <= MAX_SOCKET_PATH_BYTES ? full : join(this.init.dir, `p${pointId}-${n}.sock`)
  }
}

/** The URI QEMU opens for export `disk` on `socket`; the path is percent-encoded, which QEMU decodes (checked with QEMU 7.2). */
export function nbdUri (disk: string, socket: string): string {
  return `nbd+unix:///${encodeURIComponent(disk)}?socket=${socket.split('/').map(encodeURIComponent).join('/')}`
}

function stoppingError (): AppError {
  return new AppError(AppErrorCode.APP_INVALID_STATE, 'the daemon is stopping: no recovery point is served')
}

function pointNotFound (err: unknown, relationship: string, pointId: number): unknown {
  if ((err as { code?: unknown }).code !== CoreErrorCode.CORE_POINT_NOT_FOUND) return err
  return new AppError(AppErrorCode.APP_POINT_NOT_FOUND, `${relationship} has no recovery point ${pointId} on this box (never received, or pruned): tandem points ${relationship} lists them`, { cause: err })
}
