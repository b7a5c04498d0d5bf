/**
 * The store torture harness (issue 11): a seeded random sequence of cycles,
 * prunes, seed round trips, kill -9 at the N-th durable event and damage
 * (flipped pack bytes, deleted packs, optionally index damage), checked
 * after every step against a model of what must exist.
 *
 * The model: every committed point's source bytes (kept in memory: disks
 * are 64-256 KiB) and the block hashes they need, and `destroyed`, the
 * hashes whose stored copy the harness damaged. Invariants after each step:
 *   1. every model point is listed, unless it needs a destroyed block
 *      (then it may be gone only after a repair);
 *   2. no listed point that the model does not know (no phantoms);
 *   3. verify reports exactly the blocks that need a destroyed hash;
 *   4. every point that verifies restores byte for byte, and the replica
 *      image of an intact latest point equals it;
 *   5. after a kill the store opens and the point set is one the
 *      interrupted operation could have left (before, or after it).
 * A break throws TortureBreak naming the seed and the step.
 *
 * Deterministic from the seed: all randomness comes from `prng`, packs are
 * picked by content (their first record's hash), not by their random ids.
 */
import { createHash } from 'node:crypto'
import { mkdir, open, readdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hasCode } from '../../core/errors.ts'
import { FileDiskSource } from '../../core/disk-view/index.ts'
import { hashBlock, isZero, toHex, fromHex } from '../../core/hash.ts'
import { replicateOnce } from '../../core/replicate.ts'
import { materializePoint } from '../../core/restore.ts'
import { exportSeed, importSeed } from '../../core/seed/index.ts'
import type { ScanPool } from '../../core/scan/index.ts'
import { RecoveryPointStore, imageRecord, prune, recoverImages } from '../../core/store/index.ts'
import { RECORD_HEADER_BYTES, RecordType } from '../../core/store/pack.ts'
import { manifestKey } from '../../core/store/keys.ts'
import { verifyPoint } from '../../core/verify.ts'
import { prng } from './fixtures.ts'
import { childCode, childError, parsePack, runChild, type PackRecordAt } from './torture-io.ts'

const KiB = 1024

/** Rebuilds a store's index from its packs (`tandem store repair`); called after index damage and CORE_STORE_DAMAGED. */
export type RepairFn = (dir: string) => Promise<void>

export interface TortureOptions {
  seed: number
  steps: number
  /** A fresh, empty working directory. */
  dir: string
  pool: ScanPool
  blockSize?: number
  /** Flip bytes of record headers too (not only block data). Off by default: today's verify reads data only. */
  headerFlips?: boolean
  /** Damage the index (delete CURRENT, truncate a table, delete index/). Needs `repair`. */
  indexDamage?: boolean
  repair?: RepairFn
  /**
   * The engine heals (issue 11): a cycle stores again the blocks verify found
   * bad when its source still has them. When true, every destroyed block a
   * cycle's source holds must read back good after that cycle, and a cycle
   * never fails on damage. When false (the default, today's engine), a cycle
   * whose new point reuses a destroyed block may fail after its commit (its
   * image cannot be brought to that point): counted in
   * `cyclesFailedOnDamage`, and a break only if that point needs no
   * destroyed block.
   */
  healing?: boolean
  /** Called after every step (progress printing). */
  onStep?: (step: number, counts: TortureCounts) => void
}

export interface TortureCounts {
  steps: number
  cycles: number
  /** Child runs killed by SIGKILL (cycles and prunes). */
  kills: number
  /** Child runs that ended before their kill event came. */
  killRunsCompleted: number
  prunes: number
  seeds: number
  damages: number
  /** Damage that hit no live copy (a dead record of a pack). */
  harmlessDamages: number
  indexDamages: number
  destroyedBlocks: number
  /** Points that needed a destroyed block when they were found bad. */
  pointsLost: number
  /** Points lost although none of their blocks was destroyed: must stay 0 (a break is thrown first). */
  pointsLostUndamaged: number
  repairs: number
  /** Points a repair lost (destroyed data) that a later repair brought back whole, after healing. */
  pointsBackAfterRepair: number
  heals: number
  /** Cycles that failed after their commit because the new point reuses a destroyed block (healing: false only). */
  cyclesFailedOnDamage: number
}

export class TortureBreak extends Error {
  readonly seed: number
  readonly step: number
  constructor (seed: number, step: number, message: string, cause?: unknown) {
    super(`invariant broken at step ${step} (seed ${seed}): ${message}`, cause === undefined ? undefined : { cause })
    this.name = 'TortureBreak'
    this.seed = seed
    this.step = step
  }
}

interface ModelPoint {
  id: number
  bytes: Buffer
  sha256: string
  /** Per block: the hash hex, or null for an all-zero block (not stored). */
  blocks: Array<string | null>
  /** The hashes of its manifest pages (read from the index once it is listed): a repair needs their pack copies. */
  pages?: string[]
  lost: boolean
}

type Op = 'cycle' | 'kill-cycle' | 'prune' | 'kill-prune' | 'seed' | 'flip' | 'delete-pack' | 'index' | 'reopen'

/**
 * Where torture stores go: TANDEM_TEST_TMP if set, else /dev/shm when there
 * is one. A kill -9 loses nothing the page cache holds, so the store needs
 * no disk; on tmpfs its thousands of fsyncs cost nothing.
 */
export async function tortureTmp (): Promise<string> {
  if (process.env.TANDEM_TEST_TMP !== undefined) return process.env.TANDEM_TEST_TMP
  return await stat('/dev/shm').then(s => s.isDirectory() ? '/dev/shm' : tmpdir(), () => tmpdir())
}

/** Runs the torture; resolves with the counts, or rejects with TortureBreak. */
export async function runTorture (options: TortureOptions): Promise<TortureCounts> {
  const t = new Torture(options)
  try {
    await t.run()
  } finally {
    await t.close()
  }
  return t.counts
}

class Torture {
  readonly counts: TortureCounts = {
    steps: 0, cycles: 0, kills: 0, killRunsCompleted: 0, prunes: 0, seeds: 0, damages: 0, harmlessDamages: 0,
    indexDamages: 0, destroyedBlocks: 0, pointsLost: 0, pointsLostUndamaged: 0, repairs: 0, pointsBackAfterRepair: 0, heals: 0, cyclesFailedOnDamage: 0
  }

  private readonly o: TortureOptions
  private readonly rnd: () => number
  private readonly blockSize: number
  private readonly storeDir: string
  private readonly source: string
  private readonly scratch: string
  private store: RecoveryPointStore | undefined
  private readonly points = new Map<number, ModelPoint>()
  /** Hashes whose indexed copy was damaged. */
  private readonly destroyed = new Set<string>()
  /** Manifest pages whose pack copy the harness destroyed (a deleted pack): a repair cannot bring back a point that lists one. */
  private readonly destroyedPages = new Set<string>()
  /**
   * Points a repair could not bring back (they needed destroyed data). Their
   * point files stay, so a later repair brings one back once healing stored
   * its blocks again: then it must be whole (checked like any other point).
   */
  private readonly lostByRepair = new Map<number, ModelPoint>()
  /** Highest point id the store ever committed (ids are never reused). */
  private lastId = 0
  private step = 0
  private src: Buffer = Buffer.alloc(0)
  /** Hashes a cycle of this step could have stored again (healing). */
  private healable = new Set<string>()
  private repairedThisStep = false

  constructor (o: TortureOptions) {
    if (o.indexDamage === true && o.repair === undefined) throw new TypeError('index damage needs a repair function')
    this.o = o
    this.rnd = prng(o.seed)
    this.blockSize = o.blockSize ?? 4 * KiB
    this.storeDir = join(o.dir, 'store')
    this.source = join(o.dir, 'disk0.img')
    this.scratch = join(o.dir, 'scratch')
  }

  async run (): Promise<void> {
    await mkdir(this.scratch, { recursive: true })
    this.src = this.randomBytesOf(this.randomSize())
    await writeFile(this.source, this.src)
    this.store = await RecoveryPointStore.open(this.storeDir, { create: true, blockSize: this.blockSize })
    for (this.step = 1; this.step <= this.o.steps; this.step++) {
      this.healable = new Set()
      this.repairedThisStep = false
      const op = this.points.size === 0 ? 'cycle' : this.pickOp()
      if (process.env.TORTURE_TRACE === '1') console.error(`step ${this.step}: ${op} points [${[...this.points.keys()].join(',')}]`)
      try {
        await this.apply(op).catch(async err => { await this.repairIfDamaged(err) })
        await this.check().catch(async err => { await this.repairIfDamaged(err); await this.check() })
      } catch (err) {
        if (err instanceof TortureBreak) throw err
        throw this.fail(`${op} threw ${(err as { code?: string }).code ?? ''} ${(err as Error).message}`, err)
      }
      this.counts.steps++
      this.o.onStep?.(this.step, this.counts)
    }
  }

  async close (): Promise<void> {
    await this.store?.close().catch(() => {})
    this.store = undefined
  }

  private fail (message: string, cause?: unknown): TortureBreak {
    return new TortureBreak(this.o.seed, this.step, message, cause)
  }

  private int (n: number): number {
    return Math.floor(this.rnd() * n)
  }

  private pickOp (): Op {
    const table: Array<[Op, number]> = [
      ['cycle', 45], ['kill-cycle', 7], ['prune', 8], ['kill-prune', 3], ['seed', 5],
      ['flip', 8], ['delete-pack', 2], ['reopen', 4], ['index', this.o.indexDamage === true ? 3 : 0]
    ]
    let r = this.rnd() * table.reduce((n, [, w]) => n + w, 0)
    for (const [op, w] of table) { if ((r -= w) < 0) return op }
    return 'cycle'
  }

  private async apply (op: Op): Promise<void> {
    switch (op) {
      case 'cycle': return await this.cycle()
      case 'kill-cycle': return await this.killed('cycle')
      case 'prune': return await this.prune()
      case 'kill-prune': return await this.killed('prune')
      case 'seed': return await this.seedRoundTrip()
      case 'flip': return await this.flip()
      case 'delete-pack': return await this.deletePack()
      case 'index': return await this.damageIndex()
      case 'reopen': await this.reopen(); return
    }
  }

  // ---- the source disk ----

  private randomSize (): number {
    return 64 * KiB + this.int(192 * KiB + 1)
  }

  private randomBytesOf (n: number): Buffer {
    const b = Buffer.alloc(n)
    for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE(Math.floor(this.rnd() * 2 ** 32), i)
    for (let i = n - (n % 4); i < n; i++) b[i] = this.int(256)
    return b
  }

  /**
   * Changes the source between cycles: patches (random, a repeated byte,
   * zeros), a new size, new content throughout (so that damaged blocks leave
   * the source and later points are whole again), or an old point's content.
   */
  private async changeSource (): Promise<void> {
    const r = this.rnd()
    if (r < 0.1 && this.points.size > 0) {
      const all = [...this.points.values()]
      this.src = Buffer.from(all[this.int(all.length)]!.bytes)
    } else if (r < 0.2) {
      const size = this.randomSize()
      const next = Buffer.alloc(size)
      this.src.copy(next, 0, 0, Math.min(size, this.src.byteLength))
      if (size > this.src.byteLength && this.rnd() < 0.5) this.randomBytesOf(size - this.src.byteLength).copy(next, this.src.byteLength)
      this.src = next
    } else if (r < 0.3) {
      this.src = this.randomBytesOf(this.src.byteLength)
    } else if (r < 0.9) {
      for (let n = 1 + this.int(4); n > 0; n--) {
        const length = 1 + this.int(3 * this.blockSize)
        const offset = this.int(Math.max(1, this.src.byteLength - length))
        const kind = this.int(3)
        const data = kind === 0 ? this.randomBytesOf(length) : Buffer.alloc(length, kind === 1 ? 0 : 1 + this.int(255))
        data.copy(this.src, offset, 0, Math.min(length, this.src.byteLength - offset))
      }
    }
    await writeFile(this.source, this.src)
  }

  private modelPoint (id: number, bytes: Buffer): ModelPoint {
    const blocks: Array<string | null> = []
    for (let at = 0; at < bytes.byteLength; at += this.blockSize) {
      const block = bytes.subarray(at, Math.min(at + this.blockSize, bytes.byteLength))
      blocks.push(isZero(block) ? null : toHex(hashBlock(block)))
    }
    return { id, bytes: Buffer.from(bytes), sha256: sha256(bytes), blocks, lost: false }
  }

  private addPoint (id: number, bytes: Buffer): void {
    if (id <= this.lastId) throw this.fail(`new point ${id} reuses an id (last was ${this.lastId})`)
    this.lastId = id
    this.points.set(id, this.modelPoint(id, bytes))
  }

  /** Ids kept by a retention of `additional` points with no interval: the latest and the `additional` next newest. */
  private static retained (ids: number[], additional: number): number[] {
    return [...ids].sort((a, b) => b - a).slice(0, additional + 1).sort((a, b) => a - b)
  }

  private applyRetention (kept: number[]): void {
    for (const id of [...this.points.keys()]) if (!kept.includes(id)) this.points.delete(id)
  }

  // ---- operations ----

  private async cycle (): Promise<void> {
    await this.changeSource()
    const additional = 1 + this.int(6)
    this.counts.cycles++
    let id: number
    try {
      id = (await replicateOnce(this.store!, {
        pool: this.o.pool,
        disks: [{ name: 'disk0', source: new FileDiskSource(this.source) }],
        time: this.step * 1000,
        retention: { additional, intervalMs: 0 }
      })).point.id
    } catch (err) {
      if (!this.failedOnDamage((err as { code?: string }).code)) throw err
      const fresh = (await this.store!.listPoints()).map(p => p.id).filter(x => !this.points.has(x))
      if (fresh.length !== 1) throw err
      this.addFailedPoint(fresh[0]!)
      return
    }
    this.addPoint(id, this.src)
    this.applyRetention(Torture.retained([...this.points.keys()], additional))
    this.healable = new Set(this.points.get(id)!.blocks.filter((h): h is string => h !== null))
  }

  /** True for an error a cycle may end with after its commit when the engine does not heal. */
  private failedOnDamage (code: string | undefined): boolean {
    return this.o.healing !== true && (code === 'CORE_BLOCK_CORRUPT' || code === 'CORE_BLOCK_MISSING')
  }

  /** A cycle committed point `id` from the current source, then failed: allowed only when that point reuses a destroyed block. */
  private addFailedPoint (id: number): void {
    this.addPoint(id, this.src)
    if (!this.points.get(id)!.blocks.some(h => h !== null && this.destroyed.has(h))) {
      throw this.fail(`a cycle failed on damage after committing point ${id}, which needs no destroyed block`)
    }
    this.counts.cyclesFailedOnDamage++
  }

  private async prune (): Promise<void> {
    const additional = this.int(5)
    await prune(this.store!, { additional, intervalMs: 0 })
    this.applyRetention(Torture.retained([...this.points.keys()], additional))
    this.counts.prunes++
  }

  /** Exports an intact point as a seed and imports it back: a new point with the same content. */
  private async seedRoundTrip (): Promise<void> {
    const intact = [...this.points.values()].filter(p => !p.lost)
    if (intact.length === 0) return await this.cycle()
    const p = intact[this.int(intact.length)]!
    const file = join(this.scratch, 'point.seed')
    await exportSeed(this.store!, p.id, file, { force: true })
    const point = await importSeed(this.store!, file)
    await unlink(file)
    this.addPoint(point.id, p.bytes)
    this.counts.seeds++
  }

  /** A cycle or prune in a child process, SIGKILLed at a durable event picked from the seed. */
  private async killed (op: 'cycle' | 'prune'): Promise<void> {
    if (op === 'cycle') await this.changeSource()
    const additional = op === 'cycle' ? 1 + this.int(6) : this.int(5)
    const killAt = 1 + this.int(op === 'cycle' ? 24 : 12)
    const before = [...this.points.keys()].sort((a, b) => a - b)
    await this.close()
    const result = await runChild([this.storeDir, this.source, op, String(killAt), String(additional), String(this.step * 1000)])
    const failed = result.signal !== 'SIGKILL' && result.code !== 0
    if (op === 'cycle') this.counts.cycles++
    else this.counts.prunes++
    if (result.signal === 'SIGKILL') this.counts.kills++
    else if (result.code === 0) this.counts.killRunsCompleted++
    else if (op !== 'cycle' || !this.failedOnDamage(childCode(result.stderr))) throw this.fail(`the ${op} child failed (exit ${result.code}): ${childError(result.stderr)}`)
    await this.reopen()
    const listed = (await this.store!.listPoints()).map(p => p.id)
    const fresh = listed.filter(id => !this.points.has(id))
    if (fresh.length > 1 || (op === 'prune' && fresh.length > 0)) throw this.fail(`after a killed ${op}: unexpected new points ${fresh.join(',')}`)
    if (failed) {
      if (fresh.length !== 1 || !sameIds([...before, ...fresh], listed)) throw this.fail(`the cycle child failed on damage; the store lists [${listed.join(',')}]`)
      this.addFailedPoint(fresh[0]!)
      return
    }
    if (fresh.length === 1) {
      this.addPoint(fresh[0]!, this.src)
      this.healable = new Set(this.points.get(fresh[0]!)!.blocks.filter((h): h is string => h !== null))
    }
    const all = [...before, ...fresh]
    // A cycle prunes only after its commit: with no new point, nothing may be gone.
    const allowed = op === 'cycle' && fresh.length === 0 ? [all] : [all, Torture.retained(all, additional)]
    if (!allowed.some(ids => sameIds(ids, listed))) {
      throw this.fail(`after a killed ${op} (event ${killAt}) the store lists [${listed.join(',')}]; expected [${allowed.map(a => a.join(',')).join('] or [')}]`)
    }
    this.applyRetention(listed)
  }

  private async reopen (): Promise<void> {
    await this.close()
    this.store = await this.openOrRepair()
    await recoverImages(this.store)
  }

  /** Opens the store; on CORE_STORE_DAMAGED repairs it (when a repair function was given) and opens again. */
  private async openOrRepair (): Promise<RecoveryPointStore> {
    try {
      return await RecoveryPointStore.open(this.storeDir)
    } catch (err) {
      if (!hasCode(err, 'CORE_STORE_DAMAGED') || this.o.repair === undefined) throw err
      await this.repair()
      return await RecoveryPointStore.open(this.storeDir)
    }
  }

  /** Rethrows `err` unless it is CORE_STORE_DAMAGED and a repair function was given: then repairs and reopens. */
  private async repairIfDamaged (err: unknown): Promise<void> {
    if (!hasCode(err, 'CORE_STORE_DAMAGED') || this.o.repair === undefined) throw err
    await this.repair()
    await this.reopen()
  }

  private async repair (): Promise<void> {
    await this.close()
    await this.o.repair!(this.storeDir)
    this.counts.repairs++
    this.repairedThisStep = true
  }

  // ---- damage ----

  /** Pack files ordered by content (first record hash, then size): deterministic whatever their random ids. */
  private async packFiles (): Promise<Array<{ id: string, path: string, bytes: Buffer, records: PackRecordAt[] }>> {
    const dir = join(this.storeDir, 'packs')
    const out = []
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.pack')) continue
      const path = join(dir, name)
      const bytes = await readFile(path)
      out.push({ id: name.slice(0, -'.pack'.length), path, bytes, records: parsePack(bytes) })
    }
    const key = (p: { bytes: Buffer, records: PackRecordAt[] }): string => `${p.records[0]?.hash ?? ''}/${String(p.bytes.byteLength).padStart(12, '0')}`
    return out.sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)
  }

  /** True when the index locates `hash` at this record of this pack (it is the live copy). */
  private async isLiveCopy (pack: string, r: PackRecordAt): Promise<boolean> {
    const loc = await this.store!.locate(fromHex(r.hash))
    return loc !== undefined && loc.pack === pack && loc.offset === r.dataOffset
  }

  private markDestroyed (hash: string): void {
    if (!this.destroyed.has(hash)) this.counts.destroyedBlocks++
    this.destroyed.add(hash)
  }

  /** Flips one byte of a record (its data, or with `headerFlips` anywhere in it). */
  private async flip (): Promise<void> {
    const blocksOf = (p: { records: PackRecordAt[] }): PackRecordAt[] => p.records.filter(r => r.type === RecordType.BLOCK)
    const packs = (await this.packFiles()).filter(p => blocksOf(p).length > 0)
    if (packs.length === 0) return await this.cycle()
    const p = packs[this.int(packs.length)]!
    const blocks = blocksOf(p)
    const r = blocks[this.int(blocks.length)]!
    const inHeader = this.o.headerFlips === true && this.rnd() < 0.3
    const at = inHeader ? r.dataOffset - RECORD_HEADER_BYTES + this.int(RECORD_HEADER_BYTES) : r.dataOffset + this.int(r.storedLength)
    if (await this.isLiveCopy(p.id, r)) this.markDestroyed(r.hash)
    else this.counts.harmlessDamages++
    await this.close()
    const h = await open(p.path, 'r+')
    try {
      const b = Buffer.alloc(1)
      await h.read(b, 0, 1, at)
      b[0] = b[0]! ^ (1 + this.int(255))
      await h.write(b, 0, 1, at)
    } finally {
      await h.close()
    }
    this.counts.damages++
    await this.reopen()
  }

  private async deletePack (): Promise<void> {
    const packs = await this.packFiles()
    if (packs.length === 0) return await this.cycle()
    const p = packs[this.int(packs.length)]!
    let live = 0
    for (const r of p.records) {
      if (r.type === RecordType.MANIFEST_PAGE) { this.destroyedPages.add(r.hash); continue }
      if (await this.isLiveCopy(p.id, r)) { this.markDestroyed(r.hash); live++ }
    }
    if (live === 0) this.counts.harmlessDamages++
    await this.close()
    await unlink(p.path)
    this.counts.damages++
    await this.reopen()
  }

  /** Deletes index/CURRENT, truncates an index table (or log), or deletes index/; then repairs. */
  private async damageIndex (): Promise<void> {
    await this.close()
    const index = join(this.storeDir, 'index')
    const kind = this.int(3)
    if (kind === 0) {
      await unlink(join(index, 'CURRENT'))
    } else if (kind === 1) {
      const files = (await readdir(index)).filter(f => f.endsWith('.ldb') || f.endsWith('.log')).sort()
      const tables = files.filter(f => f.endsWith('.ldb'))
      const pick = (tables.length > 0 ? tables : files)
      if (pick.length > 0) {
        const f = join(index, pick[this.int(pick.length)]!)
        await truncate(f, Math.floor((await stat(f)).size / 2))
      }
    } else {
      await rm(index, { recursive: true, force: true })
    }
    this.counts.damages++
    this.counts.indexDamages++
    await this.repair()
    await this.reopen()
  }

  // ---- invariants ----

  /** Drops destroyed hashes that no longer matter, and counts the ones a cycle stored again. */
  private async settleDestroyed (): Promise<void> {
    const needed = new Set<string>()
    for (const p of this.points.values()) for (const h of p.blocks) if (h !== null) needed.add(h)
    for (const h of [...this.destroyed]) {
      const located = await this.store!.locate(fromHex(h))
      if (!needed.has(h) && located === undefined) { this.destroyed.delete(h); continue }
      if (this.healable.has(h) && located !== undefined) {
        const ok = await this.store!.readBlock(fromHex(h)).then(() => true, () => false)
        if (ok) { this.destroyed.delete(h); this.counts.heals++ } else if (this.o.healing === true) {
          throw this.fail(`destroyed block ${h} is in the cycle's source but was not stored again`)
        }
      }
    }
  }

  private async check (): Promise<void> {
    const store = this.store!
    await this.settleDestroyed()
    const listed = await store.listPoints()
    const listedIds = new Set(listed.map(p => p.id))
    for (const p of listed) {
      const back = this.lostByRepair.get(p.id)
      if (back !== undefined && this.repairedThisStep) {
        this.lostByRepair.delete(p.id)
        this.points.set(p.id, { ...back, lost: false })
        this.counts.pointsBackAfterRepair++
        continue
      }
      if (!this.points.has(p.id)) throw this.fail(`phantom point ${p.id} is listed; the model has [${[...this.points.keys()].join(',')}]`)
    }
    for (const m of [...this.points.values()]) {
      const bad = m.blocks.flatMap((h, i) => h !== null && this.destroyed.has(h) ? [i] : [])
      if (bad.length > 0 && !m.lost) { m.lost = true; this.counts.pointsLost++ }
      if (!listedIds.has(m.id)) {
        const pageGone = m.pages?.some(h => this.destroyedPages.has(h)) === true
        if ((bad.length > 0 || pageGone) && this.repairedThisStep) {
          if (bad.length === 0) this.counts.pointsLost++
          this.points.delete(m.id)
          this.lostByRepair.set(m.id, m)
          continue
        }
        this.counts.pointsLostUndamaged += bad.length === 0 ? 1 : 0
        throw this.fail(`committed point ${m.id} is no longer listed (${bad.length} of its blocks destroyed)`)
      }
      m.pages ??= await pageHashes(store, m.id)
      const report = await verifyPoint(store, m.id)
      const expected = new Set(bad)
      const unexpected = report.problems.filter(x => !expected.has(x.block))
      if (report.badBlocks !== bad.length || unexpected.length > 0) {
        if (bad.length === 0) this.counts.pointsLostUndamaged++
        throw this.fail(`verify of point ${m.id} found ${report.badBlocks} bad block(s) [${report.problems.map(x => `${x.block}:${x.code}`).join(' ')}]; ` +
          `expected ${bad.length} [${bad.join(' ')}]`)
      }
      if (bad.length > 0) continue
      const out = join(this.scratch, 'restored.img')
      await materializePoint(store, m.id, 'disk0', out, { force: true })
      const restored = await readFile(out)
      await unlink(out)
      if (sha256(restored) !== m.sha256) throw this.fail(`point ${m.id} verifies but does not restore byte for byte`)
    }
    const known = new Set((await store.packs()).keys())
    const orphans = (await readdir(join(this.storeDir, 'packs'))).filter(f => !known.has(f.replace(/\.pack$/, '')))
    if (orphans.length > 0) throw this.fail(`pack files no committed batch names: ${orphans.join(' ')}`)
    const latest = [...this.points.values()].sort((a, b) => b.id - a.id)[0]
    if (latest !== undefined && !latest.blocks.some(h => h !== null && this.destroyed.has(h))) {
      const rec = await imageRecord(store, 'disk0')
      if (rec?.state !== 'ready' || rec.point !== latest.id) throw this.fail(`replica image record is ${JSON.stringify(rec)}; latest point is ${latest.id}`)
      if (sha256(await readFile(store.imagePath('disk0'))) !== latest.sha256) throw this.fail(`replica image differs from point ${latest.id}`)
    }
  }
}

/** The page hashes (hex) of disk0 of point `id`, from the index's page list. */
async function pageHashes (store: RecoveryPointStore, id: number): Promise<string[]> {
  const list = await store.db.get(manifestKey(id, 'disk0'))
  if (list === undefined) return []
  const out: string[] = []
  for (let at = 0; at + 32 <= list.byteLength; at += 32) out.push(Buffer.from(list.buffer, list.byteOffset + at, 32).toString('hex'))
  return out
}

function sha256 (b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex')
}

function sameIds (a: number[], b: number[]): boolean {
  return a.length === b.length && [...a].sort((x, y) => x - y).every((x, i) => x === [...b].sort((p, q) => p - q)[i])
}
