import { mkdir, readdir, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockCodec } from '../compress.ts'
import { DEFAULT_BLOCK_SIZE, DISK_NAME_PATTERN } from '../constants.ts'
import { CoreError, CoreErrorCode } from '../errors.ts'
import { equalHashes, hashBlock, toHex } from '../hash.ts'
import { checkBlockSize } from '../manifest.ts'
import { getManifest } from './manifest-pages.ts'
import type { BlockHash, Manifest, RecoveryPoint } from '../types.ts'
import { decodeRecord, encodeRecord, openIndexDb, type IndexDb } from './db.ts'
import {
  BLOCK_RANGE, NEXT_POINT_KEY, PACK_RANGE, POINT_RANGE, SCHEMA_KEY, STAGE_PACK_RANGE,
  blockKey, pointKey
} from './keys.ts'
import { decodeLocation, PACK_ID_HEX_LENGTH, type BlockLocation } from './location.ts'
import { RECORD_HEADER_BYTES, type PackRecord } from './pack.ts'
import { PackHandles } from './pack-handles.ts'

/** Version of the on-disk format (docs/store-format.md). Bumped on any incompatible change. */
export const STORE_SCHEMA_VERSION = 1

/** Pack file handles kept open for reads; older ones are closed first. */
const MAX_OPEN_PACKS = 32

export interface StoreSchema {
  version: number
  blockSize: number
  created: number
}

export interface OpenStoreOptions {
  /** Create the store when the directory holds none. */
  create?: boolean
  /** Block size of a new store (fixed for its life). */
  blockSize?: number
}

/**
 * A directory holding recovery points: `index/` (LevelDB: points, manifests,
 * block locations), `packs/` (block data, written once) and `images/` (the
 * ready-to-use image of the latest point of each disk).
 *
 * One process at a time (LevelDB's lock; a second open fails with
 * CORE_STORE_UNAVAILABLE). Reads may run concurrently; writers (cycles,
 * pruning, image updates) are serialized by the caller.
 */
export class RecoveryPointStore {
  readonly dir: string
  readonly blockSize: number
  readonly packsDir: string
  readonly imagesDir: string
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
  private closed = false

  private constructor (dir: string, db: IndexDb, schema: StoreSchema, nextPointId: number) {
    this.dir = dir
    this.db = db
    this.blockSize = schema.blockSize
    this.nextPointId = nextPointId
    this.packsDir = join(dir, 'packs')
    this.imagesDir = join(dir, 'images')
    this.packHandles = new PackHandles(this.packsDir, MAX_OPEN_PACKS)
  }

  /**
   * Opens (or creates) a store and finishes what a crash left: pack files no
   * committed batch names are deleted. Image repair is the caller's next step
   * (`recoverImages` in replica-image.ts), since it may take long.
   */
  static async open (dir: string, options: OpenStoreOptions = {}): Promise<RecoveryPointStore> {
    if (options.create === true) {
      await mkdir(join(dir, 'packs'), { recursive: true })
      await mkdir(join(dir, 'images'), { recursive: true })
    } else if (!await isDirectory(join(dir, 'index'))) {
      throw new CoreError(CoreErrorCode.CORE_STORE_INCOMPATIBLE, `${dir} is not a Tandem store (no index/); create one first`)
    }
    const db = await openIndexDb(join(dir, 'index'))
    try {
      const schema = await readOrCreateSchema(db, dir, options)
      const next = await db.get(NEXT_POINT_KEY)
      const store = new RecoveryPointStore(dir, db, schema, next === undefined ? 1 : decodeRecord<number>(next))
      await store.deleteOrphanPacks()
      return store
    } catch (err) {
      await db.close()
      throw err
    }
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
   * concurrently. Every read of block data goes through here.
   */
  async readVerified (hash: BlockHash): Promise<{ location: BlockLocation, stored: Uint8Array, raw: Uint8Array }> {
    const hex = toHex(hash)
    const location = await this.locate(hash)
    if (location === undefined) throw new CoreError(CoreErrorCode.CORE_BLOCK_MISSING, `block ${hex} is not in the store`, { details: { hash: hex } })
    const details = { hash: hex, pack: location.pack, offset: location.offset }
    const stored = await this.readStored(location)
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

  /** The stored (encoded) bytes of a block, unverified. For copying blocks between stores. */
  async readStored (loc: BlockLocation): Promise<Uint8Array> {
    const buf = Buffer.allocUnsafe(loc.storedLength + RECORD_HEADER_BYTES)
    const { bytesRead } = await this.packHandles.use(loc.pack, async h => await h.read(buf, 0, buf.byteLength, loc.offset - RECORD_HEADER_BYTES))
    if (bytesRead !== buf.byteLength) {
      throw new CoreError(CoreErrorCode.CORE_BLOCK_CORRUPT, `pack ${loc.pack} is shorter than its index says`, { details: { pack: loc.pack, offset: loc.offset } })
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

  /** Pack files that no committed batch names are leftovers of an interrupted cycle or prune. */
  private async deleteOrphanPacks (): Promise<void> {
    const known = new Set((await this.packs()).keys())
    // Packs of resumable cycles' durable staging are kept for their resume.
    for await (const key of this.db.keys(STAGE_PACK_RANGE)) {
      if (key.includes('/pack/')) known.add(key.slice(key.lastIndexOf('/') + 1))
    }
    for (const name of await readdir(this.packsDir)) {
      const id = name.endsWith('.pack') ? name.slice(0, -'.pack'.length) : undefined
      if (id !== undefined && id.length === PACK_ID_HEX_LENGTH && known.has(id)) continue
      await unlink(join(this.packsDir, name))
    }
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
    if (options.create !== true) throw new CoreError(CoreErrorCode.CORE_STORE_INCOMPATIBLE, `${dir} is not a Tandem store`)
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

async function isDirectory (path: string): Promise<boolean> {
  return await stat(path).then(s => s.isDirectory(), () => false)
}
