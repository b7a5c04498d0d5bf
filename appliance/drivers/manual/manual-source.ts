import { spawn, type ChildProcess } from 'node:child_process'
import { access, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileDiskSource, type DiskSource, type DiskView } from '../../../core/disk-view/index.ts'
import { CoreError, CoreErrorCode } from '../../../core/errors.ts'
import { BASE_ALLOCATION, NbdClient, nonZeroExtents } from '../../../core/nbd/index.ts'
import { AppError, AppErrorCode } from '../../errors.ts'
import { openManualDisk } from './manual-driver.ts'
import type { DiskFormat } from '../qemu/vm-definition.ts'

/** How long qemu-nbd may take to open a qcow2 disk and listen. */
const TIMEOUT_QEMU_NBD_START_MS = 10_000
/**
 * How long qemu-nbd may take to exit on SIGTERM before it is killed. A
 * SIGTERM that arrives while qemu-nbd 7.2 is still starting is lost (its
 * handler only acts once the server runs), and waiting for the exit then
 * hung the cycle (seen under load: a connect that failed during start-up).
 */
const TIMEOUT_QEMU_NBD_STOP_MS = 5_000

/**
 * A disk whose VM Tandem does not run, as core's DiskSource: a view opens
 * only while no QEMU holds the disk (APP_DISK_IN_USE otherwise); when
 * anything opens or changes the disk while it is read, reads are cut short
 * as soon as the guard sees it, or closing the view notices, either way with
 * CORE_SOURCE_CHANGED (its cause: APP_DISK_IN_USE), so the cycle commits
 * nothing from it (core closes views before it commits). Raw disks are read as files (scan workers read them directly);
 * qcow2 disks through a read-only qemu-nbd of our own with image locking
 * off (no lock taken, so a VM can still start, and the guard then notices it).
 */
export class ManualDiskSource implements DiskSource {
  readonly path: string
  readonly format: DiskFormat
  readonly description: string
  private readonly intervalMs: number | undefined

  constructor (path: string, format: DiskFormat, options: { intervalMs?: number } = {}) {
    this.path = path
    this.format = format
    this.intervalMs = options.intervalMs
    this.description = `manual ${format} disk ${path}`
  }

  async open (signal?: AbortSignal): Promise<DiskView> {
    const guard = await openManualDisk(this.path, this.format, { intervalMs: this.intervalMs, signal })
    let inner: DiskView
    try {
      inner = this.format === 'raw' ? await new FileDiskSource(this.path).open(signal) : await openQcow2View(this.path, signal)
    } catch (err) {
      await guard.release().catch(() => undefined)
      throw err
    }
    const guarded = async <T>(op: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> => {
      try {
        return await op(signal === undefined ? guard.signal : AbortSignal.any([signal, guard.signal]))
      } catch (err) {
        if (guard.signal.aborted) throw takenWhileRead(guard.signal.reason)
        throw err
      }
    }
    const dataExtents = inner.dataExtents
    return {
      size: inner.size,
      ...(inner.fd === undefined ? {} : { fd: inner.fd }),
      read: async (offset, length, into, readSignal) => {
        await guarded(async s => { await inner.read(offset, length, into, s) }, readSignal)
      },
      ...(dataExtents === undefined ? {} : { dataExtents: async (offset: number, length: number, extentsSignal?: AbortSignal) => await guarded(async s => await dataExtents(offset, length, s), extentsSignal) }),
      close: async () => {
        let failure: unknown
        await inner.close().catch(err => { failure = err })
        await guard.release().catch(err => { throw takenWhileRead(err) })
        if (failure !== undefined) throw failure
      }
    }
  }
}

/**
 * Connects to a qemu-nbd that was just started. Its socket file appears
 * before it serves (seen under load: the first connection refused or
 * dropped during the handshake), so such failures are retried while it
 * runs, until `until`; any other failure is final.
 */
async function connectWhenReady (socket: string, child: ChildProcess, until: number, signal?: AbortSignal): Promise<NbdClient> {
  for (;;) {
    try {
      return await NbdClient.connect({ socketPath: socket, exportName: 'disk', metaContexts: [BASE_ALLOCATION], signal })
    } catch (err) {
      const code = (err as { code?: unknown }).code
      const early = code === CoreErrorCode.CORE_NBD_DISCONNECTED || code === CoreErrorCode.CORE_NBD_HANDSHAKE_FAILED || code === 'ECONNREFUSED'
      if (!early || signal?.aborted === true || child.exitCode !== null || child.signalCode !== null || performance.now() > until) throw err
      await new Promise(resolve => setTimeout(resolve, 20))
    }
  }
}

/** The disk was taken (or changed) while it was read: what was read is not one moment of it. */
function takenWhileRead (cause: unknown): CoreError {
  return new CoreError(CoreErrorCode.CORE_SOURCE_CHANGED, `the disk was opened or changed while it was read: ${(cause as Error)?.message ?? String(cause)}`, { cause })
}

/**
 * A qcow2 image's virtual disk through a private read-only qemu-nbd on a
 * unix socket; closing stops that qemu-nbd (by its pid). Its data extents
 * come from `base:allocation`: unallocated and zero clusters are answered
 * NBD_STATE_ZERO and skipped by scans (docs/change-tracking.md, "Data extents").
 */
async function openQcow2View (path: string, signal?: AbortSignal): Promise<DiskView> {
  const dir = await mkdtemp(join(tmpdir(), 'tandem-manual-'))
  const socket = join(dir, 'nbd.sock')
  // locking=off: our reader takes no image lock (qemu-nbd 7.2 has no --force-share), so a VM can still start; the guard then sees it.
  const opts = `driver=qcow2,file.driver=file,file.filename=${path.replaceAll(',', ',,')},file.locking=off`
  const child = spawn('qemu-nbd', ['--read-only', '--image-opts', opts, '--socket', socket, '--export-name', 'disk'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4096) })
  const exited = new Promise<void>(resolve => { child.once('close', () => { resolve() }) })
  child.once('error', () => {})
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const kill = setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }, TIMEOUT_QEMU_NBD_STOP_MS)
    try {
      await exited
    } finally {
      clearTimeout(kill)
    }
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const until = performance.now() + TIMEOUT_QEMU_NBD_START_MS
    while (!await access(socket).then(() => true, () => false)) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
        throw new AppError(AppErrorCode.APP_QEMU_IMG_FAILED, `qemu-nbd could not serve ${path}: ${stderr.trim() || 'it exited'}`)
      }
      if (performance.now() > until) throw new AppError(AppErrorCode.APP_QEMU_IMG_FAILED, `qemu-nbd did not start serving ${path}`)
      await new Promise(resolve => setTimeout(resolve, 10))
    }
    const client = await connectWhenReady(socket, child, until, signal)
    const size = client.size
    return {
      size,
      read: async (offset, length, into, readSignal) => { await client.read(offset, length, into.subarray(0, length), readSignal) },
      ...(client.metaContexts.has(BASE_ALLOCATION)
        ? {
            dataExtents: async (offset: number, length: number, extentsSignal?: AbortSignal) => {
              if (length === 0) return []
              return nonZeroExtents(await client.blockStatus(BASE_ALLOCATION, offset, length, extentsSignal))
            }
          }
        : {}),
      close: async () => {
        await client.close()
        await stop()
      }
    }
  } catch (err) {
    await stop()
    throw err
  }
}
