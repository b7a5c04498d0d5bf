import { toHex } from './hash.ts'
import type { BlockHash } from './types.ts'

interface Entry {
  block: Promise<Uint8Array>
  bytes: number
}

/**
 * Decoded blocks by hash, for readers that come back to the same block
 * (NBD clients reading ranges smaller than a block, duplicate blocks).
 * Holds at most `maxBytes` (counted at each block's expected length), least
 * recently used dropped first; the newest block always stays, even alone
 * over the bound. Concurrent gets of one hash share one load; a failed load
 * is not kept (the next get loads again) and rejects every waiter. Safe for
 * concurrent use.
 */
export class BlockCache {
  readonly #maxBytes: number
  readonly #load: (hash: BlockHash) => Promise<Uint8Array>
  readonly #entries = new Map<string, Entry>()
  #bytes = 0

  constructor (maxBytes: number, load: (hash: BlockHash) => Promise<Uint8Array>) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new TypeError('maxBytes must be a non-negative integer')
    this.#maxBytes = maxBytes
    this.#load = load
  }

  /** Bytes held now (loaded or loading). */
  get bytes (): number { return this.#bytes }

  /** The block with this hash, `length` bytes long: from the cache, or loaded (and kept). */
  async get (hash: BlockHash, length: number): Promise<Uint8Array> {
    const key = toHex(hash)
    const hit = this.#entries.get(key)
    if (hit !== undefined) {
      this.#entries.delete(key) // most recently used goes last
      this.#entries.set(key, hit)
      return await hit.block
    }
    const entry: Entry = { block: this.#load(hash), bytes: length }
    this.#entries.set(key, entry)
    this.#bytes += length
    this.#evict(entry)
    entry.block.catch(() => { this.#drop(key, entry) })
    return await entry.block
  }

  #evict (keep: Entry): void {
    for (const [key, e] of this.#entries) {
      if (this.#bytes <= this.#maxBytes) return
      if (e !== keep) this.#drop(key, e)
    }
  }

  #drop (key: string, entry: Entry): void {
    if (this.#entries.get(key) !== entry) return
    this.#entries.delete(key)
    this.#bytes -= entry.bytes
  }
}
