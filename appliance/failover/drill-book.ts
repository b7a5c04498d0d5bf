/**
 * The Replica's drill files, one folder per relationship
 * (docs/failover.md "Drills"):
 *
 *   DATA/drills/<relationship>/drill.json    its drill settings (drill-settings.ts)
 *   DATA/drills/<relationship>/proofs.json   the proofs of its successful drills, newest last
 *   DATA/drills/<relationship>/*.png          the screenshots they name
 *
 * Read once and kept in memory; every change is written atomically before
 * it is visible. A damaged file is APP_FAILOVER_FILE_CORRUPT and is never
 * rewritten (the proofs in it would be lost).
 */
import { constants } from 'node:fs'
import { mkdir, open, readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { DISK_NAME_PATTERN } from '../../core/constants.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { MAX_DRILL_SCREENSHOT_BYTES, type DrillScreenshot } from '../service/index.ts'
import { damaged, isObject, readJsonFile, writeJsonFile, type JsonFileKind } from '../json-file.ts'
import { SerialQueue } from '../serial-queue.ts'
import { MAX_FAILOVER_FILE_BYTES, MAX_PROOFS_KEPT, SCREENSHOT_ROOT_CHARS } from './constants.ts'
import { checkDrillSign, invalidDrillSettings, type DrillSettings } from './drill-settings.ts'

const SETTINGS: JsonFileKind = { what: 'drill settings', version: 1, maxBytes: MAX_FAILOVER_FILE_BYTES, code: AppErrorCode.APP_FAILOVER_FILE_CORRUPT }
const PROOFS: JsonFileKind = { what: 'drill proofs', version: 1, maxBytes: MAX_FAILOVER_FILE_BYTES, code: AppErrorCode.APP_FAILOVER_FILE_CORRUPT }

/** What a successful drill proved of one point. */
export interface Proof {
  point: number
  root: string
  /** When the sign came (ms since the epoch). */
  time: number
  sign: 'agent' | 'serial'
  signOfLifeMs: number
  /** Absolute path of the PNG. */
  screenshot: string
}

/** The first bytes of every PNG file (the PNG specification, "PNG signature"). */
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

const PROOF_FIELDS = ['point', 'root', 'time', 'sign', 'signOfLifeMs', 'screenshot']

function checkProof (v: unknown): Proof | undefined {
  if (!isObject(v) || Object.keys(v).some(k => !PROOF_FIELDS.includes(k))) return undefined
  const count = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
  if (!count(v.point) || !count(v.time) || !count(v.signOfLifeMs)) return undefined
  if (typeof v.root !== 'string' || !/^[0-9a-f]{1,128}$/.test(v.root)) return undefined
  if ((v.sign !== 'agent' && v.sign !== 'serial') || typeof v.screenshot !== 'string' || !v.screenshot.startsWith('/')) return undefined
  return { point: v.point, root: v.root, time: v.time, sign: v.sign, signOfLifeMs: v.signOfLifeMs, screenshot: v.screenshot }
}

/** `20261108T101502Z`: a time in a file name (no colons). */
export function compactTime (ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
}

export class DrillBook {
  /** DATA/drills/. */
  readonly dir: string
  private readonly settings = new Map<string, DrillSettings>()
  private readonly proofs = new Map<string, Proof[]>()
  private readonly queue = new SerialQueue()

  constructor (dir: string) {
    this.dir = dir
  }

  /** Loads every relationship's settings (the schedule needs them all); proofs are read when first asked for. Damaged files are returned, not thrown: the daemon starts and reports them. */
  async open (): Promise<Array<{ relationship: string, err: unknown }>> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    const problems: Array<{ relationship: string, err: unknown }> = []
    for (const rel of (await readdir(this.dir)).filter(n => DISK_NAME_PATTERN.test(n)).sort()) {
      try {
        const s = await this.readSettings(rel)
        if (s !== undefined) this.settings.set(rel, s)
      } catch (err) {
        problems.push({ relationship: rel, err })
      }
    }
    return problems
  }

  /** The folder of a relationship's drill files. */
  relationshipDir (relationship: string): string {
    return join(this.dir, relationship)
  }

  /** Where a drill of point `root` at `time` keeps its screenshot. */
  screenshotPath (relationship: string, root: string, time: number): string {
    return join(this.relationshipDir(relationship), `${root.slice(0, SCREENSHOT_ROOT_CHARS)}-${compactTime(time)}.png`)
  }

  /** Makes the relationship's folder (0700): before a drill writes its screenshot there. */
  async prepare (relationship: string): Promise<void> {
    await mkdir(this.relationshipDir(relationship), { recursive: true, mode: 0o700 })
  }

  /** The settings of every relationship that has some. */
  allSettings (): Array<{ relationship: string, settings: DrillSettings }> {
    return [...this.settings].map(([relationship, s]) => ({ relationship, settings: structuredClone(s) }))
  }

  getSettings (relationship: string): DrillSettings | undefined {
    const s = this.settings.get(relationship)
    return s === undefined ? undefined : structuredClone(s)
  }

  /** Replaces the relationship's settings: written, then visible. */
  async setSettings (relationship: string, next: DrillSettings): Promise<void> {
    await this.queue.run(async () => {
      await this.prepare(relationship)
      await writeJsonFile(join(this.relationshipDir(relationship), 'drill.json'), SETTINGS, { ...next })
      this.settings.set(relationship, structuredClone(next))
    })
  }

  /** The relationship's proofs, oldest first. APP_FAILOVER_FILE_CORRUPT for a damaged file. */
  async listProofs (relationship: string): Promise<Proof[]> {
    return structuredClone(await this.loadProofs(relationship))
  }

  /** Records a proof (the newest MAX_PROOFS_KEPT are kept); written, then visible. */
  async addProof (relationship: string, proof: Proof): Promise<void> {
    await this.queue.run(async () => {
      const next = [...await this.loadProofs(relationship), proof].slice(-MAX_PROOFS_KEPT)
      await this.prepare(relationship)
      await writeJsonFile(join(this.relationshipDir(relationship), 'proofs.json'), PROOFS, { proofs: next })
      this.proofs.set(relationship, next)
    })
  }

  /**
   * The screenshot `file` of one of the relationship's proofs (the newest
   * proof naming it), read whole: only a file a proof names is read, by the
   * proof's own path (`file` is compared with its name, never joined to a
   * folder; a symbolic link there is refused). APP_SCREENSHOT_NOT_FOUND
   * when no proof names it or the file is gone; APP_SCREENSHOT_INVALID when
   * it is over MAX_DRILL_SCREENSHOT_BYTES or not a PNG;
   * APP_FAILOVER_FILE_CORRUPT for a damaged proofs file.
   */
  async screenshot (relationship: string, file: string): Promise<DrillScreenshot> {
    const proof = (await this.loadProofs(relationship)).findLast(p => basename(p.screenshot) === file)
    const notFound = (why: string): AppError => new AppError(AppErrorCode.APP_SCREENSHOT_NOT_FOUND, `${why} (${relationship})`)
    if (proof === undefined) throw notFound(`no drill proof names the screenshot ${JSON.stringify(file.slice(0, 100))}`)
    let handle
    try {
      handle = await open(proof.screenshot, constants.O_RDONLY | constants.O_NOFOLLOW)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`the screenshot of point ${proof.point}'s drill is gone from ${proof.screenshot}`)
      throw err
    }
    try {
      const stat = await handle.stat()
      const invalid = (why: string): AppError => new AppError(AppErrorCode.APP_SCREENSHOT_INVALID, `${proof.screenshot} ${why}`)
      if (!stat.isFile() || stat.size > MAX_DRILL_SCREENSHOT_BYTES) throw invalid(`is not a file of at most ${MAX_DRILL_SCREENSHOT_BYTES} bytes`)
      const png = Buffer.alloc(stat.size)
      const { bytesRead } = await handle.read(png, 0, stat.size, 0)
      if (bytesRead !== stat.size || !png.subarray(0, PNG_SIGNATURE.length).equals(PNG_SIGNATURE)) throw invalid('is not a PNG')
      return { file, png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength) }
    } finally {
      await handle.close()
    }
  }

  private async loadProofs (relationship: string): Promise<Proof[]> {
    const held = this.proofs.get(relationship)
    if (held !== undefined) return held
    const file = join(this.relationshipDir(relationship), 'proofs.json')
    const doc = await readJsonFile(file, PROOFS)
    const proofs: Proof[] = []
    if (doc !== undefined) {
      if (!Array.isArray(doc.proofs) || Object.keys(doc).length !== 1) throw damaged(PROOFS, file, 'expected { version, proofs: [...] }')
      for (const [i, p] of doc.proofs.entries()) {
        const proof = checkProof(p)
        if (proof === undefined) throw damaged(PROOFS, file, `proofs[${i}] is not a proof`)
        proofs.push(proof)
      }
    }
    this.proofs.set(relationship, proofs)
    return proofs
  }

  private async readSettings (relationship: string): Promise<DrillSettings | undefined> {
    const file = join(this.relationshipDir(relationship), 'drill.json')
    const doc = await readJsonFile(file, SETTINGS)
    if (doc === undefined) return undefined
    const why = invalidDrillSettings(doc)
    if (why !== undefined || Object.keys(doc).some(k => !['everyMs', 'sign', 'timeoutMs', 'lastRunAt', 'setAt'].includes(k))) throw damaged(SETTINGS, file, why ?? 'unknown field')
    return { everyMs: doc.everyMs as number | null, sign: checkDrillSign(doc.sign), timeoutMs: doc.timeoutMs as number, lastRunAt: doc.lastRunAt as number | null, setAt: doc.setAt as number }
  }
}
