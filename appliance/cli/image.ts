/**
 * `tandem image --store <dir> [--disk <name>] [--verify]`: the path of the
 * ready-to-use replica image of the latest point, for starting the VM from
 * it. It checks before it answers: the image's record and its file's
 * identity (size, mtime, ctime, inode) must say it is untouched since it was
 * brought to the latest point; otherwise (never built, a crash half-updated
 * it, someone wrote to it or replaced it) every block is compared with the
 * point and the differing ones rewritten from the store first. `--verify`
 * compares every block even when the quick check passes. So the path
 * printed is always of an image equal to the latest point.
 */
import { Command, Option } from 'commander'
import { resolve } from 'node:path'
import { checkImage, updateImage, type ImageStatus } from '../../core/index.ts'
import { jsonOption, progressOption, storeOption } from './common-options.ts'
import { plural } from './format.ts'
import { chooseDisk, resolvePoint } from './selection.ts'
import { withSession } from './session.ts'

interface ImageOptions {
  store: string
  disk?: string
  verify?: boolean
  json?: boolean
  progress?: boolean
}

/** The `--json` document of `image`. */
interface ImageJson {
  point: number
  disk: string
  size: number
  path: string
  /** What the quick check found before anything was done (checkImage). */
  status: ImageStatus
  /** `record`: the quick check was enough; `blocks`: every block was compared with the point. */
  checked: 'record' | 'blocks'
  /** Blocks differed from the point and were rewritten from the store. */
  repaired: boolean
  repairedBlocks: number
}

export function imageCommand (): Command {
  return new Command('image')
    .description('print the path of the replica image of the latest recovery point (changes with the next cycle), checked and repaired first')
    .addOption(storeOption())
    .addOption(new Option('--disk <name>', 'disk whose image to show; needed only when the point has several'))
    .addOption(new Option('--verify', 'compare every block of the image with the point (and repair), not only its record and file identity'))
    .addOption(jsonOption())
    .addOption(progressOption())
    .action(async (opts: ImageOptions) => {
      await withSession(opts, async session => {
        const store = await session.openStore(opts.store, { write: true })
        const point = await resolvePoint(store, 'latest')
        const disk = chooseDisk(point, opts.disk)
        const status = await checkImage(store, disk.name, point.id)
        let checked: ImageJson['checked'] = 'record'
        let repairedBlocks = 0
        if (status !== 'ready' || opts.verify === true) {
          const r = await updateImage(store, disk.name, point.id, { signal: session.signal, onProgress: session.progress.listener })
          checked = 'blocks'
          repairedBlocks = r.rewrittenBlocks
        }
        const doc: ImageJson = { point: point.id, disk: disk.name, size: disk.size, path: resolve(store.imagePath(disk.name)), status, checked, repaired: repairedBlocks > 0, repairedBlocks }
        session.output(doc, d => d.path)
        // The path alone went to stdout (for `$(tandem image ...)`); what was found goes to stderr.
        if (!session.json && status === 'modified') {
          process.stderr.write(`image of disk "${disk.name}" was changed since it was written at point ${point.id}: ${repairedBlocks > 0 ? `repaired ${plural(repairedBlocks, 'block')} from the store` : 'its blocks still match the point'}\n`)
        } else if (!session.json && repairedBlocks > 0) {
          process.stderr.write(`image of disk "${disk.name}" did not match point ${point.id}: repaired ${plural(repairedBlocks, 'block')} from the store\n`)
        }
      })
    })
}
