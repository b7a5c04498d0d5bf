import { open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { FILE_MODE } from './constants.ts'

/**
 * Puts `data` at `file` (mode FILE_MODE) so that a crash leaves the old
 * content or the new, never a part: a temp file beside it, fsynced,
 * renamed over, then the directory fsynced so the rename lasts. The temp
 * file is `<file>.tmp`: callers do not write one file concurrently, and a
 * crash's leftover is overwritten (and chmodded: open's mode applies only
 * to a new file). A failed write removes the temp file.
 */
export async function writePrivateFile (file: string, data: string): Promise<void> {
  const tmp = `${file}.tmp`
  try {
    const h = await open(tmp, 'w', FILE_MODE)
    try {
      await h.chmod(FILE_MODE)
      await h.writeFile(data)
      await h.sync()
    } finally {
      await h.close()
    }
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  const dir = await open(dirname(file), 'r')
  try { await dir.sync() } finally { await dir.close() }
}
