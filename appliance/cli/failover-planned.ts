/**
 * `tandem failover planned NAME`: planned failover, on the primary
 * (docs/cli.md "tandem failover planned", docs/failover.md "Planned
 * failover"): the VM shut down, its last changes sent, the Replica told to
 * fail over to them, start the VM and reverse replication. A daemon job
 * followed here; `--dry-run` says in plain words what would happen.
 */
import { Command, Option } from 'commander'
import type { JobInfo, LocalBox, PlannedInfo, PlannedPlanInfo } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { jsonOption, progressOption } from './common-options.ts'
import { formatBytes } from './format.ts'
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
        new Session(opts).output(await service.failoverPlannedPlan(name, request), plannedPlanText)
        return
      }
      await withSession(opts, async session => {
        const job = await followJob(service, await service.failoverPlanned(name, request), session)
        session.output(job, (j: JobInfo) => plannedText(j.planned!))
      })
    })
}

/** What a planned failover (or its cancel on the primary) would do, in plain words. Pure. */
export function plannedPlanText (p: PlannedPlanInfo): string {
  if (p.action === 'cancel') return plannedCancelText(p)
  const down = p.shutdown === 'manual'
    ? `  - check that no process holds the disks of ${p.vm} (a manual VM: shut it down in its own hypervisor first)`
    : p.shutdown === 'stopped'
      ? `  - find ${p.vm} stopped already (${p.vmState})`
      : `  - shut ${p.vm} down through its guest agent or ACPI, waiting up to ${Math.round(p.shutdownWindowMs / 1000)} s; ${p.force ? 'then power it off' : 'then give up, with nothing changed (add --force to power it off)'}`
  return [
    `dry run: nothing was done. \`tandem failover planned ${p.vm}\` would:`,
    ...(p.resumes ? [`  - go on where the last attempt stopped: ${p.vm} is prepared already, its last changes are on ${p.replica}`] : [
      down,
      `  - send its last changes to ${p.replica} (the stopped disks: the point is exact; the last point there is of ${p.lastPointTime ?? 'never'})`
    ]),
    `  - have ${p.replica} fail over to that point at term ${p.termAfter}, start ${p.vm}, copy its data into its own disks, and replicate it back to this box, sending only changed blocks`,
    '  - lose nothing: every write of the VM is in that point'
  ].join('\n')
}

function plannedCancelText (p: PlannedPlanInfo): string {
  const vm = p.driver === 'manual'
    ? `  - leave ${p.vm} to you: a manual VM runs in its own hypervisor (start it there again)`
    : p.startsVm
      ? `  - start ${p.vm} again here (it is ${p.vmState})`
      : `  - leave ${p.vm} as it is (${p.vmState})`
  return [
    `dry run: nothing was done. \`tandem failover cancel ${p.vm}\` would:`,
    `  - give up the planned failover of ${p.vm} to ${p.replica} (${p.state}) and replicate again from this box at term ${p.term}, on its schedule`,
    vm,
    `  - lose nothing: ${p.replica} keeps its recovery points, the last changes sent included`,
    `  - if ${p.replica} took the failover after all (its answer lost on the way), its term ${p.termAfter} wins: this box's next cycle is refused, and what ${p.vm} writes here from now on is set aside as a salvage copy when ${p.replica} reverses replication`
  ].join('\n')
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
