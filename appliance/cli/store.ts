/**
 * `tandem store repair --store <dir>`: rebuilds a lost or damaged index from
 * the packs and point files (core/store/repair.ts); the old index is moved
 * aside, never deleted. Points that cannot come back whole are reported and
 * the command ends with APP_VERIFY_FAILED (exit status 3) after the report.
 * `tandem store verify --store <dir>` is `tandem verify --all`.
 */
import { Command } from 'commander'
import { rebuildIndex, type RepairReport } from '../../core/index.ts'
import { AppError, AppErrorCode } from '../service/index.ts'
import { jsonOption, progressOption, storeOption } from './common-options.ts'
import { plural } from './format.ts'
import { storePath, withSession } from './session.ts'
import { verifyAllAction } from './verify.ts'

interface RepairOptions {
  store: string
  json?: boolean
}

export function storeCommand (): Command {
  return new Command('store')
    .description('look after a store: repair its index, check every byte of it')
    .addCommand(repairCommand())
    .addCommand(new Command('verify')
      .description('check every byte of every pack and point file (same as verify --all); exit status 3 on any problem')
      .addOption(storeOption())
      .addOption(jsonOption())
      .addOption(progressOption())
      .action(verifyAllAction))
}

function repairCommand (): Command {
  return new Command('repair')
    .description('rebuild a lost or damaged index from the packs and point files (the old index is moved aside)')
    .addOption(storeOption())
    .addOption(jsonOption())
    .action(async (opts: RepairOptions) => {
      await withSession(opts, async session => {
        const report = await rebuildIndex(storePath(opts.store), { signal: session.signal })
        session.output(report, repairText)
        if (report.lost.length > 0) {
          throw new AppError(AppErrorCode.APP_VERIFY_FAILED, `${plural(report.lost.length, 'recovery point')} could not be restored whole (${[...new Set(report.lost.map(l => l.code))].join(', ')})`)
        }
      })
    })
}

function repairText (r: RepairReport): string {
  const lines = [`repair: ${plural(r.packs, 'pack')} read, ${plural(r.blocks, 'intact block')}, ${plural(r.restored.length, 'recovery point')} restored${r.restored.length > 0 ? ` (${r.restored.join(', ')})` : ''}`]
  if (r.movedAside !== undefined) lines.push(`the old index was moved to ${r.movedAside}`)
  for (const l of r.lost) lines.push(`  point ${l.id} not restored: ${l.code} (${plural(l.missingBlocks, 'missing block')}, ${plural(l.missingPages, 'missing manifest page')}); its files are kept`)
  for (const b of r.badRecords) lines.push(`  damaged: ${b.file}${b.offset === undefined ? '' : ` at ${b.offset}`}: CORE_BLOCK_CORRUPT`)
  for (const f of r.corruptPointFiles) lines.push(`  damaged point file points/${f}: CORE_POINT_FILE_CORRUPT`)
  return lines.join('\n')
}
