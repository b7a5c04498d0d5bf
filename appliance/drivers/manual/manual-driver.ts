import { readFile, stat } from 'node:fs/promises'
import { AppError, AppErrorCode } from '../../errors.ts'
import { qemuImg } from '../qemu/tracking/qemu-img.ts'
import { MANUAL_GUARD_INTERVAL_MS } from './constants.ts'
import type { DiskFormat } from '../qemu/vm-definition.ts'

/*
 * Disks whose VM Tandem does not run ("manual" disks): Tandem may read them
 * only while no VM has them open for writing.
 *
 * How "in use" is told, and why two checks:
 * 1. `qemu-img info` without `-U` (force-share off) opens the image the way
 *    QEMU does, taking its image locks. For qcow2 a reader does not share
 *    "write", so it fails with `Failed to get shared "write" lock` while a
 *    QEMU has the image open read-write. For raw it succeeds anyway: QEMU
 *    lets raw readers share "write" (raw has no metadata to get inconsistent).
 * 2. So the lock itself is looked up: QEMU's image locks are OFD byte-range
 *    locks on the image file at fixed offsets (QEMU block/file-posix.c:
 *    byte 100 + bit of each permission held, 200 + bit of each permission
 *    not shared; "write" is bit 1). A lock covering byte 101 in /proc/locks
 *    on the file's device and inode means some process holds QEMU's write
 *    permission on it. This needs no open of the image at all.
 *
 * Honest limits (the race window): locks are advisory. A process that does
 * not take QEMU's locks (dd, a QEMU run with `locking=off` or `-U`, another
 * hypervisor) is invisible to both checks. A VM can open the disk, write and
 * close it between two checks; comparing the file's size and mtime before
 * and after catches such writes unless the mtime did not move (coarse
 * timestamps, or a writer that restores it). So a guard narrows the window,
 * it does not close it: for a guarantee, the disk's VM must be stopped
 * through a driver Tandem controls.
 */

export interface DiskUse {
  inUse: boolean
  /** Why: qemu-img's lock error, the lock found, or what was checked. */
  reason: string
}

/** QEMU's lock byte for holding the "write" permission (RAW_LOCK_PERM_BASE 100 + BLK_PERM_WRITE bit 1). */
const QEMU_WRITE_LOCK_BYTE = 101n
const LOCK_ERROR = /Failed to get .*lock|Is another process using the image/i

/**
 * Whether another process holds QEMU's write lock on the image at `path`.
 * Never opens the image for writing. APP_QEMU_IMG_FAILED when qemu-img
 * fails for another reason (missing file, not that format), APP_UNEXPECTED
 * when /proc/locks cannot be read.
 */
export async function diskInUse (path: string, format: DiskFormat, signal?: AbortSignal): Promise<DiskUse> {
  try {
    await qemuImg(['info', '--output=json', '-f', format, path], signal)
  } catch (err) {
    if (err instanceof AppError && LOCK_ERROR.test(err.message)) return { inUse: true, reason: err.message }
    throw err
  }
  const holder = await writeLockHolder(path)
  if (holder !== undefined) return { inUse: true, reason: `a process holds QEMU's write lock on ${path} (/proc/locks: ${holder})` }
  return { inUse: false, reason: `qemu-img opened ${path} without a lock conflict and no process holds QEMU's write lock on it` }
}

/** The /proc/locks line of a lock covering QEMU's write-permission byte of `path`, if any. */
async function writeLockHolder (path: string): Promise<string | undefined> {
  const s = await stat(path, { bigint: true })
  const major = ((s.dev >> 8n) & 0xfffn) | ((s.dev >> 32n) & ~0xfffn)
  const minor = (s.dev & 0xffn) | ((s.dev >> 12n) & ~0xffn)
  let locks: string
  try {
    locks = await readFile('/proc/locks', 'utf8')
  } catch (cause) {
    throw new AppError(AppErrorCode.APP_UNEXPECTED, 'cannot read /proc/locks to look for QEMU image locks', { cause })
  }
  // e.g. "2: OFDLCK ADVISORY  READ -1 fe:00:2147207 100 101" (end may be EOF)
  for (const line of locks.split('\n')) {
    const f = line.trim().split(/\s+/)
    const at = f.findIndex(x => /^[0-9a-f]+:[0-9a-f]+:\d+$/.test(x))
    if (at < 0 || f[1] === 'FLOCK' || f[1] === '->') continue
    const [maj, min, ino] = f[at]!.split(':')
    if (BigInt(`0x${maj!}`) !== major || BigInt(`0x${min!}`) !== minor || BigInt(ino!) !== s.ino) continue
    const start = BigInt(f[at + 1] ?? '-1')
    const end = f[at + 2] === 'EOF' ? null : BigInt(f[at + 2] ?? '-1')
    if (start <= QEMU_WRITE_LOCK_BYTE && (end === null || end >= QEMU_WRITE_LOCK_BYTE)) return line.trim()
  }
  return undefined
}

export interface ManualDiskGuard {
  readonly path: string
  readonly format: DiskFormat
  /** Aborts (reason: the APP_DISK_IN_USE error) as soon as a background check sees the disk in use or changed: pass it to the reads. */
  readonly signal: AbortSignal
  /**
   * Ends the guard: stops the background checks and checks once more.
   * Resolves when nothing opened or changed the disk while the guard was
   * held; APP_DISK_IN_USE otherwise, and the caller must not commit what
   * it read. Call it exactly once, after the last read.
   */
  release: () => Promise<void>
}

interface FileStamp { size: bigint, mtimeNs: bigint, ino: bigint }

/**
 * Opens a manual disk for reading: APP_DISK_IN_USE when a process holds it
 * (diskInUse), otherwise a guard that re-checks every
 * MANUAL_GUARD_INTERVAL_MS (lock and size/mtime) until release(). Reads
 * happen through the caller's own file handles; the guard holds nothing
 * open and takes no lock, so it never stops a VM from starting.
 */
export async function openManualDisk (path: string, format: DiskFormat, options: { intervalMs?: number, signal?: AbortSignal } = {}): Promise<ManualDiskGuard> {
  const first = await diskInUse(path, format, options.signal)
  if (first.inUse) throw inUse(path, first.reason)
  const before = await stamp(path)
  const controller = new AbortController()
  let problem: AppError | undefined

  const check = async (): Promise<void> => {
    if (problem !== undefined) return
    const now = await stamp(path).catch(() => undefined)
    let found: AppError | undefined
    if (now === undefined || now.size !== before.size || now.mtimeNs !== before.mtimeNs || now.ino !== before.ino) {
      found = inUse(path, `${path} was changed, replaced or removed while it was being read`)
    } else {
      const use = await diskInUse(path, format).catch((err: unknown) => ({ inUse: true, reason: `cannot check the disk: ${(err as Error).message}` }))
      if (use.inUse) found = inUse(path, use.reason)
    }
    if (found !== undefined && problem === undefined) {
      problem = found
      controller.abort(found)
    }
  }

  // checks run one after another: the next is armed when the previous has finished
  let running: Promise<void> = Promise.resolve()
  let timer: NodeJS.Timeout | undefined
  const arm = (): void => {
    timer = setTimeout(() => { running = check().finally(() => { if (timer !== undefined) arm() }) }, options.intervalMs ?? MANUAL_GUARD_INTERVAL_MS)
    timer.unref()
  }
  arm()
  let released = false
  return {
    path,
    format,
    signal: controller.signal,
    release: async () => {
      if (released) throw new TypeError('release() was already called')
      released = true
      clearTimeout(timer)
      timer = undefined
      await running
      await check()
      if (problem !== undefined) throw problem
    }
  }
}

async function stamp (path: string): Promise<FileStamp> {
  const s = await stat(path, { bigint: true })
  return { size: s.size, mtimeNs: s.mtimeNs, ino: s.ino }
}

function inUse (path: string, reason: string): AppError {
  return new AppError(AppErrorCode.APP_DISK_IN_USE, `${path} is in use: ${reason}`, { details: { path } })
}
