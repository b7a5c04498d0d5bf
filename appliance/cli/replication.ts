/**
 * `tandem replication enable | set | status | measure | suspend | resume | resync
 * | remove | reverse`: replication of this box's VMs to a paired box, through the
 * daemon (docs/cli.md "tandem replication"). Settings are sent as typed
 * and parsed by the daemon (APP_SETTING_INVALID names the bad one).
 * `remove` ends the protection of the VM: it needs `--yes` (the Replica
 * keeps its recovery points, but no new ones come).
 */
import { Command } from 'commander'
import { resolve } from 'node:path'
import {
  AppError, AppErrorCode, durationText, rateText, type CycleProgressInfo,
  type LocalBox, type ReplicaStatusInfo, type ReplicationEnableRequest, type ReplicationInfo, type ReplicationMeasureInfo,
  type ReplicationSettingsInfo, type ReplicationUpdateRequest
} from '../service/index.ts'
import { dataOption, dataPath, examples, yesOption } from './box-options.ts'
import { jsonOption, progressOption } from './common-options.ts'
import { followJob } from './job-follow.ts'
import { peerLabel, peerNames, type PeerNames } from './format.ts'
import { replicaStatusText } from './replica-status-text.ts'
import { reverseCommand } from './reverse.ts'
import { seedExportText } from './seed.ts'
import { Session, withSession } from './session.ts'

interface Opts { data: string, json?: boolean }

export function replicationCommand (box: LocalBox): Command {
  return new Command('replication')
    .description('replicate a VM of this box to a paired box: enable, set, status, measure, suspend, resume, resync, remove, reverse')
    .addHelpText('after', examples([
      'tandem replication enable web1 --to replica-box --frequency 30s',
      'tandem replication status',
      'tandem replication measure web1 --json'
    ]))
    .addCommand(enableCommand(box))
    .addCommand(setCommand(box))
    .addCommand(statusCommand(box))
    .addCommand(measureCommand(box))
    .addCommand(changeCommand(box, 'suspend', 'stop starting cycles (one in flight finishes) until resume', (s, n) => s.replicationSuspend(n)))
    .addCommand(changeCommand(box, 'resume', 'start cycles again (a resynchronization first if tracking was lost meanwhile)', (s, n) => s.replicationResume(n)))
    .addCommand(changeCommand(box, 'resync', 'compare every block with the Replica\'s copy and send those that differ (recovery points are kept)', (s, n) => s.replicationResync(n)))
    .addCommand(removeCommand(box))
    .addCommand(reverseCommand(box))
}

/** The settings options of `enable` and `set` (docs/relationships.md#settings); `defaults`: each one's default in its help (enable). */
function settingsOptions (command: Command, defaults: boolean): Command {
  const d = (text: string): string => defaults ? ` (${text})` : ''
  return command
    .option('--frequency <every>', `time between cycles: 30s, 5m, 15m, continuous, or any duration from 1s to 1h${d('default 5m')}`)
    .option('--recovery-points <n>', `additional hourly recovery points kept besides the latest${d('default 24')}`)
    .option('--app-consistent-every <duration>', `freeze the guest for an app-consistent point this often (1m to 1d), or none${d('default')}`)
    .option('--bandwidth <rate>', `bytes per second this relationship may send: 500k, 10M, 1G, 64Ki..., or none${d('default')}`)
}

function enableCommand (box: LocalBox): Command {
  const command = new Command('enable')
    .description('protect a VM of the inventory on a paired box: the Replica records it, then cycles run at the frequency')
    .argument('<name>', 'the VM\'s name (see tandem vm list)')
    .requiredOption('--to <peer>', 'the paired box: its name or peer id (see tandem pair list)')
  return settingsOptions(command, true)
    .option('--initial <how>', 'initial replication: now (default), at:TIME (ISO 8601 with a zone), existing (only blocks that differ from a copy on the Replica), seed:PATH (write a seed file to carry to the Replica: tandem seed import there)')
    .addOption(progressOption())
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples([
      'tandem replication enable web1 --to replica-box',
      'tandem replication enable web1 --to replica-box --frequency 30s --recovery-points 4 --bandwidth 10M',
      'tandem replication enable db1 --to 12D3KooW... --app-consistent-every 1h --initial at:2026-12-08T02:00:00Z',
      'tandem replication enable files --to replica-box --initial seed:/mnt/usb/files.seed'
    ]))
    .action(async (name: string, opts: Opts & { to: string, frequency?: string, recoveryPoints?: string, appConsistentEvery?: string, bandwidth?: string, initial?: string }) => {
      const request: ReplicationEnableRequest = { to: opts.to }
      for (const k of ['frequency', 'recoveryPoints', 'appConsistentEvery', 'bandwidth', 'initial'] as const) if (opts[k] !== undefined) request[k] = opts[k]
      // A seed path relative to where the operator stands, as every other path of the CLI.
      if (request.initial?.startsWith('seed:') === true && request.initial.length > 5) request.initial = `seed:${resolve(request.initial.slice(5))}`
      const service = await box.connect(dataPath(opts.data))
      const info = await service.replicationEnable(name, request)
      const names = await peerNames(service, opts)
      const enabled = `replication of ${info.vm} to ${peerLabel(info.peer, names)} enabled\n${statusText([info], names)}`
      if (info.seedExportJob === null) {
        new Session(opts).output(info, () => enabled)
        return
      }
      // The relationship stands; its seed is written now (Ctrl-C cancels the export: \`tandem seed export\` runs it again).
      if (!opts.json) process.stdout.write(`${enabled}\nwriting the seed...\n`)
      await withSession(opts, async session => {
        const job = await followJob(service, await service.job(info.seedExportJob!), session)
        session.output(opts.json === true ? { ...info, seedExport: job.seedExport } : job, () => seedExportText(job))
      })
    })
}

function setCommand (box: LocalBox): Command {
  const command = new Command('set')
    .description('change the settings of a protected VM, on its primary: a new frequency re-times the next cycle at once, the bandwidth limit and app-consistent interval apply from the next cycle, the Replica keeps the new number of recovery points')
    .argument('<name>', 'the VM\'s name')
  return settingsOptions(command, false)
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples([
      'tandem replication set web1 --bandwidth 10M',
      'tandem replication set web1 --frequency 30s --bandwidth none',
      'tandem replication set db1 --app-consistent-every 1h --recovery-points 48'
    ]))
    .action(async (name: string, opts: Opts & ReplicationUpdateRequest) => {
      const request: ReplicationUpdateRequest = {}
      for (const k of ['frequency', 'recoveryPoints', 'appConsistentEvery', 'bandwidth'] as const) if (opts[k] !== undefined) request[k] = opts[k]
      if (Object.keys(request).length === 0) throw new AppError(AppErrorCode.APP_USAGE, 'nothing to change: give --frequency, --recovery-points, --app-consistent-every or --bandwidth')
      const service = await box.connect(dataPath(opts.data))
      const info = await service.replicationUpdate(name, request)
      const names = await peerNames(service, opts)
      new Session(opts).output(info, i => `replication settings of ${i.vm} changed: ${settingsText(i.settings)}\n${statusText([i], names)}`)
    })
}

/** `frequency 30 s, 24 recovery points, app-consistent none, bandwidth 10 MB/s`: the settings in words. Pure. */
export function settingsText (s: ReplicationSettingsInfo): string {
  const frequency = s.frequency === 'continuous' ? 'continuous' : durationText(s.frequency)
  const app = s.appConsistentEvery === null ? 'none' : `every ${durationText(s.appConsistentEvery)}`
  const bandwidth = s.bandwidth === null ? 'no limit' : rateText(s.bandwidth)
  return `frequency ${frequency}, ${s.recoveryPoints} recovery points, app-consistent ${app}, bandwidth ${bandwidth}`
}

function statusCommand (box: LocalBox): Command {
  return new Command('status')
    .description('state, health and figures of every relationship (those this box is the primary of, then those it holds as Replica), or of one VM\'s')
    .argument('[name]', 'the VM\'s name')
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem replication status', 'tandem replication status web1 --json']))
    .action(async (name: string | undefined, opts: Opts) => {
      const service = await box.connect(dataPath(opts.data))
      const [primary, replica, names] = await Promise.all([service.replicationStatus(), service.replicaStatus(), peerNames(service, opts)])
      const result = name === undefined ? { primary, replica } : selectStatus({ primary, replica }, name)
      new Session(opts).output(result, s => boxStatusText(s, names))
    })
}

/** `replication status --json`: the relationships this box is the primary of, and those it holds as Replica (docs/cli.md). */
export interface BoxReplicationStatus {
  primary: ReplicationInfo[]
  replica: ReplicaStatusInfo[]
}

/** Only VM (or relationship) `name`'s entries; APP_RELATIONSHIP_NOT_FOUND when it has none on this box. Pure. */
export function selectStatus (all: BoxReplicationStatus, name: string): BoxReplicationStatus {
  const named = (e: { vm: string, relationship: string }): boolean => e.vm === name || e.relationship === name
  const out = { primary: all.primary.filter(named), replica: all.replica.filter(named) }
  if (out.primary.length + out.replica.length === 0) throw new AppError(AppErrorCode.APP_RELATIONSHIP_NOT_FOUND, `VM ${name} has no replication relationship on this box`)
  return out
}

/** Both lists in words: the primary's relationships, then the Replica's (the latter only when there are any, or when there is nothing at all). */
export function boxStatusText (s: BoxReplicationStatus, names?: PeerNames): string {
  if (s.primary.length === 0 && s.replica.length === 0) return 'no replication relationships'
  return [
    ...(s.primary.length === 0 ? [] : [statusText(s.primary, names)]),
    ...(s.replica.length === 0 ? [] : [replicaStatusText(s.replica, names)])
  ].join('\n')
}

function measureCommand (box: LocalBox): Command {
  return new Command('measure')
    .description('the monitoring window\'s figures (Measure-VMReplication\'s): successes, misses, latency, size, failures')
    .argument('<name>', 'the VM\'s name')
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem replication measure web1', 'tandem replication measure web1 --json']))
    .action(async (name: string, opts: Opts) => {
      const m = await (await box.connect(dataPath(opts.data))).replicationMeasure(name)
      new Session(opts).output(m, measureText)
    })
}

function changeCommand (box: LocalBox, verb: 'suspend' | 'resume' | 'resync', description: string, call: (s: Awaited<ReturnType<LocalBox['connect']>>, name: string) => Promise<ReplicationInfo>): Command {
  return new Command(verb)
    .description(description)
    .argument('<name>', 'the VM\'s name')
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples([`tandem replication ${verb} web1`]))
    .action(async (name: string, opts: Opts) => {
      const service = await box.connect(dataPath(opts.data))
      const info = await call(service, name)
      const names = await peerNames(service, opts)
      new Session(opts).output(info, i => statusText([i], names))
    })
}

function removeCommand (box: LocalBox): Command {
  return new Command('remove')
    .description('stop protecting a VM (needs --yes): this box forgets the relationship; the Replica keeps its recovery points')
    .argument('<name>', 'the VM\'s name')
    .addOption(dataOption())
    .addOption(yesOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem replication remove web1 --yes']))
    .action(async (name: string, opts: Opts & { yes?: boolean }) => {
      if (opts.yes !== true) throw new AppError(AppErrorCode.APP_CONFIRMATION_REQUIRED, `removing replication of ${name} ends its protection: no new recovery points; add --yes to confirm`)
      const r = await (await box.connect(dataPath(opts.data))).replicationRemove(name)
      new Session(opts).output(r, x => `replication of ${x.vm} removed${x.replicaTold ? '' : ' (the Replica could not be told now; it keeps its recovery points)'}`)
    })
}

const ms = (v: number | null): string => v === null ? '-' : v < 1000 ? `${Math.round(v)} ms` : `${(v / 1000).toFixed(1)} s`
/** Pending bytes: `unknown` when the VM's driver cannot tell (no change tracking, or not running). */
const pending = (bytes: number | null): string => `${bytes === null ? 'unknown' : `${bytes} B`} pending`

export function statusText (list: ReplicationInfo[], names?: PeerNames): string {
  if (list.length === 0) return 'no replication relationships'
  return list.map(i => [
    `${i.vm}  ${i.role} → ${peerLabel(i.peer, names)}`,
    `  state     ${i.state}: ${i.stateReason}`,
    `  health    ${i.health}: ${i.reason}`,
    `  last      ${i.lastReplicationTime ?? 'never'}`,
    `  RPO       ${ms(i.achievedRpo.currentMs)} now, ${ms(i.achievedRpo.worstMs)} at worst, target ${ms(i.achievedRpo.targetMs)}${i.achievedRpo.met ? '' : ' (missed)'}`,
    `  at risk   ${i.dataAtRisk.seconds === null ? '-' : `${i.dataAtRisk.seconds.toFixed(0)} s`} of writes, ${pending(i.dataAtRisk.bytes)}`,
    `  forecast  ${i.forecast.message}`,
    `  next      ${i.running ? 'running now' : i.nextCycleAt ?? '-'}`,
    ...(i.progress === null ? [] : [`  progress  ${progressText(i.progress)}`])
  ].join('\n')).join('\n')
}

/** `send disk0  42%  215.0/512.0 MiB, about 3 min left` (the ETA once a rate is known); `starting` before the first bytes. */
export function progressText (p: CycleProgressInfo): string {
  if (p.bytesTotal === 0) return p.phase
  const percent = Math.min(100, Math.floor(p.bytesDone * 100 / p.bytesTotal))
  const left = p.etaMs === null ? '' : `, about ${durationText(p.etaMs)} left`
  return `${p.phase}  ${percent}%  ${(p.bytesDone / MiB).toFixed(1)}/${(p.bytesTotal / MiB).toFixed(1)} MiB${left}`
}

const MiB = 1024 * 1024

export function measureText (m: ReplicationMeasureInfo): string {
  return [
    `${m.vm}  ${m.windowStart} → ${m.windowEnd}`,
    `  successes ${m.successCount}, misses ${m.missCount}`,
    `  latency   ${ms(m.averageLatencyMs)} average, ${ms(m.maxLatencyMs)} max`,
    `  size      ${m.averageSizeBytes === null ? '-' : Math.round(m.averageSizeBytes)} B average, ${m.maxSizeBytes ?? '-'} B max, ${pending(m.pendingSizeBytes)}`,
    `  failures  ${m.networkFailureCount} network, ${m.replicationFailureCount} replication, ${m.appConsistentFailureCount} app-consistent`,
    `  last      ${m.lastReplicationTime ?? 'never'}`
  ].join('\n')
}
