/**
 * `tandem failover unplanned | complete | cancel`: unplanned failover on
 * the Replica alone, through its daemon (docs/cli.md "tandem failover
 * unplanned", docs/failover.md "Unplanned failover"). The failover and its
 * completion are daemon jobs followed here (Ctrl-C cancels them: a
 * failover being written is undone; a copy stops, and the failover waits
 * again). `--dry-run` says in words what would happen and what could be
 * lost, and does nothing; commands that lose data need `--yes`.
 */
import { Command, Option } from 'commander'
import type { FailoverCancelResult, FailoverInfo, JobInfo, LocalBox } from '../service/index.ts'
import { dataOption, dataPath, examples, yesOption } from './box-options.ts'
import { jsonOption, progressOption } from './common-options.ts'
import { summaryText } from './format.ts'
import { followJob } from './job-follow.ts'
import { parsePoint, type PointSelector } from './option-values.ts'
import { Session, withSession } from './session.ts'

interface RunOpts { data: string, json?: boolean, progress?: boolean, dryRun?: boolean, yes?: boolean }

const dryRunOption = (): Option => new Option('--dry-run', 'say what would happen and what could be lost, and do nothing')

export function unplannedCommand (box: LocalBox): Command {
  return new Command('unplanned')
    .description('fail over with the primary gone: start the VM here from a recovery point (latest by default), or write its disks as raw files when this box cannot run it; the old primary is refused from then on. Then complete or cancel')
    .argument('<name>', 'the protected VM\'s name or the relationship id (a relationship held here as Replica)')
    .addOption(new Option('--point <id|latest>', 'the recovery point (tandem points NAME lists them); an older one than the latest needs --yes').argParser(parsePoint).default('latest'))
    .addOption(yesOption())
    .addOption(dryRunOption())
    .addOption(progressOption())
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples([
      'tandem failover unplanned web --dry-run',
      'tandem failover unplanned web --yes',
      'tandem failover unplanned web --point 41 --yes'
    ]))
    .action(async (name: string, opts: RunOpts & { point: PointSelector }) => {
      const point = opts.point === 'latest' ? {} : { point: opts.point }
      const service = await box.connect(dataPath(opts.data))
      if (opts.dryRun === true) {
        new Session(opts).output(await service.failoverPlan(name, { action: 'unplanned', ...point }), summaryText)
        return
      }
      await withSession(opts, async session => {
        const job = await followJob(service, await service.failoverUnplanned(name, { ...point, ...(opts.yes === true ? { yes: true } : {}) }), session)
        session.output(job, j => failoverText(j.failover!))
      })
    })
}

export function completeCommand (box: LocalBox): Command {
  return new Command('complete')
    .description('keep the failover (needs --yes): the VM\'s data is copied into its own disks while it runs, then every other recovery point of the relationship is dropped (the failover\'s point is kept, the base of a later failback)')
    .argument('<name>', 'the protected VM\'s name or the relationship id')
    .addOption(new Option('--bandwidth <rate>', 'limit the copy, e.g. 50M (bytes per second)'))
    .addOption(yesOption())
    .addOption(dryRunOption())
    .addOption(progressOption())
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem failover complete web --dry-run', 'tandem failover complete web --yes', 'tandem failover complete web --yes --bandwidth 50M']))
    .action(async (name: string, opts: RunOpts & { bandwidth?: string }) => {
      const service = await box.connect(dataPath(opts.data))
      if (opts.dryRun === true) {
        new Session(opts).output(await service.failoverPlan(name, { action: 'complete' }), summaryText)
        return
      }
      await withSession(opts, async session => {
        const started = await service.failoverComplete(name, { ...(opts.yes === true ? { yes: true } : {}), ...(opts.bandwidth === undefined ? {} : { bandwidth: opts.bandwidth }) })
        const job = await followJob(service, started, session)
        session.output(job, completedText)
      })
    })
}

export function cancelCommand (box: LocalBox): Command {
  return new Command('cancel')
    .description('undo a failover that waits for completion: the VM stops and its overlays go (or its files), the point is no longer served, replication from the primary is taken again; no recovery point changes, and what the VM wrote since the failover is discarded. On the primary: give up a planned failover that stopped half-way, replicate again and start the VM again')
    .argument('<name>', 'the protected VM\'s name or the relationship id')
    .addOption(dryRunOption())
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem failover cancel web --dry-run', 'tandem failover cancel web']))
    .action(async (name: string, opts: RunOpts) => {
      const service = await box.connect(dataPath(opts.data))
      if (opts.dryRun === true) {
        // the daemon's cancel goes to the planned failover on the primary, to the failover on the Replica
        const primary = (await service.replicationStatus()).some(r => r.vm === name || r.relationship === name)
        if (primary) new Session(opts).output(await service.failoverPlannedPlan(name, { action: 'cancel' }), summaryText)
        else new Session(opts).output(await service.failoverPlan(name, { action: 'cancel' }), summaryText)
        return
      }
      new Session(opts).output(await service.failoverCancel(name), cancelText)
    })
}

/** A failover in words. Pure. */
export function failoverText (f: FailoverInfo): string {
  const t = f.timings
  const lines = [f.kind === 'vm'
    ? `failed over: ${f.vm} (${f.vmState ?? 'unknown'}) runs on this box from point ${f.point.id} (${f.point.time}), term ${f.term}`
    : `failed over: the disks of ${f.vm} are raw files of point ${f.point.id} (${f.point.time}), term ${f.term}; no VM runs here`]
  lines.push(f.kind === 'vm'
    ? `  term in ${t.termMs ?? 0} ms, served in ${t.serveMs ?? 0} ms, overlays in ${t.overlayMs ?? 0} ms, QEMU running in ${t.startMs ?? 0} ms`
    : `  term in ${t.termMs ?? 0} ms, files written in ${t.copyMs ?? 0} ms`)
  for (const d of f.disks) lines.push(`  disk ${d.name}  ${d.path}`)
  for (const n of f.nics) if (n.warning !== null) lines.push(`  warning: ${n.warning}`)
  lines.push(`the old primary is refused from now on; \`tandem failover complete ${f.vm} --yes\` keeps this, \`tandem failover cancel ${f.vm}\` undoes it`)
  return lines.join('\n')
}

function completedText (job: JobInfo): string {
  const f = job.failover!
  return `failover of ${f.vm} completed: ${f.kind === 'vm' ? `its disks are its own (${f.disks.map(d => d.path).join(', ')})` : `its disks are ${f.disks.map(d => d.path).join(', ')}`}; recovery point ${f.point.id} is the one kept; \`tandem vm list\` shows ${f.vm}`
}

function cancelText (r: FailoverCancelResult): string {
  if (r.kind === 'planned') return `planned failover of ${r.vm} cancelled: replicating again from this box at term ${r.term}${r.vmStarted === true ? `; ${r.vm} started again` : ''}`
  return `failover of ${r.vm} cancelled: ${r.kind === 'vm' ? 'the VM stopped and its overlays are gone' : 'its files are gone'}, point ${r.point} is no longer served; back to receiving replication at term ${r.term}; no recovery point changed`
}
