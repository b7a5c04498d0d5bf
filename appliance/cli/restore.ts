/**
 * `tandem restore --store <dir> --point <id|latest> --out <file>`: writes one
 * disk of a recovery point as a sparse raw image. Read-only on the store;
 * `<file>` appears only once complete (core writes `<file>.partial` first).
 */
import { Command, Option } from 'commander'
import { resolve } from 'node:path'
import { materializePoint } from '../../core/index.ts'
import { forceOption, jsonOption, pointOption, progressOption, storeOption } from './common-options.ts'
import { formatBytes } from './format.ts'
import type { PointSelector } from './option-values.ts'
import { chooseDisk, resolvePoint } from './selection.ts'
import { withSession } from './session.ts'

interface RestoreOptions {
  store: string
  point: PointSelector
  disk?: string
  out: string
  force?: boolean
  json?: boolean
  progress?: boolean
}

export function restoreCommand (): Command {
  return new Command('restore')
    .description('write one disk of a recovery point to a new sparse image file, every block verified')
    .addOption(storeOption())
    .addOption(pointOption())
    .addOption(new Option('--disk <name>', 'disk to restore; needed only when the point has several'))
    .addOption(new Option('--out <file>', 'image file to write').makeOptionMandatory())
    .addOption(forceOption())
    .addOption(jsonOption())
    .addOption(progressOption())
    .action(async (opts: RestoreOptions) => {
      await withSession(opts, async session => {
        const store = await session.openStore(opts.store, { write: false })
        const point = await resolvePoint(store, opts.point)
        const disk = chooseDisk(point, opts.disk)
        const out = resolve(opts.out)
        const result = await materializePoint(store, point.id, disk.name, out, {
          force: opts.force === true,
          signal: session.signal,
          onProgress: session.progress.listener
        })
        const doc = { point: point.id, disk: disk.name, out, size: result.size, writtenBytes: result.writtenBytes, root: disk.root }
        session.output(doc, d => `restored ${d.disk} of point ${d.point} to ${d.out} (${formatBytes(d.size)}, ${formatBytes(d.writtenBytes)} of data written)`)
      })
    })
}
