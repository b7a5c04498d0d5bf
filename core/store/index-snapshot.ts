/**
 * A private copy of a store's index, for read-only opens. LevelDB writes on
 * every open (its LOG, a new MANIFEST, a table from the log, the LOCK file),
 * and has no read-only mode, so a reader opens a copy instead: the store's
 * files stay byte for byte and mode for mode what they were, and a reader
 * works on a store whose disk is full or mounted read-only.
 *
 * Table files never change once written, so they are hard-linked when the
 * copy is on the same file system (no space used), copied otherwise; the
 * small CURRENT, MANIFEST and log files are always copied.
 */
import { copyFile, link, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { fsCall } from './store-dir.ts'

/** Where a copy may go, in order: the temporary directory, then memory (tmpfs), when the first is full or unusable. */
const SNAPSHOT_BASES = (): string[] => [...new Set([tmpdir(), '/dev/shm'])]

/** The files of a LevelDB database (LOCK, LOG and LOG.old are the opener's own). */
const DB_FILE = /^(CURRENT|MANIFEST-\d+|\d+\.(log|ldb|sst))$/
const TABLE_FILE = /\.(ldb|sst)$/

/** Copies made while a writer replaced files (ENOENT) are retried this often before giving up. */
const MAX_COPY_ATTEMPTS = 3

/** Failures of a snapshot base that mean "try the next one". */
const BASE_UNUSABLE = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'ENOENT', 'ENOTDIR'])

export interface IndexSnapshot {
  /** The copy's directory, for LevelDB. */
  readonly dir: string
  /** Deletes the copy; idempotent. */
  remove: () => Promise<void>
  /**
   * Whether a writer opened the index since the copy was made (it holds the
   * lock now, or its open replaced CURRENT, which every LevelDB open for
   * writing does). Reads only. Then what the copy says may be stale: packs
   * it names may have been pruned, an image rewritten.
   */
  changed: () => Promise<boolean>
}

/**
 * Copies the index at `indexDir` into a new private (0700) temporary
 * directory. Throws CORE_STORE_UNAVAILABLE when another process holds the
 * index's lock (a writer is changing it) or no place has room for the copy
 * (the message says ENOSPC), CORE_STORE_PERMISSION_DENIED naming a file
 * that may not be read.
 */
export async function snapshotIndex (indexDir: string): Promise<IndexSnapshot> {
  if (await isLocked(join(indexDir, 'LOCK'))) {
    throw new CoreError(CoreErrorCode.CORE_STORE_UNAVAILABLE, `store index ${indexDir} is in use by another process`)
  }
  const current = join(indexDir, 'CURRENT')
  const before = await readFile(current, 'utf8').catch(() => '')
  const changed = async (): Promise<boolean> => await isLocked(join(indexDir, 'LOCK')) || await readFile(current, 'utf8').catch(() => '') !== before
  const failures: string[] = []
  for (const base of SNAPSHOT_BASES()) {
    let dir: string | undefined
    try {
      dir = await mkdtemp(join(base, 'tandem-index-'))
      await copyIndex(indexDir, dir)
      const made = dir
      return { dir: made, remove: async () => { await rm(made, { recursive: true, force: true }) }, changed }
    } catch (err) {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true }).catch(() => {})
      const code = (err as NodeJS.ErrnoException).code ?? ''
      if (err instanceof CoreError || !BASE_UNUSABLE.has(code)) throw err
      failures.push(`${base}: ${code}`)
    }
  }
  throw new CoreError(CoreErrorCode.CORE_STORE_UNAVAILABLE,
    `no room for a private copy of the store index ${indexDir} (${failures.join(', ')}); free space there or set TMPDIR to a directory with room`,
    { details: { failures } })
}

async function copyIndex (from: string, to: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const names = (await fsCall(from, async () => await readdir(from)))!.filter(n => DB_FILE.test(n))
      for (const name of names) await copyOne(join(from, name), join(to, name))
      return
    } catch (err) {
      // A file a writer's compaction removed between readdir and copy: start again.
      const e = err as NodeJS.ErrnoException
      if (e.code !== 'ENOENT' || e.path?.startsWith(to) === true) throw err
      if (attempt >= MAX_COPY_ATTEMPTS) {
        throw new CoreError(CoreErrorCode.CORE_STORE_UNAVAILABLE, `store index ${from} kept changing while it was copied: another process is writing it`, { cause: err })
      }
      await rm(to, { recursive: true, force: true })
      await mkdir(to, { mode: 0o700 })
    }
  }
}

async function copyOne (src: string, dst: string): Promise<void> {
  if (TABLE_FILE.test(src)) {
    try {
      await link(src, dst)
      return
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err
      // EXDEV (another file system), EPERM (protected hard links)...: copy instead.
    }
  }
  const copied = await fsCall(src, async () => { await copyFile(src, dst); return true })
  if (copied === undefined) throw Object.assign(new Error(`${src} disappeared`), { code: 'ENOENT', path: src })
}

/**
 * Whether any process holds a lock on `lockFile`, from /proc/locks (LevelDB
 * takes a POSIX lock on it for as long as a database is open). Reads only.
 * False where /proc/locks does not exist: the check is then skipped.
 */
async function isLocked (lockFile: string): Promise<boolean> {
  const s = await stat(lockFile, { bigint: true }).catch(() => undefined)
  if (s === undefined) return false
  const locks = await readFile('/proc/locks', 'utf8').catch(() => undefined)
  if (locks === undefined) return false
  // Linux's dev_t split (glibc's gnu_dev_major / gnu_dev_minor); /proc/locks prints "major:minor:inode", those two in hex.
  const major = ((s.dev >> 8n) & 0xfffn) | ((s.dev >> 32n) & ~0xfffn)
  const minor = (s.dev & 0xffn) | ((s.dev >> 12n) & ~0xffn)
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${s.ino}`
  return locks.split('\n').some(line => line.split(/\s+/).includes(id))
}
