import { lstat, open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { CoreError, CoreErrorCode } from './errors.ts'
import { fsyncDir } from './store/staged-cycle.ts'

/** Throws CORE_OUTPUT_EXISTS when `path` exists and replacing it was not asked for. */
export async function checkOutput (path: string, force: boolean | undefined): Promise<void> {
  if (force !== true && await lstat(path).then(() => true, () => false)) {
    throw new CoreError(CoreErrorCode.CORE_OUTPUT_EXISTS, `${path} exists; pass force to replace it`)
  }
}

/**
 * Writes a new file atomically: `fill` writes `<path>.partial`, which is then
 * fsynced and renamed over `path` (and the directory fsynced). `path` is
 * either untouched or complete; on any failure the partial file is removed.
 * Errors from `fill` pass through; file-system errors become CORE_WRITE_FAILED.
 */
export async function writeOutputFile<T> (path: string, fill: (handle: FileHandle, partialPath: string) => Promise<T>): Promise<T> {
  const partial = `${path}.partial`
  let handle: FileHandle
  try {
    handle = await open(partial, 'w')
  } catch (err) {
    throw writeFailed(`cannot create ${partial}`, err)
  }
  try {
    const result = await fill(handle, partial)
    await handle.sync().catch((err: unknown) => { throw writeFailed(`fsync of ${partial}`, err) })
    await handle.close()
    await rename(partial, path).catch((err: unknown) => { throw writeFailed(`rename of ${partial}`, err) })
    await fsyncDir(dirname(path)).catch((err: unknown) => { throw writeFailed(`fsync of ${dirname(path)}`, err) })
    return result
  } catch (err) {
    await handle.close().catch(() => {})
    await unlink(partial).catch(() => {})
    throw err
  }
}

function writeFailed (what: string, err: unknown): CoreError {
  return new CoreError(CoreErrorCode.CORE_WRITE_FAILED, `${what} failed: ${(err as Error).message}`, { cause: err })
}
