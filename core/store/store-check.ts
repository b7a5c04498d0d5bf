import { blake3 } from '@napi-rs/blake-hash'
import { BlockCodec } from '../compress.ts'
import { HASH_LENGTH } from '../constants.ts'
import { CoreError, CoreErrorCode, throwIfAborted } from '../errors.ts'
import { equalHashes, hashBlock, toHex } from '../hash.ts'
import { blockCount, hashAt, isZeroBlock } from '../manifest.ts'
import { decodeLocation } from './location.ts'
import { BLOCK_RANGE, hashOfBlockKey } from './keys.ts'
import { pageList } from './manifest-pages.ts'
import { packPath, readPackEntries, RecordType } from './pack.ts'
import { pointFileName, pointFilePath, readPointFile } from './point-file.ts'
import type { ProgressListener } from '../types.ts'
import type { RecoveryPointStore } from './store.ts'

/** Most problems a store check lists; past this it only counts. */
export const MAX_STORE_PROBLEMS = 256

/** One thing wrong in a store, with where it is. */
export interface StoreProblem {
  code: string
  /** The file, relative to the store: `packs/<id>.pack`, `points/<id>.point`. */
  file?: string
  /** Byte offset in the file (a record's header, or the data a block location names). */
  offset?: number
  /** The block or page hash concerned, hex. */
  hash?: string
  point?: number
  disk?: string
}

export interface StoreCheckReport {
  ok: boolean
  checkedPacks: number
  checkedRecords: number
  checkedPointFiles: number
  problemCount: number
  /** The first problems (up to MAX_STORE_PROBLEMS). */
  problems: StoreProblem[]
}

/**
 * Checks every byte of every pack and point file of a store, and the index
 * against them (`tandem verify --all`):
 * - each pack is walked record by record: file header and record headers
 *   against their CRCs, each block's data decoded and hashed, each manifest
 *   page hashed (CORE_BLOCK_CORRUPT at the first damaged header: the records
 *   after it cannot be found by walking, but the next check reaches them);
 * - each block the index locates is read through its location and verified
 *   (CORE_BLOCK_CORRUPT, CORE_BLOCK_MISSING);
 * - each committed point has an intact point file that agrees with the index
 *   (CORE_POINT_FILE_MISSING, CORE_POINT_FILE_CORRUPT), every manifest page
 *   it lists is in a pack (CORE_MANIFEST_INVALID), every block it needs is
 *   indexed (CORE_BLOCK_MISSING);
 * - files in packs/ the index does not name are reported (CORE_PACK_STRAY).
 * Read-only. Never throws for what it finds: it reports it.
 */
export async function checkStore (store: RecoveryPointStore, options: { signal?: AbortSignal, onProgress?: ProgressListener } = {}): Promise<StoreCheckReport> {
  const report: StoreCheckReport = { ok: true, checkedPacks: 0, checkedRecords: 0, checkedPointFiles: 0, problemCount: 0, problems: [] }
  const add = (p: StoreProblem): void => {
    report.ok = false
    report.problemCount++
    if (report.problems.length < MAX_STORE_PROBLEMS) report.problems.push(p)
  }
  const codec = new BlockCodec()
  const packedPages = new Set<string>()
  const goodRecords = new Map<string, string>()
  const packs = await store.packs()
  const total = [...packs.values()].reduce((n, p) => n + p.bytes, 0)
  let done = 0
  for (const [id, rec] of packs) {
    throwIfAborted(options.signal)
    options.onProgress?.({ phase: 'verify packs', done, total })
    report.checkedPacks++
    await checkPackFile(store, id, codec, { packedPages, goodRecords }, report, add)
    done += rec.bytes
  }
  options.onProgress?.({ phase: 'verify packs', done: total, total })
  for (const name of store.strays) add({ code: CoreErrorCode.CORE_PACK_STRAY, file: `packs/${name}` })
  for await (const [key, value] of store.db.iterator(BLOCK_RANGE)) {
    throwIfAborted(options.signal)
    const hex = hashOfBlockKey(key)
    const loc = decodeLocation(value)
    // A record the walk above found whole, exactly as located, is not read twice.
    if (goodRecords.get(`${loc.pack}:${loc.offset}`) === recordFacts(hex, loc)) continue
    try {
      await store.readVerified(Buffer.from(hex, 'hex'))
    } catch (err) {
      if (!(err instanceof CoreError)) throw err
      add({ code: err.code, file: `packs/${loc.pack}.pack`, offset: loc.offset, hash: hex })
    }
  }
  for (const point of await store.listPoints()) {
    throwIfAborted(options.signal)
    await checkPoint(store, point.id, packedPages, report, add)
  }
  return report
}

/** What must match between a walked record and a block location. */
function recordFacts (hex: string, l: { storedLength: number, rawLength: number, codec: number }): string {
  return `${hex}:${l.storedLength}:${l.rawLength}:${l.codec}`
}

async function checkPackFile (store: RecoveryPointStore, id: string, codec: BlockCodec,
  found: { packedPages: Set<string>, goodRecords: Map<string, string> }, report: StoreCheckReport, add: (p: StoreProblem) => void): Promise<void> {
  const file = `packs/${id}.pack`
  try {
    for await (const e of readPackEntries(packPath(store.packsDir, id))) {
      report.checkedRecords++
      if (e.type === RecordType.MANIFEST_PAGE) {
        if (equalHashes(new Uint8Array(blake3(e.data)), 0, e.hash, 0)) found.packedPages.add(toHex(e.hash))
        else add({ code: CoreErrorCode.CORE_BLOCK_CORRUPT, file, offset: e.offset, hash: toHex(e.hash) })
        continue
      }
      let ok = false
      try {
        ok = equalHashes(hashBlock(codec.decode(e.codec, e.data, e.rawLength)), 0, e.hash, 0)
      } catch {}
      const hex = toHex(e.hash)
      if (ok) found.goodRecords.set(`${id}:${e.offset}`, recordFacts(hex, { storedLength: e.data.byteLength, rawLength: e.rawLength, codec: e.codec }))
      else add({ code: CoreErrorCode.CORE_BLOCK_CORRUPT, file, offset: e.offset, hash: hex })
    }
  } catch (err) {
    if (!(err instanceof CoreError)) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') { add({ code: CoreErrorCode.CORE_BLOCK_MISSING, file }); return }
      throw err
    }
    add({ code: err.code, file, offset: err.details?.offset as number | undefined })
  }
}

async function checkPoint (store: RecoveryPointStore, id: number, packedPages: Set<string>,
  report: StoreCheckReport, add: (p: StoreProblem) => void): Promise<void> {
  const point = await store.getPoint(id)
  const file = `points/${pointFileName(id)}`
  try {
    const f = await readPointFile(pointFilePath(store.pointsDir, id))
    report.checkedPointFiles++
    let agrees = f.point.root === point.root && f.point.id === id && f.point.time === point.time && f.point.disks.length === point.disks.length
    for (const d of point.disks) {
      const list = await pageList(store.db, id, d.name)
      const theirs = f.pages[d.name]
      if (list === undefined || theirs === undefined || !Buffer.from(list).equals(Buffer.from(theirs))) agrees = false
    }
    if (!agrees) add({ code: CoreErrorCode.CORE_POINT_FILE_CORRUPT, file, point: id })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') add({ code: CoreErrorCode.CORE_POINT_FILE_MISSING, file, point: id })
    else if (err instanceof CoreError) add({ code: err.code, file, point: id })
    else throw err
  }
  for (const d of point.disks) {
    const list = await pageList(store.db, id, d.name)
    for (let at = 0; list !== undefined && at < list.byteLength; at += HASH_LENGTH) {
      const hex = toHex(list.subarray(at, at + HASH_LENGTH))
      if (!packedPages.has(hex)) add({ code: CoreErrorCode.CORE_MANIFEST_INVALID, point: id, disk: d.name, hash: hex })
    }
    let m
    try {
      m = await store.manifest(id, d.name)
    } catch (err) {
      if (!(err instanceof CoreError)) throw err
      add({ code: err.code, point: id, disk: d.name })
      continue
    }
    const n = blockCount(m.size, m.blockSize)
    const hexes: string[] = []
    for (let i = 0; i < n; i++) if (!isZeroBlock(m, i)) hexes.push(toHex(hashAt(m, i)))
    for (let i = 0; i < hexes.length; i += 1024) {
      const slice = hexes.slice(i, i + 1024)
      const present = await store.hasBlocks(slice)
      slice.forEach((hex, k) => { if (present[k] !== true) add({ code: CoreErrorCode.CORE_BLOCK_MISSING, point: id, disk: d.name, hash: hex }) })
    }
  }
}
