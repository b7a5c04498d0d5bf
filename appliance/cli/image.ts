/**
 * `tandem image --store <dir> [--disk <name>]`: the path of the ready-to-use
 * replica image of the latest point, for starting the VM from it. An image
 * a crash left half-updated, or one never built, is brought to the latest
 * point first, so the path printed is always of a complete image.
 */
import { Command, Option } from 'commander'
import { resolve } from 'node:path'
import { imageRecord, updateImage } from '../../core/index.ts'
import { jsonOption, progressOption, storeOption } from './common-options.ts'
import { chooseDisk, resolvePoint } from './selection.ts'
import { withSession } from './session.ts'

interface ImageOptions {
  store: string
  disk?: string
  json?: boolean
  progress?: boolean
}

export function imageCommand (): Command {
  return new Command('image')
    .description('print the path of the replica image of the latest recovery point (changes with the next cycle)')
    .addOption(storeOption())
    .addOption(new Option('--disk <name>', 'disk whose image to show; needed only when the point has several'))
    .addOption(jsonOption())
    .addOption(progressOption())
    .action(async (opts: ImageOptions) => {
      await withSession(opts, async session => {
        const store = await session.openStore(opts.store, { write: true })
        const point = await resolvePoint(store, 'latest')
        const disk = chooseDisk(point, opts.disk)
        const record = await imageRecord(store, disk.name)
        if (record?.state !== 'ready' || record.point !== point.id) {
          await updateImage(store, disk.name, point.id, { signal: session.signal, onProgress: session.progress.listener })
        }
        const doc = { point: point.id, disk: disk.name, size: disk.size, path: resolve(store.imagePath(disk.name)) }
        session.output(doc, d => d.path)
      })
    })
}
