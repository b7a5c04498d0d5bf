import { open, type FileHandle } from 'node:fs/promises'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { packPath } from './pack.ts'

interface Entry {
  handle: Promise<FileHandle>
  users: number
  /** Dropped from the cache while in use: close when the last user is done. */
  retired: boolean
}

/**
 * Open read handles of pack files, shared by concurrent readers. At most
 * `max` idle handles stay open (least recently used closed first); a handle
 * is never closed while a read uses it (so with more busy packs than `max`,
 * more stay open until their readers finish). Safe for concurrent use.
 */
export class PackHandles {
  private readonly dir: string
  private readonly max: number
  private readonly entries = new Map<string, Entry>()

  constructor (dir: string, max: number) {
    this.dir = dir
    this.max = max
  }

  /** Runs `fn` with an open handle of pack `id`. Throws CORE_BLOCK_MISSING if the pack cannot be opened. */
  async use<T> (id: string, fn: (handle: FileHandle) => Promise<T>): Promise<T> {
    let e = this.entries.get(id)
    if (e === undefined) {
      e = { handle: open(packPath(this.dir, id), 'r'), users: 0, retired: false }
    } else {
      this.entries.delete(id) // most recently used goes last
    }
    this.entries.set(id, e)
    e.users++ // before evicting, so this entry is never the one evicted
    this.evictIdle()
    try {
      let handle: FileHandle
      try {
        handle = await e.handle
      } catch (err) {
        if (this.entries.get(id) === e) this.entries.delete(id)
        throw new CoreError(CoreErrorCode.CORE_BLOCK_MISSING, `pack ${id} cannot be opened: ${(err as Error).message}`, { cause: err, details: { pack: id } })
      }
      return await fn(handle)
    } finally {
      e.users--
      if (e.retired && e.users === 0) close(e)
    }
  }

  /** Drops a pack's handle (before the pack is deleted); closed once idle. */
  forget (id: string): void {
    const e = this.entries.get(id)
    if (e === undefined) return
    this.entries.delete(id)
    retire(e)
  }

  async closeAll (): Promise<void> {
    const all = [...this.entries.values()]
    this.entries.clear()
    for (const e of all) {
      e.retired = true
      await e.handle.then(async h => { await h.close() }, () => {})
    }
  }

  private evictIdle (): void {
    for (const [id, e] of this.entries) {
      if (this.entries.size <= this.max) break
      if (e.users > 0) continue
      this.entries.delete(id)
      retire(e)
    }
  }
}

function retire (e: Entry): void {
  e.retired = true
  if (e.users === 0) close(e)
}

function close (e: Entry): void {
  e.handle.then(async h => { await h.close() }, () => {}).catch(() => {})
}
