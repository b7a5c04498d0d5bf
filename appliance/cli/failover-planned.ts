/**
 * `tandem failover planned NAME`: planned failover, on the primary
 * (docs/cli.md "tandem failover planned", docs/failover.md "Planned
 * failover"): the VM shut down, its last changes sent, the Replica told to
 * fail over to them, start the VM and reverse replication. A daemon job
 * followed here; `--dry-run` says in plain words what would happen.
 */
import { Command, Option } from 'commander'
import type { JobInfo, LocalBox, PlannedInfo } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { jsonOption, progressOption } from './common-options.ts'
import { formatBytes, summaryText } from './format.ts'
import { followJob } from './job-follow.ts'
import { parseDuration } from './option-values.ts'
import { Session, withSession } from './session.ts'

interface Opts { data: string, json?: boolean, progress?: boolean, dryRun?: boolean, force?: boolean, timeout?: number }

export function plannedCommand (box: LocalBox): Command {
  return new Command('planned')
    .description('on the primary, with nothing lost: shut the VM down, send its last changes, and have the Replica start it and replicate back (only changed blocks); a failure says what to run next')
    .argument('<name>', 'the VM\'s name or the relationship id')
    .addOption(new Option('--force', 'power the VM off if its guest does not shut down within the window (else the planned failover is refused, and nothing changed)'))
    .addOption(new Option('--timeout <duration>', 'the guest\'s window to shut down: 1s to 1h (default 5m)').argParser(parseDuration))
    .addOption(new Option('--dry-run', 'say what would happen, and do nothing'))
    .addOption(progressOption())
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem failover planned web --dry-run', 'tandem failover planned web', 'tandem failover planned web --timeout 10m --force']))
    .action(async (name: string, opts: Opts) => {
      const service = await box.connect(dataPath(opts.data))
      const request = { ...(opts.force === true ? { force: true } : {}), ...(opts.timeout === undefined ? {} : { timeoutMs: opts.timeout }) }
      if (opts.dryRun === true) {
        new Session(opts).output(await service.failoverPlannedPlan(name, request), summaryText)
        return
      }
      await withSession(opts, async session => {
        const job = await followJob(service, await service.failoverPlanned(name, request), session)
        session.output(job, (j: JobInfo) => plannedText(j.planned!))
      })
    })
}

/** A planned failover in words. Pure. */
export function plannedText (p: PlannedInfo): string {
  const t = p.timings
  return [
    `planned failover of ${p.vm}: ${p.replica} took it at term ${p.term} (final point ${p.point.root.slice(0, 12)}, ${p.point.time})`,
    `  shut down in ${t.shutdownMs ?? 0} ms, last cycle ${formatBytes(p.bytesSent)} in ${t.finalCycleMs ?? 0} ms, handover in ${t.handoverMs ?? 0} ms`,
    `  ${p.replica} starts ${p.vm} and reverses replication: this box becomes its Replica (tandem replication status ${p.vm})`
  ].join('\n')
}
