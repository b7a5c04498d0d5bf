/**
 * `tandem seed export|import`: one recovery point as one portable file, for
 * initial replication on removable media (docs/seed-format.md).
 */
import { Command, Option } from 'commander'
import { resolve } from 'node:path'
import { exportSeed, importSeed, readSeedHeader } from '../../core/seed/index.ts'
import { forceOption, jsonOption, pointOption, progressOption, storeOption } from './common-options.ts'
import { formatBytes, plural, pointJson, pointLine } from './format.ts'
import type { PointSelector } from './option-values.ts'
import { resolvePoint } from './selection.ts'
import { withSession } from './session.ts'

interface ExportOptions {
  store: string
  point: PointSelector
  out: string
  force?: boolean
  json?: boolean
  progress?: boolean
}

interface ImportOptions {
  store: string
  json?: boolean
  progress?: boolean
}

export function seedCommand (): Command {
  return new Command('seed')
    .description('carry a recovery point on removable media: export it to a seed file, import it into another store')
    .addCommand(seedExportCommand())
    .addCommand(seedImportCommand())
}

function seedExportCommand (): Command {
  return new Command('export')
    .description('write one recovery point (all its disks) to a new seed file')
    .addOption(storeOption())
    .addOption(pointOption())
    .addOption(new Option('--out <file>', 'seed file to write').makeOptionMandatory())
    .addOption(forceOption())
    .addOption(jsonOption())
    .addOption(progressOption())
    .action(async (opts: ExportOptions) => {
      await withSession(opts, async session => {
        const store = await session.openStore(opts.store, { write: false })
        const point = await resolvePoint(store, opts.point)
        const out = resolve(opts.out)
        const result = await exportSeed(store, point.id, out, { force: opts.force === true, signal: session.signal, onProgress: session.progress.listener })
        const doc = { point: point.id, out, bytes: result.bytes, blocks: result.blocks }
        session.output(doc, d => `exported point ${d.point} to ${d.out}: ${plural(d.blocks, 'block')}, ${formatBytes(d.bytes)}`)
      })
    })
}

function seedImportCommand (): Command {
  return new Command('import')
    .description('import a seed file as a new recovery point; creates the store (with the seed\'s block size) when missing')
    .argument('<file>', 'seed file')
    .addOption(storeOption())
    .addOption(jsonOption())
    .addOption(progressOption())
    .action(async (file: string, opts: ImportOptions) => {
      await withSession(opts, async session => {
        const path = resolve(file)
        // The seed is checked before the store is touched, so a bad seed creates nothing.
        const header = await readSeedHeader(path)
        const store = await session.openStore(opts.store, { write: true, create: true, blockSize: header.blockSize })
        const point = await importSeed(store, path, { signal: session.signal, onProgress: session.progress.listener })
        session.output({ store: store.dir, point: pointJson(point) }, () => `imported ${path} as ${pointLine(point)}`)
      })
    })
}
