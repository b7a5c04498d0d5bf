/**
 * `tandem salvage list | restore | delete`: the salvage copies of an old
 * primary that became the Replica (docs/cli.md "tandem salvage",
 * docs/failover.md "Salvage"): what it wrote after the last point both
 * boxes shared, kept before anything could overwrite it. A restore is a
 * daemon job followed here; deleting needs `--yes`.
 */
import { Command, Option } from 'commander'
import { resolve } from 'node:path'
import type { JobInfo, LocalBox, SalvageDeleteResult, SalvageInfo } from '../service/index.ts'
import { dataOption, dataPath, examples, yesOption } from './box-options.ts'
import { jsonOption, progressOption } from './common-options.ts'
import { formatBytes } from './format.ts'
import { followJob } from './job-follow.ts'
import { Session, withSession } from './session.ts'

interface Opts { data: string, json?: boolean, progress?: boolean }

export function salvageCommand (box: LocalBox): Command {
  return new Command('salvage')
    .description('salvage copies on an old primary that became the Replica: what it wrote after the last shared point, kept outside retention: list, restore, delete')
    .addHelpText('after', examples(['tandem salvage list', 'tandem salvage restore web-20261207T104205Z --out /srv/web-salvage.raw', 'tandem salvage delete web-20261207T104205Z --yes']))
    .addCommand(listCommand(box))
    .addCommand(restoreCommand(box))
    .addCommand(deleteCommand(box))
}

function listCommand (box: LocalBox): Command {
  return new Command('list')
    .description('the salvage copies on this box, oldest first')
    .argument('[name]', 'only this VM\'s (or relationship\'s)')
    .addOption(dataOption())
    .addOption(jsonOption())
    .action(async (name: string | undefined, opts: Opts) => {
      const service = await box.connect(dataPath(opts.data))
      new Session(opts).output(await service.salvageList(name), salvageListText)
    })
}

function restoreCommand (box: LocalBox): Command {
  return new Command('restore')
    .description('write one disk of a salvage copy as a raw image file, byte for byte (every block verified as it is read)')
    .argument('<id>', 'the salvage copy (tandem salvage list)')
    .requiredOption('--out <path>', 'the raw image file to write')
    .addOption(new Option('--disk <name>', 'the disk, when the VM has several'))
    .addOption(new Option('--force', 'replace a file at --out'))
    .addOption(progressOption())
    .addOption(dataOption())
    .addOption(jsonOption())
    .action(async (id: string, opts: Opts & { out: string, disk?: string, force?: boolean }) => {
      const service = await box.connect(dataPath(opts.data))
      await withSession(opts, async session => {
        const started = await service.salvageRestore(id, { out: resolve(opts.out), ...(opts.disk === undefined ? {} : { disk: opts.disk }), ...(opts.force === true ? { force: true } : {}) })
        const job = await followJob(service, started, session)
        session.output(job, restoredText)
      })
    })
}

function deleteCommand (box: LocalBox): Command {
  return new Command('delete')
    .description('delete a salvage copy (needs --yes): what the old primary wrote after the shared point is then gone')
    .argument('<id>', 'the salvage copy (tandem salvage list)')
    .addOption(yesOption())
    .addOption(dataOption())
    .addOption(jsonOption())
    .action(async (id: string, opts: Opts & { yes?: boolean }) => {
      const service = await box.connect(dataPath(opts.data))
      new Session(opts).output(await service.salvageDelete(id, opts.yes === true ? { yes: true } : {}), deletedText)
    })
}

/** The copies in words. Pure. */
export function salvageListText (list: SalvageInfo[]): string {
  if (list.length === 0) return 'no salvage copies'
  return list.map(s => {
    const size = s.disks.reduce((n, d) => n + (d.size ?? 0), 0)
    const head = `${s.id}  ${s.vm}  ${s.state}  ${s.time}  point ${s.point ?? '-'}  ${formatBytes(size)}`
    const since = s.prepared
      ? '  kept since the other box failed the VM over: `replication reverse` there takes it as the copy if the disks do not change'
      : s.since === null ? '  (no point was shared: the whole disks)' : `  writes after ${s.since}`
    return `${head}\n${since}\n  ${s.reason}`
  }).join('\n')
}

function restoredText (job: JobInfo): string {
  const r = job.salvageRestore!
  return `disk ${r.disk} of salvage copy ${r.id} written to ${r.path} (${formatBytes(r.bytes)}, every block verified)`
}

function deletedText (r: SalvageDeleteResult): string {
  return `salvage copy ${r.id} deleted: its point is no longer kept outside retention`
}
