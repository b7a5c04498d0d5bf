/**
 * `tandem replication reverse NAME`: on the box that failed over, the old
 * primary becomes the Replica and this box replicates the VM back to it,
 * sending only the blocks that differ (docs/cli.md "tandem replication
 * reverse", docs/failover.md "Reverse replication"). A daemon job followed
 * here until the first cycle ends; `--dry-run` says in words what would
 * happen, and does nothing.
 */
import { Command, Option } from 'commander'
import type { JobInfo, LocalBox, ReverseInfo } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { jsonOption, progressOption } from './common-options.ts'
import { formatBytes, summaryText } from './format.ts'
import { followJob } from './job-follow.ts'
import { Session, withSession } from './session.ts'

interface Opts { data: string, json?: boolean, progress?: boolean, dryRun?: boolean, force?: boolean }

export function reverseCommand (box: LocalBox): Command {
  return new Command('reverse')
    .description('after a completed failover: the old primary becomes the Replica (its writes after the shared point kept as a salvage copy there), and this box replicates the VM back, sending only the blocks that differ')
    .argument('<name>', 'the VM\'s name or the relationship id')
    .addOption(new Option('--force', 'stop the VM on the old primary if it still runs there (else the reversal is refused)'))
    .addOption(new Option('--dry-run', 'say what would happen and what could be lost, and do nothing'))
    .addOption(progressOption())
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem replication reverse web --dry-run', 'tandem replication reverse web']))
    .action(async (name: string, opts: Opts) => {
      const service = await box.connect(dataPath(opts.data))
      const request = opts.force === true ? { force: true } : {}
      if (opts.dryRun === true) {
        new Session(opts).output(await service.replicationReversePlan(name, request), summaryText)
        return
      }
      await withSession(opts, async session => {
        const job = await followJob(service, await service.replicationReverse(name, request), session)
        session.output(job, (j: JobInfo) => reverseText(j.reverse!))
      })
    })
}

/** A reversal in words. Pure. */
export function reverseText (r: ReverseInfo): string {
  const c = r.firstCycle
  return [
    `replication of ${r.vm} reversed: this box is its primary (term ${r.term}), ${r.replica} its Replica`,
    c === null
      ? '  the first cycle had not ended: tandem replication status shows it'
      : c.outcome === 'ok'
        ? `  first cycle: ${formatBytes(c.bytesSent)} sent for ${formatBytes(c.bytesChanged)} of blocks that differed`
        : `  first cycle failed (${c.code ?? '?'}): it is retried at the relationship's frequency`,
    `  what ${r.replica} wrote after the shared point is a salvage copy there (tandem salvage list on ${r.replica})`
  ].join('\n')
}
