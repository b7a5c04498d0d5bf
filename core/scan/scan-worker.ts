/**
 * Scan worker: hashes (BLAKE3) each block of one chunk, recognises all-zero
 * blocks without hashing them, and compresses the blocks that differ from
 * the base. Runs in a piscina worker thread.
 */
import { readSync } from 'node:fs'
import { BlockCodec } from '../compress.ts'
import { HASH_LENGTH } from '../constants.ts'
import { equalHashes, hashBlock, isZero, zeroHash } from '../hash.ts'
import { Piscina } from 'piscina'
import { encodeResult, resultCapacity, type ScanTask } from './scan-task.ts'

let readBuffer: Buffer | undefined
let codec: BlockCodec | undefined
/** Compressed blocks of the current chunk, until they are copied into the result. */
let arena: Uint8Array | undefined

function chunkBytes (task: ScanTask): Uint8Array {
  if (task.data !== undefined) return task.data
  if (task.fd === undefined) throw new TypeError('scan task has neither data nor fd')
  if (readBuffer === undefined || readBuffer.byteLength < task.length) readBuffer = Buffer.allocUnsafeSlow(task.length)
  let done = 0
  while (done < task.length) {
    const n = readSync(task.fd, readBuffer, done, task.length - done, task.offset + done)
    if (n === 0) {
      const err = new Error(`source ended at ${task.offset + done} while being read`) as Error & { code: string }
      err.code = 'CORE_SOURCE_CHANGED'
      throw err
    }
    done += n
  }
  return readBuffer.subarray(0, task.length)
}

export default function scanChunk (task: ScanTask): unknown {
  const bytes = chunkBytes(task)
  const blocks = Math.ceil(task.length / task.blockSize)
  const hashes = new Uint8Array(blocks * HASH_LENGTH)
  const changed: number[] = []
  const encoded: Array<{ index: number, codec: number, rawLength: number, data: Uint8Array }> = []
  let arenaUsed = 0
  for (let i = 0; i < blocks; i++) {
    const block = bytes.subarray(i * task.blockSize, Math.min((i + 1) * task.blockSize, task.length))
    const zero = isZero(block)
    const hash = zero ? zeroHash(block.byteLength) : hashBlock(block)
    hashes.set(hash, i * HASH_LENGTH)
    const base = task.baseHashes
    if (base !== undefined && (i + 1) * HASH_LENGTH <= base.byteLength && equalHashes(base, i * HASH_LENGTH, hash, 0)) continue
    changed.push(i)
    if (!task.encodeChanged || zero) continue
    codec ??= new BlockCodec()
    if (arena === undefined || arena.byteLength < task.length) arena = new Uint8Array(task.length)
    const enc = codec.encodeInto(block, arena.subarray(arenaUsed))
    if (enc.data.buffer === arena.buffer) arenaUsed += enc.data.byteLength
    encoded.push({ index: i, codec: enc.codec, rawLength: block.byteLength, data: enc.data })
  }
  // One buffer, moved (not copied) to the scanner: the one it gave back for
  // reuse when the result fits, else a new one (large enough for any chunk
  // of this size when it will be given back, so that it can be reused in
  // turn). Compressed and raw blocks are copied into it here, before the
  // arena and read buffer are reused.
  const capacity = task.reusable === true && task.encodeChanged ? resultCapacity(task.length, task.blockSize) : 0
  return Piscina.move(encodeResult(hashes, changed, encoded, task.room, capacity))
}
