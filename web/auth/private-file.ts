/**
 * Files under DATA/web/ only the daemon's user may read (mode 0600), written
 * atomically: a reader (or a crash) sees the old content or the new one, never
 * a part.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'

export const PRIVATE_FILE_MODE = 0o600
export const PRIVATE_DIR_MODE = 0o700

/** Writes `text` to `path` (mode 0600) through a temporary file in the same folder, synced, then renamed over it. */
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

/** The file's text, or null when it does not exist; at most `maxBytes` are read (more is a damaged file: an Error). */
export async function readPrivateFile (path: string, maxBytes: number): Promise<string | null> {
  let file
  try {
    file = await open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  try {
    const buffer = Buffer.alloc(maxBytes + 1)
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0)
    if (bytesRead > maxBytes) throw new Error(`${path} is larger than ${maxBytes} bytes`)
    return buffer.subarray(0, bytesRead).toString('utf8')
  } finally {
    await file.close()
  }
}
