/**
 * One open RecoveryPointStore per store directory, shared by reference
 * count: a second open of a store in the same process fails (LevelDB's
 * lock, CORE_STORE_UNAVAILABLE), so a replication session and the points
 * the Replica serves meanwhile (docs/failover.md) read and write through one
 * instance. The store is closed when its last share is given back.
 */
import type { RecoveryPointStore } from '../../core/store/index.ts'

/** One holder's share of an open store. */
export interface HeldStore {
  readonly store: RecoveryPointStore
  /**
   * Gives the share back (idempotent). When it was the last, the store is
   * closed, and this resolves once it is (rejecting if close failed).
   */
  release: () => Promise<void>
}

interface Entry {
  opened: Promise<RecoveryPointStore>
  holders: number
  /** Set once the last share was given back: the store is closing, and the entry leaves the map when it is closed. */
  closing: Promise<void> | undefined
}

export class OpenStores {
  private readonly entries = new Map<string, Entry>()
  /** Told when the last entry leaves. */
  private emptied: Array<() => void> = []

  /**
   * A share of the store of `dir`: the open one (waiting while it is being
   * opened), else a new one from `open()`; a store that is closing is first
   * let close. `open()` failing fails every caller that waited on it, and
   * leaves nothing open. May be called concurrently.
   */
  async acquire (dir: string, open: () => Promise<RecoveryPointStore>): Promise<HeldStore> {
    return (await this.take(dir, open))!
  }

  /**
   * A share of the store of `dir` if one is open (or being opened), else
   * undefined; a store that is closing is first let close (then: undefined).
   */
  async join (dir: string): Promise<HeldStore | undefined> {
    return await this.take(dir, undefined)
  }

  private async take (dir: string, open: (() => Promise<RecoveryPointStore>) | undefined): Promise<HeldStore | undefined> {
    for (;;) {
      // Looked up and counted (or created) in one synchronous step: two callers never both open.
      let entry = this.entries.get(dir)
      if (entry?.closing !== undefined) {
        await entry.closing.catch(() => {})
        continue
      }
      if (entry !== undefined) entry.holders++
      else if (open === undefined) return undefined
      else {
        entry = { opened: open(), holders: 1, closing: undefined }
        this.entries.set(dir, entry)
      }
      return await this.share(dir, entry)
    }
  }

  /** Resolves once no store is open, being opened or closing (their holders give their shares back), or when `signal` aborts. */
  async idle (signal?: AbortSignal): Promise<void> {
    if (this.entries.size === 0 || signal?.aborted === true) return
    await new Promise<void>(resolve => {
      const done = (): void => { signal?.removeEventListener('abort', done); resolve() }
      this.emptied.push(done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }

  private async share (dir: string, entry: Entry): Promise<HeldStore> {
    let store: RecoveryPointStore
    try {
      store = await entry.opened
    } catch (err) {
      this.drop(dir, entry)
      throw err
    }
    let released = false
    return {
      store,
      release: async () => {
        if (released) return
        released = true
        if (--entry.holders > 0) return
        entry.closing = store.close().finally(() => { this.drop(dir, entry) })
        await entry.closing
      }
    }
  }

  private drop (dir: string, entry: Entry): void {
    if (this.entries.get(dir) !== entry) return
    this.entries.delete(dir)
    if (this.entries.size > 0) return
    const waiting = this.emptied
    this.emptied = []
    for (const done of waiting) done()
  }
}
