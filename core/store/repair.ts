import { blake3 } from '@napi-rs/blake-hash'
import { Level } from 'level'
import { open, readdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockCodec } from '../compress.ts'
import { DEFAULT_BLOCK_SIZE, HASH_LENGTH } from '../constants.ts'
import { CoreError, CoreErrorCode, throwIfAborted } from '../errors.ts'
import { equalHashes, hashBlock, toHex } from '../hash.ts'
import { blockCount, checkManifest, diskRoot, hashAt, isZeroBlock, pointRoot } from '../manifest.ts'
import type { Manifest, RecoveryPoint } from '../types.ts'
import { encodeRecord, openIndexDb, type IndexDb } from './db.ts'
import { BLOCK_RANGE, blockKey, imageKey, manifestKey, NEXT_POINT_KEY, packKey, pageKey, pointKey, SCHEMA_KEY } from './keys.ts'
import { decodeLocation, encodeLocation, PACK_ID_HEX_LENGTH } from './location.ts'
import { decodePackHeader, PACK_HEADER_BYTES, RecordType, salvagePackEntries, type PackRecord } from './pack.ts'
import { POINT_FILE_NAME, readPointFile, type PointFile } from './point-file.ts'
import { STORE_SCHEMA_VERSION, type StoreSchema } from './store.ts'

/** Index entries written per batch while rebuilding (bounded memory per write). */
const REBUILD_BATCH_KEYS = 10_000

/** A point file whose point could not be brought back, and why. */
export interface LostPoint {
  id: number
  /** CORE_BLOCK_MISSING (blocks gone), CORE_MANIFEST_INVALID (pages gone or wrong), CORE_POINT_FILE_CORRUPT. */
  code: string
  missingBlocks: number
  missingPages: number
}

export interface RepairReport {
  /** Points listed again, oldest first. */
  restored: number[]
  /** Points whose point file is there but that could not be restored whole (their files are kept). */
  lost: LostPoint[]
  /** Point files that do not decode, by file name (kept). */
  corruptPointFiles: string[]
  packs: number
  /** Pack records that failed their check, and packs whose walk stopped at a damaged header. */
  badRecords: Array<{ file: string, offset?: number }>
  /** Distinct blocks found intact in the packs. */
  blocks: number
  /** Where the old index was moved (never deleted), if there was one. */
  movedAside: string | undefined
}

export interface RepairOptions {
  signal?: AbortSignal
  /** Clock for the name of the moved-aside index (tests). */
  now?: () => number
  /** Called at each step, for fault-injection tests: the new index is built; the old one is moved aside. */
  onPhase?: (phase: RepairPhase) => Promise<void> | void
}

export type RepairPhase = 'rebuilt' | 'moved-aside'

/**
 * Rebuilds a store's index from its packs and point files alone (restic's
 * `rebuild-index` + snapshots): every intact block record and manifest page
 * is found by walking the packs (each checked: header CRCs, data hashes); a
 * point comes back when its point file is intact and every manifest page and
 * every block it needs was found, its roots recomputed and equal. A point
 * missing anything is reported in `lost` and not listed (a recovery point is
 * whole or it does not exist); its point file and packs are kept, so a
 * later repair, after the missing pack is put back, restores it.
 *
 * Crash-safe: the new index is built in `index.rebuild/` (a leftover one is
 * discarded first), the old one is renamed to `index.damaged-<time>` (never
 * deleted), then `index.rebuild/` is renamed to `index/`. A crash at any
 * moment leaves a store this function repairs again. The image records are
 * set to `updating`, so the next open's `recoverImages` checks the images.
 * The store must not be open (CORE_STORE_UNAVAILABLE when its index is locked).
 */
export async function rebuildIndex (dir: string, options: RepairOptions = {}): Promise<RepairReport> {
  const packsDir = join(dir, 'packs')
  const pointsDir = join(dir, 'points')
  if (!await isDirectory(packsDir)) throw new CoreError(CoreErrorCode.CORE_STORE_INCOMPATIBLE, `${dir} is not a Tandem store (no packs/)`)
  await refuseIfLocked(join(dir, 'index'))
  const rebuildDir = join(dir, 'index.rebuild')
  await rm(rebuildDir, { recursive: true, force: true })

  const report: RepairReport = { restored: [], lost: [], corruptPointFiles: [], packs: 0, badRecords: [], blocks: 0, movedAside: undefined }
  const files = await readPointFiles(pointsDir, report)
  const db = await openIndexDb(rebuildDir, { createIfMissing: true, storeDir: dir })
  try {
    const found = await scanPacks(packsDir, db, report, options.signal)
    await writeIndex(db, found, files, report)
  } catch (err) {
    // Nothing was moved yet: drop the half-built scratch index, leave the store as it was.
    await db.close()
    await rm(rebuildDir, { recursive: true, force: true })
    throw err
  }
  await db.close()

  await options.onPhase?.('rebuilt')
  const indexDir = join(dir, 'index')
  if (await exists(indexDir)) {
    const aside = join(dir, `index.damaged-${new Date((options.now ?? Date.now)()).toISOString().replace(/[:.]/g, '-')}`)
    await rename(indexDir, aside)
    await fsyncDir(dir)
    report.movedAside = aside
    await options.onPhase?.('moved-aside')
  }
  await rename(rebuildDir, indexDir)
  await fsyncDir(dir)
  return report
}

interface Found {
  blockSize: number | undefined
  /** Index record of every readable pack. */
  packs: Map<string, { record: PackRecord }>
  /** Manifest pages (one per 1024 blocks: small) by hash. */
  pages: Map<string, Uint8Array>
}

/** Puts into an index, one synced batch per REBUILD_BATCH_KEYS entries. */
class BatchedPuts {
  private readonly db: IndexDb
  private batch: ReturnType<IndexDb['batch']>

  constructor (db: IndexDb) {
    this.db = db
    this.batch = db.batch()
  }

  async put (key: string, value: Uint8Array): Promise<void> {
    this.batch.put(key, value)
    if (this.batch.length >= REBUILD_BATCH_KEYS) await this.flush()
  }

  async flush (): Promise<void> {
    await this.batch.write({ sync: true })
    this.batch = this.db.batch()
  }
}

/**
 * Walks every pack file, keeping every record that checks: block locations go
 * straight into the new index (memory does not grow with the store; of two
 * intact copies of a block the later one is kept, either is right), pages
 * and pack records are returned.
 */
async function scanPacks (packsDir: string, db: IndexDb, report: RepairReport, signal: AbortSignal | undefined): Promise<Found> {
  const found: Found = { blockSize: undefined, packs: new Map(), pages: new Map() }
  const puts = new BatchedPuts(db)
  const codec = new BlockCodec()
  for (const name of (await readdir(packsDir)).sort()) {
    throwIfAborted(signal)
    const id = name.endsWith('.pack') ? name.slice(0, -'.pack'.length) : ''
    if (id.length !== PACK_ID_HEX_LENGTH || !/^[0-9a-f]+$/.test(id)) continue
    const path = join(packsDir, name)
    const header = await readHeader(path)
    if (header === 'schema-1') throw new CoreError(CoreErrorCode.CORE_STORE_INCOMPATIBLE, `${path} is a schema-1 pack (never released); repair reads schema ${STORE_SCHEMA_VERSION} only, nothing was changed`)
    if (header === undefined || header.id !== id) { report.badRecords.push({ file: `packs/${name}`, offset: 0 }); continue }
    found.blockSize ??= header.blockSize
    const record: PackRecord = { bytes: (await stat(path)).size, blocks: 0, pages: 0, dataBytes: 0, liveBlocks: 0, liveBytes: 0 }
    for await (const found_ of salvagePackEntries(path)) {
      if ('damagedAt' in found_) { report.badRecords.push({ file: `packs/${name}`, offset: found_.damagedAt }); continue }
      const e = found_.entry
      const hex = toHex(e.hash)
      if (e.type === RecordType.MANIFEST_PAGE) {
        record.pages!++
        if (!equalHashes(new Uint8Array(blake3(e.data)), 0, e.hash, 0)) { report.badRecords.push({ file: `packs/${name}`, offset: e.offset }); continue }
        if (!found.pages.has(hex)) found.pages.set(hex, new Uint8Array(e.data))
        continue
      }
      record.blocks++
      record.dataBytes += e.data.byteLength
      let ok = false
      try { ok = equalHashes(hashBlock(codec.decode(e.codec, e.data, e.rawLength)), 0, e.hash, 0) } catch {}
      if (!ok) { report.badRecords.push({ file: `packs/${name}`, offset: e.offset }); continue }
      await puts.put(blockKey(hex), encodeLocation({ pack: id, offset: e.offset, storedLength: e.data.byteLength, rawLength: e.rawLength, codec: e.codec }))
    }
    found.packs.set(id, { record })
    report.packs++
  }
  await puts.flush()
  return found
}

/** A pack's file header; 'schema-1' for the old magic (a store repair must not touch). */
async function readHeader (path: string): Promise<{ id: string, blockSize: number } | 'schema-1' | undefined> {
  const h = await open(path, 'r')
  try {
    const buf = Buffer.alloc(PACK_HEADER_BYTES)
    const { bytesRead } = await h.read(buf, 0, buf.byteLength, 0)
    if (buf.subarray(0, 8).toString('latin1') === 'TNDPACK1') return 'schema-1'
    return bytesRead === buf.byteLength ? decodePackHeader(buf) : undefined
  } finally {
    await h.close()
  }
}

async function readPointFiles (pointsDir: string, report: RepairReport): Promise<Map<number, PointFile>> {
  const out = new Map<number, PointFile>()
  const names = await readdir(pointsDir).catch(() => [] as string[])
  for (const name of names.sort()) {
    const m = POINT_FILE_NAME.exec(name)
    if (m === null) continue
    try {
      const f = await readPointFile(join(pointsDir, name))
      if (f.point.id !== Number(m[1])) throw new CoreError(CoreErrorCode.CORE_POINT_FILE_CORRUPT, `${name} holds point ${f.point.id}`)
      out.set(f.point.id, f)
    } catch (err) {
      if (!(err instanceof CoreError)) throw err
      report.corruptPointFiles.push(name)
      report.lost.push({ id: Number(m[1]), code: CoreErrorCode.CORE_POINT_FILE_CORRUPT, missingBlocks: 0, missingPages: 0 })
    }
  }
  return out
}

/** The manifest of one disk of a point file, from the pages found; undefined when a page is missing or it does not match its root. */
function manifestOf (found: Found, f: PointFile, disk: RecoveryPoint['disks'][number]): { manifest?: Manifest, missingPages: number } {
  const list = f.pages[disk.name]!
  const pages: Uint8Array[] = []
  let missingPages = 0
  for (let at = 0; at < list.byteLength; at += HASH_LENGTH) {
    const page = found.pages.get(toHex(list.subarray(at, at + HASH_LENGTH)))
    if (page === undefined) missingPages++
    else pages.push(page)
  }
  if (missingPages > 0) return { missingPages }
  const manifest: Manifest = { size: disk.size, blockSize: disk.blockSize, hashes: new Uint8Array(Buffer.concat(pages)) }
  try { checkManifest(manifest) } catch { return { missingPages: 1 } }
  return diskRoot(manifest) === disk.root ? { manifest, missingPages: 0 } : { missingPages: 1 }
}

/** How many of a manifest's non-zero blocks the new index does not locate. */
async function countMissing (db: IndexDb, m: Manifest): Promise<number> {
  let missing = 0
  let keys: string[] = []
  const check = async (): Promise<void> => {
    const values = await db.getMany(keys)
    missing += values.filter(v => v === undefined).length
    keys = []
  }
  for (let i = 0; i < blockCount(m.size, m.blockSize); i++) {
    if (isZeroBlock(m, i)) continue
    keys.push(blockKey(toHex(hashAt(m, i))))
    if (keys.length >= 1024) await check()
  }
  if (keys.length > 0) await check()
  return missing
}

/**
 * Writes the rest of the rebuilt index: the points that are whole and their
 * pages, the packs with their counts, the images, next point and schema.
 * Every intact block stays indexed, also those no restored point needs (a
 * lost point's, kept for a later repair): pruning never takes a block no
 * removed point referenced, so they are kept, counted live in their packs.
 */
async function writeIndex (db: IndexDb, found: Found, files: Map<number, PointFile>, report: RepairReport): Promise<void> {
  const puts = new BatchedPuts(db)
  const put = async (key: string, value: Uint8Array): Promise<void> => { await puts.put(key, value) }
  let latest: RecoveryPoint | undefined
  for (const [id, f] of [...files].sort((a, b) => a[0] - b[0])) {
    const manifests: Array<{ name: string, manifest: Manifest }> = []
    let missingPages = 0
    let missingBlocks = 0
    for (const d of f.point.disks) {
      const r = manifestOf(found, f, d)
      missingPages += r.missingPages
      if (r.manifest === undefined) continue
      manifests.push({ name: d.name, manifest: r.manifest })
      missingBlocks += await countMissing(db, r.manifest)
    }
    if (pointRoot(f.point.disks) !== f.point.root) missingPages++
    if (missingPages > 0 || missingBlocks > 0) {
      report.lost.push({ id, code: missingPages > 0 ? CoreErrorCode.CORE_MANIFEST_INVALID : CoreErrorCode.CORE_BLOCK_MISSING, missingBlocks, missingPages })
      continue
    }
    for (const { name } of manifests) {
      const list = f.pages[name]!
      await put(manifestKey(id, name), list)
      for (let at = 0; at < list.byteLength; at += HASH_LENGTH) {
        const hex = toHex(list.subarray(at, at + HASH_LENGTH))
        await put(pageKey(hex), found.pages.get(hex)!)
      }
    }
    await put(pointKey(id), encodeRecord(f.point))
    report.restored.push(id)
    latest = f.point
  }
  for await (const value of db.values(BLOCK_RANGE)) {
    const loc = decodeLocation(value)
    const rec = found.packs.get(loc.pack)!.record
    rec.liveBlocks++
    rec.liveBytes += loc.storedLength
    report.blocks++
  }
  // Every readable pack is named, so none is a stray.
  for (const [id, { record }] of found.packs) await put(packKey(id), encodeRecord(record))
  for (const d of latest?.disks ?? []) await put(imageKey(d.name), encodeRecord({ state: 'updating', point: latest!.id }))
  const ids = [...files.keys(), ...report.lost.map(l => l.id)]
  await put(NEXT_POINT_KEY, encodeRecord(ids.length === 0 ? 1 : Math.max(...ids) + 1))
  const blockSize = found.blockSize ?? latest?.disks[0]?.blockSize ?? DEFAULT_BLOCK_SIZE
  const schema: StoreSchema = { version: STORE_SCHEMA_VERSION, blockSize, created: Date.now() }
  await put(SCHEMA_KEY, encodeRecord(schema))
  await puts.flush()
}

/**
 * A store another process has open must not be repaired under it. LevelDB
 * holds a POSIX lock on `index/LOCK`; Linux lists held locks, by inode, in
 * /proc/locks, which tells without opening the damaged index (an open would
 * rewrite its log and manifest). An inode match on another device only makes
 * repair refuse: the safe side. Without /proc/locks the index is opened
 * (no create) to test the lock.
 */
async function refuseIfLocked (indexDir: string): Promise<void> {
  const lock = await stat(join(indexDir, 'LOCK')).catch(() => undefined)
  if (lock === undefined) return
  const locks = await readFile('/proc/locks', 'utf8').catch(() => undefined)
  let locked: boolean
  if (locks !== undefined) {
    locked = locks.split('\n').some(line => line.split(/\s+/).some(f => /^[0-9a-f]+:[0-9a-f]+:\d+$/i.test(f) && f.slice(f.lastIndexOf(':') + 1) === String(lock.ino)))
  } else {
    const db = new Level(indexDir, { createIfMissing: false })
    locked = await db.open().then(async () => { await db.close(); return false }, (err: unknown) =>
      /lock/i.test(String((err as { cause?: Error }).cause?.message ?? (err as Error).message)))
  }
  if (locked) throw new CoreError(CoreErrorCode.CORE_STORE_UNAVAILABLE, `store index ${indexDir} is in use by another process`)
}

async function exists (path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false)
}

async function isDirectory (path: string): Promise<boolean> {
  return await stat(path).then(s => s.isDirectory(), () => false)
}

async function fsyncDir (dir: string): Promise<void> {
  const h = await open(dir, 'r')
  try { await h.sync() } finally { await h.close() }
}
