/**
 * `tandem verify --store <dir> [--point <id|latest|all>] [--image]`: re-reads
 * and re-hashes the stored blocks of the chosen points; with `--image` also
 * hashes the replica images against the latest point. Reads through a
 * read-only open; only when it finds bad blocks does it open the store
 * writable to record them in the index (`bad/` keys) so that the next cycle
 * heals them. Block data is never written. `--all` checks every byte of every
 * pack and point file instead (core checkStore), read-only.
 * Finding problems is APP_VERIFY_FAILED (exit status 3), after the report
 * is printed.
 */
import { Command, Option } from 'commander'
import {
  checkStore, recordBadBlocks, verifyImage, verifyPoint,
  type BlockProblem, type DamagedBlock, type RecoveryPoint, type RecoveryPointStore, type StoreCheckReport
} from '../../core/index.ts'
import { AppError, AppErrorCode } from '../service/index.ts'
import { jsonOption, progressOption, storeOption } from './common-options.ts'
import { plural } from './format.ts'
import { parsePointOrAll, type PointSelector } from './option-values.ts'
import { resolvePoint } from './selection.ts'
import { withSession, type Session } from './session.ts'

interface VerifyOptions {
  store: string
  point: PointSelector | 'all'
  image?: boolean
  all?: boolean
  json?: boolean
  progress?: boolean
}

interface CheckJson {
  ok: boolean
  checkedBlocks: number
  badBlocks: number
  /** The first bad blocks (core's MAX_REPORTED_PROBLEMS per check), in disk order. */
  problems: BlockProblem[]
}

/** The `--json` document of `verify`. */
interface VerifyJson {
  ok: boolean
  points: Array<{ point: number } & CheckJson>
  images: Array<{ point: number, disk: string, path: string } & CheckJson>
}

export function verifyCommand (): Command {
  return new Command('verify')
    .description('re-read and re-hash the stored blocks of recovery points; exit status 3 when any is bad')
    .addOption(storeOption())
    .addOption(new Option('--point <id|latest|all>', 'which points: an id, "latest" or "all" (reads shared blocks once per point)').argParser(parsePointOrAll).default('latest'))
    .addOption(new Option('--image', 'also hash the replica image of each disk against the latest point'))
    .addOption(new Option('--all', 'check every byte of every pack and point file, and the index against them (ignores --point and --image)'))
    .addOption(jsonOption())
    .addOption(progressOption())
    .action(async (opts: VerifyOptions) => {
      if (opts.all === true) { await verifyAllAction(opts); return }
      await withSession(opts, async session => {
        const store = await session.openStore(opts.store, { write: false })
        const points: RecoveryPoint[] = opts.point === 'all' ? await store.listPoints() : [await resolvePoint(store, opts.point)]
        const damaged: DamagedBlock[] = []
        const run = { signal: session.signal, onProgress: session.progress.listener, onDamaged: (b: DamagedBlock[]) => { damaged.push(...b) } }
        const doc: VerifyJson = { ok: true, points: [], images: [] }
        for (const p of points) doc.points.push({ point: p.id, ...await verifyPoint(store, p.id, run) })
        const latest = opts.image === true ? await resolvePoint(store, 'latest') : undefined
        for (const d of latest?.disks ?? []) {
          const path = store.imagePath(d.name)
          doc.images.push({ point: latest!.id, disk: d.name, path, ...await verifyImage(store, latest!.id, d.name, path, session.pool(), run) })
        }
        doc.ok = [...doc.points, ...doc.images].every(c => c.ok)
        if (damaged.length > 0) await recordDamage(session, store, opts.store, damaged)
        session.output(doc, verifyText)
        if (!doc.ok) throw verifyFailure(doc)
      })
    })
}

/**
 * Records the bad blocks found for healing by the next cycle, through a
 * writable open of the same store. The read-only view is closed first: the
 * writable open changes the index, which the view would take for another writer.
 */
async function recordDamage (session: Session, readOnly: RecoveryPointStore, dir: string, damaged: DamagedBlock[]): Promise<void> {
  await session.closeStore(readOnly)
  const writable = await session.openStore(dir, { write: true })
  await recordBadBlocks(writable, damaged)
}

function verifyFailure (doc: VerifyJson): AppError {
  const checks = [...doc.points, ...doc.images]
  const bad = checks.reduce((n, c) => n + c.badBlocks, 0)
  const codes = [...new Set(checks.flatMap(c => c.problems.map(p => p.code)))].join(', ')
  return new AppError(AppErrorCode.APP_VERIFY_FAILED, `${plural(bad, 'bad block')} found (${codes})`)
}

function verifyText (doc: VerifyJson): string {
  const lines: string[] = []
  const describe = (label: string, c: CheckJson): void => {
    lines.push(`${label}: ${plural(c.checkedBlocks, 'block')} checked, ${c.ok ? 'ok' : plural(c.badBlocks, 'bad block')}`)
    for (const p of c.problems) lines.push(`  disk ${p.disk} block ${p.block} (offset ${p.offset}): ${p.code}`)
    if (c.badBlocks > c.problems.length) lines.push(`  ... and ${c.badBlocks - c.problems.length} more`)
  }
  if (doc.points.length === 0) lines.push('no recovery points to verify')
  for (const c of doc.points) describe(`point ${c.point}`, c)
  for (const c of doc.images) describe(`replica image ${c.disk} (point ${c.point})`, c)
  lines.push(doc.ok ? 'verify: ok' : 'verify: PROBLEMS FOUND')
  return lines.join('\n')
}

/** The `--json` document of `verify --all` (and `store verify`): core's StoreCheckReport plus the store. */
type VerifyAllJson = { store: string } & StoreCheckReport

/** `verify --all`: every pack record, point file, indexed block; strays and missing blocks, each with a code. */
export async function verifyAllAction (opts: { store: string, json?: boolean, progress?: boolean }): Promise<void> {
  await withSession(opts, async session => {
    const store = await session.openStore(opts.store, { write: false })
    const doc: VerifyAllJson = { store: store.dir, ...await checkStore(store, { signal: session.signal, onProgress: session.progress.listener }) }
    session.output(doc, verifyAllText)
    if (!doc.ok) {
      const codes = [...new Set(doc.problems.map(p => p.code))].join(', ')
      throw new AppError(AppErrorCode.APP_VERIFY_FAILED, `${plural(doc.problemCount, 'problem')} found (${codes})`)
    }
  })
}

function verifyAllText (doc: VerifyAllJson): string {
  const lines = [`store ${doc.store}: ${plural(doc.checkedPacks, 'pack')}, ${plural(doc.checkedRecords, 'record')}, ${plural(doc.checkedPointFiles, 'point file')} checked`]
  for (const p of doc.problems) {
    const where = [p.file, p.offset === undefined ? undefined : `offset ${p.offset}`, p.point === undefined ? undefined : `point ${p.point}`,
      p.disk === undefined ? undefined : `disk ${p.disk}`, p.hash === undefined ? undefined : `block ${p.hash}`].filter(x => x !== undefined).join(' ')
    lines.push(`  ${where}: ${p.code}`)
  }
  if (doc.problemCount > doc.problems.length) lines.push(`  ... and ${doc.problemCount - doc.problems.length} more`)
  lines.push(doc.ok ? 'verify: ok' : 'verify: PROBLEMS FOUND')
  return lines.join('\n')
}
