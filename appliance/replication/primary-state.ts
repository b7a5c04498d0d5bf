import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeManifest, encodeManifest } from '../../core/manifest.ts'
import type { Consistency, Manifest } from '../../core/types.ts'
import { AppError, AppErrorCode } from '../errors.ts'
import { readTextIfExists, writeFileAtomic } from '../fs-util.ts'

/** What the Replica holds, as the primary last saw it committed. */
export interface Replicated {
  root: string
  term: number
  manifests: Map<string, Manifest>
}

/** A cycle started and not yet committed: the same id, time and base resume it after a restart. */
export interface InFlightCycle {
  cycle: string
  base: string | null
  time: number
  term: number
  consistency: Consistency
  /** Why the point is crash-consistent, when that was asked: a resume sends it again. */
  consistencyNote?: string
}

/** The record of the cycle in flight, in the state directory; its presence means a cycle is to be resumed. */
export const IN_FLIGHT_FILE = 'inflight.json'

interface ReplicatedFile { version: 1, root: string, term: number, disks: Array<{ name: string, file: string }> }

/**
 * The primary's durable record of one relationship (docs/primary-state.md):
 * the manifests of the Replica's latest point (the base of the next cycle)
 * and the cycle in flight. Files in one directory, each replaced
 * atomically; manifests are written under new names before the record that
 * names them, so a crash leaves either the old record or the new one whole.
 */
export class PrimaryState {
  readonly dir: string
  replicated: Replicated | undefined
  inFlight: InFlightCycle | undefined

  private constructor (dir: string) {
    this.dir = dir
  }

  static async open (dir: string): Promise<PrimaryState> {
    await mkdir(dir, { recursive: true })
    const s = new PrimaryState(dir)
    try {
      const rec = await readJson<ReplicatedFile>(join(dir, 'replicated.json'))
      if (rec !== undefined) {
        if (rec.version !== 1 || typeof rec.root !== 'string' || !Array.isArray(rec.disks)) throw new TypeError('not a version 1 record')
        const manifests = new Map<string, Manifest>()
        for (const d of rec.disks) manifests.set(d.name, decodeManifest(await readFile(join(dir, d.file))))
        s.replicated = { root: rec.root, term: rec.term, manifests }
      }
      s.inFlight = await readJson<InFlightCycle>(join(dir, IN_FLIGHT_FILE))
    } catch (err) {
      throw new AppError(AppErrorCode.APP_STATE_CORRUPT, `the replication state in ${dir} is damaged: ${(err as Error).message}`, { cause: err })
    }
    return s
  }

  /** Starts (and records) a new cycle diffed against what the Replica holds now. */
  async begin (time: number, term: number, consistency: Consistency, consistencyNote?: string): Promise<InFlightCycle> {
    const c: InFlightCycle = { cycle: randomBytes(16).toString('hex'), base: this.replicated?.root ?? null, time, term, consistency, ...(consistencyNote === undefined ? {} : { consistencyNote }) }
    await writeFileAtomic(join(this.dir, IN_FLIGHT_FILE), JSON.stringify(c))
    this.inFlight = c
    return c
  }

  /** Records a committed point (or, after a resync, what the Replica was found to hold) and ends the cycle in flight. */
  async commit (replicated: Replicated): Promise<void> {
    const tag = replicated.root.slice(0, 16)
    const disks = [...replicated.manifests].map(([name, m]) => ({ name, file: `${tag}-${name}.manifest`, m }))
    for (const d of disks) await writeFileAtomic(join(this.dir, d.file), encodeManifest(d.m))
    const rec: ReplicatedFile = { version: 1, root: replicated.root, term: replicated.term, disks: disks.map(d => ({ name: d.name, file: d.file })) }
    await writeFileAtomic(join(this.dir, 'replicated.json'), JSON.stringify(rec))
    this.replicated = replicated
    await this.abandon()
    const keep = new Set(disks.map(d => d.file))
    for (const f of await readdir(this.dir)) if (f.endsWith('.manifest') && !keep.has(f)) await unlink(join(this.dir, f)).catch(() => {})
  }

  /** Forgets the cycle in flight (it will not be resumed). */
  async abandon (): Promise<void> {
    await unlink(join(this.dir, IN_FLIGHT_FILE)).catch(() => {})
    this.inFlight = undefined
  }
}

async function readJson<T> (path: string): Promise<T | undefined> {
  const text = await readTextIfExists(path)
  return text === undefined ? undefined : JSON.parse(text) as T
}
