/**
 * What says a disk file was not written since it was read (docs/failover.md
 * "Salvage"): its size, modification and change times, inode and device.
 * A write moves mtime (and ctime); replacing the file moves ino; a chmod,
 * a rename over it or a `touch` back in time moves ctime. Taken right
 * before a preparation reads the disk and checked right after, then again
 * when the reversal comes: unchanged means the stored point is the disk.
 */
import { stat } from 'node:fs/promises'
import { isObject } from '../json-file.ts'

export interface FileIdentity {
  size: number
  mtimeMs: number
  ctimeMs: number
  ino: number
  dev: number
}

/** The identity of `path` now (its stat; errors as stat throws them). */
export async function fileIdentity (path: string): Promise<FileIdentity> {
  const s = await stat(path)
  return { size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino, dev: s.dev }
}

/** Both the same file, not written in between. Pure. */
export function sameIdentity (a: FileIdentity, b: FileIdentity): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.ino === b.ino && a.dev === b.dev
}

/** `v` read from a record is a FileIdentity. Pure. */
export function isFileIdentity (v: unknown): v is FileIdentity {
  if (!isObject(v)) return false
  return ['size', 'mtimeMs', 'ctimeMs', 'ino', 'dev'].every(k => typeof v[k] === 'number' && Number.isFinite(v[k]) && (v[k] as number) >= 0)
}
