import { open, readFile, rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'

/** The file's text, or undefined when it does not exist. Other I/O errors are thrown as they are. */
export async function readTextIfExists (file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

export async function isDirectory (path: string): Promise<boolean> {
  return await stat(path).then(s => s.isDirectory(), () => false)
}

/**
 * Replaces `file` with `data` so that a crash leaves the old or the new
 * content, never a mix: temp file in the same directory (mode 0600), fsync,
 * rename over, fsync the directory. The temp name is fixed (`<file>.tmp`):
 * callers serialize their writes to one file, and a crash's leftover is
 * simply overwritten. A failed write removes the temp file.
 */
export async function writeFileAtomic (file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.tmp`
  try {
    const h = await open(tmp, 'w', 0o600)
    try {
      // the open mode applies only to a new file: a leftover temp file may have another
      await h.chmod(0o600)
      await h.writeFile(data)
      await h.sync()
    } finally {
      await h.close()
    }
    await rename(tmp, file)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw err
  }
  const d = await open(dirname(file), 'r')
  try { await d.sync() } finally { await d.close() }
}

/**
 * The file's bytes, or undefined when it does not exist. A file larger than
 * `maxBytes` is not read: `tooLarge(size)` is thrown instead, so a damaged or
 * foreign file cannot make the caller read gigabytes. Other I/O errors are
 * thrown as they are.
 */
export async function readBoundedIfExists (file: string, maxBytes: number, tooLarge: (size: number) => Error): Promise<Uint8Array | undefined> {
  let h
  try {
    h = await open(file, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const { size } = await h.stat()
    if (size > maxBytes) throw tooLarge(size)
    return await h.readFile()
  } finally {
    await h.close()
  }
}
