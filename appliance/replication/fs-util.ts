import { open, rename, stat, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

export async function isDirectory (path: string): Promise<boolean> {
  return await stat(path).then(s => s.isDirectory(), () => false)
}

/** Replaces `path` with `data` atomically and durably: temp file, fsync, rename, fsync the directory. */
export async function writeFileAtomic (path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  await writeFile(tmp, data, { mode: 0o600 })
  const f = await open(tmp, 'r')
  try { await f.sync() } finally { await f.close() }
  await rename(tmp, path)
  const d = await open(dirname(path), 'r')
  try { await d.sync() } finally { await d.close() }
}
