/**
 * `tandem replicate <image...> --store <dir>`: one cycle of a VM's disks into
 * a store (created when missing), then retention. Also how a store on a
 * removable disk is filled for initial replication.
 */
import { Command, Option } from 'commander'
import { basename, resolve } from 'node:path'
import { DISK_NAME_PATTERN, FileDiskSource, replicateOnce, type CycleReport, type RetentionPolicy } from '../../core/index.ts'
import { AppError, AppErrorCode } from '../service/index.ts'
import { intervalOption, jsonOption, keepOption, progressOption, storeOption } from './common-options.ts'
import { formatBytes, plural, pointJson, shortHash, type PointJson } from './format.ts'
import { collect, parseByteSize } from './option-values.ts'
import { prunedText, retentionRule } from './retention-rule.ts'
import { withSession } from './session.ts'
import { testPause } from './test-pause.ts'

interface ReplicateOptions {
  store: string
  name?: string[]
  blockSize?: number
  keep: number
  interval: number
  json?: boolean
  progress?: boolean
  allowDiskChange?: boolean
}

export function replicateCommand (): Command {
  return new Command('replicate')
    .description('replicate the disk images of one VM into the store as one new recovery point, then apply retention')
    .argument('<image...>', 'raw disk images (or block devices), taken together as the disks of one point')
    .addOption(storeOption())
    .addOption(new Option('--name <disk>', 'disk name for each image, in order (repeat the option); default: the file name').argParser(collect))
    .addOption(new Option('--block-size <bytes>', 'block size of a store created now (65536, 64K, 1M...); fixed for the store\'s life').argParser(parseByteSize))
    .addOption(new Option('--allow-disk-change', 'accept disks whose names differ from the latest point\'s (a disk added, removed or renamed)'))
    .addOption(keepOption(false))
    .addOption(intervalOption())
    .addOption(jsonOption())
    .addOption(progressOption())
    .action(async (images: string[], opts: ReplicateOptions) => {
      await withSession(opts, async session => {
        const names = diskNames(images, opts.name)
        const store = await session.openStore(opts.store, { write: true, create: true, blockSize: opts.blockSize })
        const report = await replicateOnce(store, {
          pool: session.pool(),
          disks: images.map((path, i) => ({ name: names[i]!, source: new FileDiskSource(resolve(path)) })),
          retention: { additional: opts.keep, intervalMs: opts.interval },
          allowDiskChange: opts.allowDiskChange === true,
          signal: session.signal,
          onProgress: session.progress.listener,
          onStep: testPause(session.signal)
        })
        session.output(replicateJson(store.dir, store.blockSize, { additional: opts.keep, intervalMs: opts.interval }, report), replicateText)
      })
    })
}

/**
 * The disk name of each image: the `--name`s in order, else each file's name
 * made valid (characters outside [A-Za-z0-9._-] become '_'). APP_USAGE when
 * the counts differ or two disks would share a name.
 */
export function diskNames (images: string[], names: string[] | undefined): string[] {
  if (names !== undefined && names.length !== images.length) {
    throw new AppError(AppErrorCode.APP_USAGE, `${plural(images.length, 'image')} but ${plural(names.length, '--name')}: give one name per image, in order`)
  }
  const out = names ?? images.map(defaultDiskName)
  const seen = new Set<string>()
  for (const name of out) {
    if (seen.has(name)) throw new AppError(AppErrorCode.APP_USAGE, `two disks would both be named "${name}"; name them with --name`)
    seen.add(name)
  }
  return out
}

/** Pure: a file's name without its extension made into a valid disk name (DISK_NAME_PATTERN): `vm.img` -> `vm`. */
export function defaultDiskName (path: string): string {
  const name = basename(path).replace(/\.[A-Za-z0-9]{1,8}$/, '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '').slice(0, 64)
  return DISK_NAME_PATTERN.test(name) ? name : 'disk'
}

/** The `--json` document of `replicate`. */
interface ReplicateJson {
  store: string
  blockSize: number
  point: PointJson
  disks: CycleReport['disks']
  /** The retention policy applied, and its rule in words. */
  retention: { keep: number, intervalMs: number, rule: string }
  pruned: CycleReport['pruned']
}

function replicateJson (dir: string, blockSize: number, policy: RetentionPolicy, r: CycleReport): ReplicateJson {
  const retention = { keep: policy.additional, intervalMs: policy.intervalMs, rule: retentionRule(policy) }
  return { store: dir, blockSize, point: pointJson(r.point), disks: r.disks, retention, pruned: r.pruned }
}

function replicateText ({ point, disks, retention, pruned }: ReplicateJson): string {
  const lines = [`recovery point ${point.id} committed: ${point.time}, ${point.consistency}-consistent, root ${shortHash(point.root)}`]
  for (const d of disks) {
    const resized = d.previousSize === undefined ? '' : ` (was ${formatBytes(d.previousSize)})`
    lines.push(`  ${d.name}: ${formatBytes(d.size)}${resized}, ${plural(d.changedBlocks, 'changed block')}, ` +
      `${plural(d.storedBlocks, 'new block')} stored (${formatBytes(d.storedBytes)}), ${formatBytes(d.bytesRead)} read` +
      (d.healedBlocks > 0 ? `, ${plural(d.healedBlocks, 'damaged block')} healed` : ''))
  }
  lines.push(`  retention: ${retention.rule}; ${prunedText(pruned)}`)
  return lines.join('\n')
}
