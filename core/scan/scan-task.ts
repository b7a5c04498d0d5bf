/**
 * Messages between the scanner and its worker threads. Plain data only
 * (structured clone); buffers named in transfer lists are moved, not copied.
 */
export interface ScanTask {
  /** Disk offset of the chunk (a multiple of blockSize). */
  offset: number
  /** Bytes in the chunk: a multiple of blockSize, except for the disk's last chunk. */
  length: number
  blockSize: number
  /** The worker reads the chunk itself from this descriptor... */
  fd?: number
  /** ...or the scanner read it and moved it here. */
  data?: Uint8Array
  /** Base hashes of the chunk's blocks (absent past the base's end, or with no base). */
  baseHashes?: Uint8Array
  /** Compress and return the blocks that differ from the base and are not all zeros. */
  encodeChanged: boolean
}

export interface ScanTaskResult {
  /** One hash per block of the chunk, back to back. */
  hashes: Uint8Array
  /** Blocks of the chunk that differ from the base (chunk-relative indices, ascending). */
  changed: number[]
  /** Per changed non-zero block when encoding: codec, raw length and a slice of `payload`. */
  encoded: Array<{ index: number, codec: number, rawLength: number, start: number, end: number }>
  payload: Uint8Array
}
