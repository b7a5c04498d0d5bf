/**
 * The store's directory before LevelDB touches it: what it holds (nothing,
 * a store, a damaged store, something else), creating a new one, and the
 * modes that keep VM disk data private (directories 0700, files 0600).
 * docs/store-format.md "Directory and modes", docs/cli.md "Store location".
 */
import { chmod, lstat, mkdir, readdir, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { repairHint } from './db.ts'

/** Entries only a store has; one of them without `index/` means the index was lost. */
const STORE_PARTS = ['packs', 'images', 'points']

export type StoreDirState =
  /** Nothing at the path: a store may be created there. */
  | 'missing'
  /** An empty directory: a store may be created there. */
  | 'empty'
  /** A store with an index that LevelDB can be asked to open. */
  | 'store'
  /** A non-empty directory that is not a store: never made into one. */
  | 'foreign'

/**
 * What `dir` holds. Reads only. Throws CORE_STORE_NOT_DIRECTORY (the path
 * or a part of it is a file), CORE_STORE_PERMISSION_DENIED (naming the
 * path), CORE_STORE_DAMAGED (packs or images without an index, an index
 * with no CURRENT file).
 */
export async function inspectStoreDir (dir: string): Promise<StoreDirState> {
  const s = await fsCall(dir, async () => await stat(dir))
  if (s === undefined) return 'missing'
  if (!s.isDirectory()) throw notDirectory(dir)
  const names = (await fsCall(dir, async () => await readdir(dir)))!
  if (names.length === 0) return 'empty'
  if (!names.includes('index')) {
    if (names.some(n => STORE_PARTS.includes(n))) throw damaged(dir, `${join(dir, 'index')} is missing`)
    return 'foreign'
  }
  const index = join(dir, 'index')
  const indexStat = (await fsCall(index, async () => await stat(index)))!
  if (!indexStat.isDirectory()) throw damaged(dir, `${index} is not a directory`)
  const files = (await fsCall(index, async () => await readdir(index)))!
  if (!files.includes('CURRENT')) throw damaged(dir, `${index} has no CURRENT file`)
  return 'store'
}

/** Creates the directory of a new store, mode 0700 (missing parents get the usual modes), or makes an empty one 0700. */
export async function createStoreDir (dir: string): Promise<void> {
  await fsCall(dir, async () => await mkdir(dirname(dir), { recursive: true }))
  await fsCall(dir, async () => await mkdir(dir, { mode: 0o700 }).catch(ignore('EEXIST')))
  await fsCall(dir, async () => { await chmod(dir, 0o700) })
}

/** Creates `packs/` and `images/` when absent (a new store, or one a crash interrupted while creating). */
export async function ensureStoreParts (dir: string): Promise<void> {
  for (const part of STORE_PARTS) await fsCall(join(dir, part), async () => await mkdir(join(dir, part), { mode: 0o700 }).catch(ignore('EEXIST')))
}

/**
 * Takes group and other permissions away from the store directory and
 * everything in it (directories become 0700, files 0600), without following
 * symbolic links. Used by writable opens and closes: files LevelDB, packs and
 * images created in between (with the process umask) are tightened at the
 * latest on close, and until then sit in a 0700 directory no other user can
 * enter. Best effort for stores this user does not own (EPERM), read-only
 * file systems (EROFS) and entries removed meanwhile (ENOENT).
 */
export async function tightenModes (dir: string): Promise<void> {
  const visit = async (path: string): Promise<void> => {
    const s = await lstat(path).catch(ignore('ENOENT'))
    if (s === undefined || s.isSymbolicLink()) return
    if ((s.mode & 0o077) !== 0) await chmod(path, s.mode & 0o7700).catch(ignore('ENOENT', 'EPERM', 'EROFS'))
    if (s.isDirectory()) {
      for (const name of await readdir(path).catch(ignore('ENOENT')) ?? []) await visit(join(path, name))
    }
  }
  await visit(dir)
}

/**
 * Runs one file-system call on `path` with the store's error codes: ENOENT
 * is undefined (the caller decides), ENOTDIR is CORE_STORE_NOT_DIRECTORY,
 * EACCES/EPERM CORE_STORE_PERMISSION_DENIED; others pass through.
 */
export async function fsCall<T> (path: string, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call()
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    if (code === 'ENOTDIR') throw notDirectory(path, err)
    if (code === 'EACCES' || code === 'EPERM') {
      throw new CoreError(CoreErrorCode.CORE_STORE_PERMISSION_DENIED, `permission denied on ${path} (${(err as Error).message})`, { cause: err, details: { path } })
    }
    throw err
  }
}

function notDirectory (path: string, cause?: unknown): CoreError {
  return new CoreError(CoreErrorCode.CORE_STORE_NOT_DIRECTORY, `store path ${path} is (or goes through) a file, not a directory`, { cause, details: { path } })
}

function damaged (dir: string, what: string): CoreError {
  return new CoreError(CoreErrorCode.CORE_STORE_DAMAGED, `the store index of ${dir} is missing or damaged: ${what}; nothing was changed; ${repairHint(dir)}`)
}

/** A catch handler that turns the listed errno codes into undefined and rethrows the rest. */
function ignore (...codes: string[]): (err: unknown) => undefined {
  return err => {
    if (codes.includes((err as NodeJS.ErrnoException).code ?? '')) return undefined
    throw err
  }
}
