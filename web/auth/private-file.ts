/**
 * Files under DATA/web/ only the daemon's user may read (mode 0600), written
 * atomically: a reader (or a crash) sees the old content or the new one, never
 * a part.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { readBoundedIfExists } from '../../appliance/fs-util.ts'

export const PRIVATE_FILE_MODE = 0o600
export const PRIVATE_DIR_MODE = 0o700

/**
 * Writes `text` to `path` (mode 0600) through a temporary file in the same folder, synced,
 * then renamed over it. Not appliance/fs-util.ts's writeFileAtomic: its temp name is fixed,
 * for callers that serialize their writes, and two requests (setup, a password change)
 * may write admin.json at once; here each write has its own temp file.
 */
export async function writePrivateFile (path: string, text: string): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE })
  const temp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`)
  try {
    const file = await open(temp, 'wx', PRIVATE_FILE_MODE)
    try {
      await file.writeFile(text)
      await file.sync()
    } finally {
      await file.close()
    }
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
  const folder = await open(dir, 'r')
  try { await folder.sync() } finally { await folder.close() }
}

/** The file's text, or null when it does not exist; a file larger than `maxBytes` is a damaged one: an Error, nothing read. */
export async function readPrivateFile (path: string, maxBytes: number): Promise<string | null> {
  const bytes = await readBoundedIfExists(path, maxBytes, size => new Error(`${path} is larger than ${maxBytes} bytes (${size})`))
  return bytes === undefined ? null : Buffer.from(bytes).toString('utf8')
}
