/**
 * Every entry of a directory tree as plain facts (path, type, mode, size,
 * content hash), for tests that prove a command changed nothing, or that
 * check modes. Access and change times are left out on purpose: reading
 * changes the first, and neither is part of what a read must keep.
 */
import { createHash } from 'node:crypto'
import { lstat, readdir, readFile, readlink } from 'node:fs/promises'
import { join } from 'node:path'

export interface EntryFacts {
  path: string
  type: 'dir' | 'file' | 'link' | 'other'
  /** Permission bits (mode & 0o7777). */
  mode: number
  size: number
  /** SHA-256 of a file's content or a link's target; '' for others. */
  hash: string
}

/** The facts of `root` itself (path '.') and of everything below it, sorted by path. */
export async function treeFacts (root: string): Promise<EntryFacts[]> {
  const out: EntryFacts[] = []
  const visit = async (rel: string): Promise<void> => {
    const path = rel === '.' ? root : join(root, rel)
    const s = await lstat(path)
    const type = s.isDirectory() ? 'dir' : s.isFile() ? 'file' : s.isSymbolicLink() ? 'link' : 'other'
    const hash = type === 'file'
      ? createHash('sha256').update(await readFile(path)).digest('hex')
      : type === 'link' ? createHash('sha256').update(await readlink(path)).digest('hex') : ''
    out.push({ path: rel, type, mode: s.mode & 0o7777, size: type === 'dir' ? 0 : s.size, hash })
    if (type === 'dir') {
      for (const name of (await readdir(path)).sort()) await visit(rel === '.' ? name : join(rel, name))
    }
  }
  await visit('.')
  return out.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
}
