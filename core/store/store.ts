import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockCodec } from '../compress.ts'
import { DEFAULT_BLOCK_SIZE, DISK_NAME_PATTERN } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { equalHashes, hashBlock, toHex } from '../hash.ts'
import { checkBlockSize } from '../manifest.ts'
import { getManifest } from './manifest-pages.ts'
import type { BlockHash, Manifest, RecoveryPoint } from '../types.ts'
import { decodeRecord, encodeRecord, indexError, openIndexDb, repairHint, type IndexDb } from './db.ts'
import { snapshotIndex, type IndexSnapshot } from './index-snapshot.ts'
import {
  BLOCK_RANGE, NEXT_POINT_KEY, PACK_RANGE, POINT_RANGE, SCHEMA_KEY,
  blockKey, pointKey
} from './keys.ts'
import { decodeLocation, type BlockLocation } from './location.ts'
import { decodeRecordHeader, RECORD_HEADER_BYTES, RecordType, type PackRecord } from './pack.ts'
import { PackHandles } from './pack-handles.ts'
import { createStoreDir, ensureStoreParts, fsCall, inspectStoreDir, tightenModes } from './store-dir.ts'
import { sweep } from './sweep.ts'

/** Version of the on-disk format (docs/store-format.md). Bumped on any incompatible change. */
export const STORE_SCHEMA_VERSION = 2

/** Pack file handles kept open for reads; older ones are closed first. */
const MAX_OPEN_PACKS = 32

/**
 * Reads of one block, each at the location the index gives at that moment
 * (readVerified): a block moves once per prune or heal, so a third lookup
 * that still finds it moved means writers keep moving it, not a race to wait out.
 */
const MAX_READ_ATTEMPTS = 3

export interface StoreSchema {
  version: number
  blockSize: number
  created: number
}

export interface OpenStoreOptions {
  /** Create the store when the path is missing or an empty directory (never in any other directory). */
  create?: boolean
  /**
   * Open for reading only: the store's files are not changed at all (not
   * even LevelDB's own; it opens a private copy of the index, see
   * index-snapshot.ts), nothing is swept or tightened, and writes to the
   * index fail. Works on a full or read-only disk.
   */
  readOnly?: boolean
  /** Block size of a new store (fixed for its life). */
  blockSize?: number
}

/**
 * A directory holding recovery points: `index/` (LevelDB: points, manifests,
 * block locations), `packs/` (block data, written once) and `images/` (the
 * ready-to-use image of the latest point of each disk).
 *
 * One writer process at a time (LevelDB's lock; a second open fails with
 * CORE_STORE_UNAVAILABLE, and so does a read-only open while a writer has
 * it). Read-only opens may run side by side. Within one open store, reads
 * may run concurrently; writers (cycles, pruning, image updates) are
 * serialized by the caller.
 *
 * Directories are 0700 and files 0600 (tightened on every writable open
 * and close): the packs and images are VM disk data.
 */
export class RecoveryPointStore {
  readonly dir: string
  readonly blockSize: number
  readonly packsDir: string
  readonly imagesDir: string
  /** Self-describing files of the committed points (point-file.ts). */
  readonly pointsDir: string
  /**
   * Files in packs/ that the index does not name, found by the sweep at
   * open: kept (never deleted), for the operator and `repair` to look at.
   */
  strays: string[] = []
  /** @internal for the cycle, pruning and image modules of this folder. */
  readonly db: IndexDb
  /** @internal */
  nextPointId: number
  /**
   * @internal Cycles not yet committed, aborted or released (staged-cycle.ts
   * adds and removes itself). `close` releases them, so no open pack outlives
   * the store.
   */
  readonly openCycles = new Set<{ release: () => Promise<void> }>()
  private readonly codec = new BlockCodec()
  private readonly packHandles: PackHandles
  /** The private copy of the index a read-only store reads; undefined when writable. */
  private readonly snapshot: IndexSnapshot | undefined
  private closed = false

  private constructor (dir: string, db: IndexDb, schema: StoreSchema, nextPointId: number, snapshot: IndexSnapshot | undefined) {
    this.dir = dir
    this.db = db
    this.snapshot = snapshot
    this.blockSize = schema.blockSize
    this.nextPointId = nextPointId
    this.packsDir = join(dir, 'packs')
    this.imagesDir = join(dir, 'images')
    this.pointsDir = join(dir, 'points')
    this.packHandles = new PackHandles(this.packsDir, MAX_OPEN_PACKS)
  }

  /**
   * Opens (or creates) a store. A writable open then finishes what a crash
   * left: the sweep (sweep.ts) deletes the pack and point files the index
   * names as pending or garbage, and lists strays in `strays`. Image repair is
   * the caller's next step (`recoverImages` in replica-image.ts), since it
   * may take long.
   *
   * Nothing is created, swept or written unless the index opened and holds
   * a schema: an index that is missing, empty or unreadable fails with
   * CORE_STORE_DAMAGED (`tandem store repair` rebuilds it from the packs).
   * Other failures: CORE_STORE_INCOMPATIBLE (no store there, a non-empty
   * directory that is not a store, another schema version),
   * CORE_STORE_NOT_DIRECTORY, CORE_STORE_PERMISSION_DENIED,
   * CORE_STORE_UNAVAILABLE (locked by another process), CORE_WRITE_FAILED
   * (no space to open for writing), CORE_INVALID_ARGUMENT (empty path,
   * block size).
   */
  static async open (dir: string, options: OpenStoreOptions = {}): Promise<RecoveryPointStore> {
    if (dir === '') throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, 'the store path is empty')
    const readOnly = options.readOnly === true
    const state = await inspectStoreDir(dir)
    if (state !== 'store') {
      if (options.create !== true || readOnly) throw new CoreError(CoreErrorCode.CORE_STORE_INCOMPATIBLE, `${dir} is not a Tandem store (no index/); create one first`)
      if (state === 'foreign') {
        throw new CoreError(CoreErrorCode.CORE_STORE_INCOMPATIBLE, `${dir} is a directory that is not empty and holds no Tandem store; a store is created only in a missing or empty directory`)
      }
      checkBlockSize(options.blockSize ?? DEFAULT_BLOCK_SIZE) // before anything is created
      await createStoreDir(dir)
    }
    const isNew = state !== 'store'
    const snapshot = readOnly ? await snapshotIndex(join(dir, 'index')) : undefined
    let db: IndexDb
    try {
      db = await openIndexDb(snapshot?.dir ?? join(dir, 'index'), { createIfMissing: isNew, readOnly, storeDir: dir })
    } catch (err) {
      await snapshot?.remove()
      throw relocated(err, snapshot, dir)
    }
    try {
      const schema = await readOrCreateSchema(db, dir, { ...options, create: isNew || options.create === true })
      const next = await db.get(NEXT_POINT_KEY)
      const store = new RecoveryPointStore(dir, db, schema, next === undefined ? 1 : decodeRecord<number>(next), snapshot)
      if (!readOnly) {
        if (!isNew) await store.checkPacksDir()
        await ensureStoreParts(dir)
        await tightenModes(dir)
        store.strays = (await sweep(store)).strays
      } else {
        store.strays = (await sweep(store, { dryRun: true })).strays
      }
      return store
    } catch (err) {
      await db.close().catch(() => {})
      await snapshot?.remove()
      throw relocated(indexError(err, join(dir, 'index'), dir), snapshot, dir)
    }
  }

  /**
   * For a read-only store: whether a writer opened the store since this open
   * (index-snapshot.ts), so that a failure seen while reading (a pack gone,
   * an image that differs) may come from that writer and not from damage.
   * Always false for a writable store, which holds the lock.
   */
  async changedByWriter (): Promise<boolean> {
    return await this.snapshot?.changed() ?? false
  }

  /**
   * Closes the store; idempotent. Cycles still in flight are released first
   * (as after a dropped link: a resumable cycle keeps its last checkpoint,
   * any other is aborted), which closes their open pack files.
   */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const cycle of [...this.openCycles]) await cycle.release()
    await this.packHandles.closeAll()
    await this.db.close()
    if (this.snapshot !== undefined) await this.snapshot.remove()
    else await tightenModes(this.dir)
  }

  /** Every committed recovery point, oldest first. */
  async listPoints (): Promise<RecoveryPoint[]> {
    const out: RecoveryPoint[] = []
    for await (const value of this.db.values(POINT_RANGE)) out.push(decodeRecord<RecoveryPoint>(value))
    return out
  }

  async latestPoint (): Promise<RecoveryPoint | undefined> {
    for await (const value of this.db.values({ ...POINT_RANGE, reverse: true, limit: 1 })) return decodeRecord<RecoveryPoint>(value)
    return undefined
  }

  /** The point with this id; throws CORE_POINT_NOT_FOUND. */
  async getPoint (id: number): Promise<RecoveryPoint> {
    const value = Number.isSafeInteger(id) ? await this.db.get(pointKey(id)) : undefined
    if (value === undefined) throw new CoreError(CoreErrorCode.CORE_POINT_NOT_FOUND, `no recovery point ${id}`)
    return decodeRecord<RecoveryPoint>(value)
  }

  /** The block manifest of one disk of one point; throws CORE_POINT_NOT_FOUND / CORE_DISK_NOT_FOUND. */
  async manifest (pointId: number, disk: string): Promise<Manifest> {
    const point = await this.getPoint(pointId)
    const d = point.disks.find(x => x.name === disk)
    if (d === undefined) {
      throw new CoreError(CoreErrorCode.CORE_DISK_NOT_FOUND, `recovery point ${pointId} has no disk "${disk}" (it has: ${point.disks.map(x => x.name).join(', ')})`)
    }
    return await getManifest(this.db, pointId, d)
  }

  /** Where a block is stored, or undefined. */
  async locate (hash: BlockHash): Promise<BlockLocation | undefined> {
    const v = await this.db.get(blockKey(toHex(hash)))
    return v === undefined ? undefined : decodeLocation(v)
  }

  /** Which of these blocks are stored (same order). */
  async hasBlocks (hashesHex: string[]): Promise<boolean[]> {
    if (hashesHex.length === 0) return []
    const values = await this.db.getMany(hashesHex.map(blockKey))
    return values.map(v => v !== undefined)
  }

  /**
   * Reads one block and checks it: its location, its stored (encoded) bytes,
   * and the decoded bytes, which hash to `hash`. Throws CORE_BLOCK_MISSING or
   * CORE_BLOCK_CORRUPT (with the pack and offset in `details`). Safe to call
   * concurrently, also with this store's writers: a block that a prune
   * (repack) or a heal moves while it is read is read at its new place, so a
   * block of a point pruning keeps never fails because its old pack was
   * deleted meanwhile. Every read of block data goes through here.
   */
  async readVerified (hash: BlockHash): Promise<{ location: BlockLocation, stored: Uint8Array, raw: Uint8Array }> {
    const hex = toHex(hash)
    let location = await this.locate(hash)
    for (let attempt = 1; ; attempt++) {
      if (location === undefined) throw new CoreError(CoreErrorCode.CORE_BLOCK_MISSING, `block ${hex} is not in the store`, { details: { hash: hex } })
      try {
        return await this.readAt(location, hash, hex)
      } catch (err) {
        // Between the lookup and the read, a writer of this open store may have
        // moved the block (a prune's repack, a cycle's heal) and deleted the pack
        // the lookup named. Only the index says where a block is: asked again, a
        // new location is read (and verified) in turn; an unchanged one means
        // the failure is the block's own.
        const now = attempt < MAX_READ_ATTEMPTS ? await this.locate(hash) : undefined
        if (now === undefined || sameLocation(now, location)) throw err
        location = now
      }
    }
  }

  private async readAt (location: BlockLocation, hash: BlockHash, hex: string): Promise<{ location: BlockLocation, stored: Uint8Array, raw: Uint8Array }> {
    const details = { hash: hex, pack: location.pack, offset: location.offset }
    const stored = await this.readStored(location, hash)
    let raw: Uint8Array
    try {
      raw = this.codec.decode(location.codec, stored, location.rawLength)
    } catch (err) {
      throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `block ${hex} in pack ${location.pack} at ${location.offset} does not decode`, { cause: err, details })
    }
    if (!equalHashes(hashBlock(raw), 0, hash, 0)) {
      throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `block ${hex} in pack ${location.pack} at ${location.offset} does not match its hash`, { details })
    }
    return { location, stored, raw }
  }

  /** The decoded, verified bytes of one block (readVerified). */
  async readBlock (hash: BlockHash): Promise<Uint8Array> {
    return (await this.readVerified(hash)).raw
  }

  /**
   * The stored (encoded) bytes of a block, with its record header checked
   * (CRC, type, lengths and codec as the index says, and the hash when
   * `hash` is given); the data itself is not hashed. Throws CORE_BLOCK_CORRUPT.
   * For copying blocks between stores, and for readVerified.
   */
  async readStored (loc: BlockLocation, hash?: BlockHash): Promise<Uint8Array> {
    const buf = Buffer.allocUnsafe(loc.storedLength + RECORD_HEADER_BYTES)
    const details = { pack: loc.pack, offset: loc.offset }
    const { bytesRead } = await this.packHandles.use(loc.pack, async h => await h.read(buf, 0, buf.byteLength, loc.offset - RECORD_HEADER_BYTES))
    if (bytesRead !== buf.byteLength) {
      throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `pack ${loc.pack} is shorter than its index says`, { details })
    }
    const h = decodeRecordHeader(buf)
    if (h === undefined || h.type !== RecordType.BLOCK || h.storedLength !== loc.storedLength || h.rawLength !== loc.rawLength ||
      h.codec !== loc.codec || (hash !== undefined && !equalHashes(h.hash, 0, hash, 0))) {
      throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `record header in pack ${loc.pack} before ${loc.offset} is damaged or not the indexed block`, { details })
    }
    return buf.subarray(RECORD_HEADER_BYTES)
  }

  /** Path of the ready-to-use image of a disk's latest point. */
  imagePath (disk: string): string {
    checkDiskName(disk)
    return join(this.imagesDir, `${disk}.img`)
  }

  /** Committed packs and their sizes. */
  async packs (): Promise<Map<string, PackRecord>> {
    const out = new Map<string, PackRecord>()
    for await (const [key, value] of this.db.iterator(PACK_RANGE)) out.set(key.slice('pack/'.length), decodeRecord(value))
    return out
  }

  /** Number of distinct stored blocks. */
  async blockCount (): Promise<number> {
    let n = 0
    for await (const _ of this.db.keys(BLOCK_RANGE)) n++
    return n
  }

  /** @internal drops a cached pack handle (before the pack is deleted). */
  forgetPack (id: string): void {
    this.packHandles.forget(id)
  }

  /** A store whose index names packs but has no `packs/` directory is damaged: it is not re-created empty under the index. */
  private async checkPacksDir (): Promise<void> {
    if (await fsCall(this.packsDir, async () => await readdir(this.packsDir)) !== undefined) return
    const named = (await this.packs()).size
    if (named > 0) throw new CoreError(CoreErrorCode.CORE_STORE_DAMAGED, `${this.packsDir} is missing while the index names ${named} packs; nothing was changed`)
  }
}

export function checkDiskName (name: string): void {
  if (!DISK_NAME_PATTERN.test(name)) {
    throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `disk name "${name}" must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`)
  }
}

async function readOrCreateSchema (db: IndexDb, dir: string, options: OpenStoreOptions): Promise<StoreSchema> {
  const value = await db.get(SCHEMA_KEY)
  if (value === undefined) {
    // An index without a schema lost its content, unless it is the empty one
    // of a store whose creation was cut short: no key at all, no pack file.
    if (options.create !== true || options.readOnly === true || !await isBlank(db, dir)) {
      throw new CoreError(CoreErrorCode.CORE_STORE_DAMAGED, `the store index of ${dir} holds no schema: it is empty or lost its content; nothing was changed; ${repairHint(dir)}`)
    }
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE
    checkBlockSize(blockSize)
    const schema: StoreSchema = { version: STORE_SCHEMA_VERSION, blockSize, created: Date.now() }
    await db.put(SCHEMA_KEY, encodeRecord(schema), { sync: true })
    return schema
  }
  const schema = decodeRecord<StoreSchema>(value)
  if (schema.version !== STORE_SCHEMA_VERSION) {
    throw new CoreError(CoreErrorCode.CORE_STORE_INCOMPATIBLE, `store ${dir} has schema version ${schema.version}; this Tandem reads version ${STORE_SCHEMA_VERSION}`)
  }
  if (options.blockSize !== undefined && options.blockSize !== schema.blockSize) {
    throw new CoreError(CoreErrorCode.CORE_INVALID_ARGUMENT, `store ${dir} uses ${schema.blockSize}-byte blocks; its block size cannot change`)
  }
  return schema
}

/** An index with no key at all and a store with no pack file: nothing that a repair could bring back. */
async function isBlank (db: IndexDb, dir: string): Promise<boolean> {
  for await (const _ of db.keys({ limit: 1 })) return false
  const packs = await fsCall(join(dir, 'packs'), async () => await readdir(join(dir, 'packs')))
  return packs === undefined || packs.length === 0
}

function sameLocation (a: BlockLocation, b: BlockLocation): boolean {
  return a.pack === b.pack && a.offset === b.offset
}

/** A failure of the private copy of the index, named by the store's index path (the copy is gone). */
function relocated (err: unknown, snapshot: IndexSnapshot | undefined, dir: string): unknown {
  if (snapshot === undefined || !(err instanceof Error)) return err
  err.message = err.message.split(snapshot.dir).join(join(dir, 'index'))
  return err
}
