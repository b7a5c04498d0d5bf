/**
 * `tandem failover test | stop-test | drill-schedule`: test failovers and
 * drills on the Replica, through its daemon (and `unplanned | complete |
 * cancel`: failover-unplanned.ts) (docs/cli.md "tandem
 * failover", docs/failover.md "Test failover"). `test --check` is a drill:
 * a daemon job followed here (Ctrl-C cancels it, and its test VM is
 * stopped). `--dry-run` says in words what would happen, and starts nothing.
 */
import { Command, Option } from 'commander'
import {
  AppError, AppErrorCode, durationText, signText,
  type DrillSettingsInfo, type DrillSignInfo, type JobInfo, type LocalBox, type TestFailoverInfo, type TestStopResult
} from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { jsonOption, progressOption } from './common-options.ts'
import { summaryText } from './format.ts'
import { cancelCommand, completeCommand, unplannedCommand } from './failover-unplanned.ts'
import { plannedCommand } from './failover-planned.ts'
import { followJob } from './job-follow.ts'
import { parseDuration, parsePoint, type PointSelector } from './option-values.ts'
import { Session, withSession } from './session.ts'

interface SignOpts { serial?: string, agent?: boolean, timeout?: number }
interface TestOpts extends SignOpts { data: string, json?: boolean, progress?: boolean, point: PointSelector, check?: boolean, dryRun?: boolean }

export function failoverCommand (box: LocalBox): Command {
  return new Command('failover')
    .description('on the Replica: test failovers (a throw-away VM on a recovery point, on an isolated network, while replication continues), drills, and unplanned failover (then complete or cancel); on the primary: planned failover')
    .addHelpText('after', examples([
      'tandem failover test web --dry-run',
      'tandem failover test web --point 41',
      'tandem failover stop-test web',
      'tandem failover test web --check --serial "login: "',
      'tandem failover drill-schedule web --every 7d --agent',
      'tandem failover unplanned web --dry-run',
      'tandem failover complete web --yes',
      'tandem failover planned web --dry-run'
    ]))
    .addCommand(testCommand(box))
    .addCommand(stopTestCommand(box))
    .addCommand(drillScheduleCommand(box))
    .addCommand(unplannedCommand(box))
    .addCommand(completeCommand(box))
    .addCommand(cancelCommand(box))
    .addCommand(plannedCommand(box))
}

/** `--serial` and `--agent` name the sign of life; one of them at most. */
function signOf (opts: SignOpts): DrillSignInfo | undefined {
  if (opts.serial !== undefined && opts.agent === true) throw new AppError(AppErrorCode.APP_USAGE, 'give --serial PATTERN or --agent, not both')
  if (opts.serial !== undefined) return { kind: 'serial', pattern: opts.serial }
  return opts.agent === true ? { kind: 'agent' } : undefined
}

function signOptions (command: Command): Command {
  return command
    .addOption(new Option('--serial <pattern>', 'sign of life: a serial console line matching this regular expression (e.g. "login: ")'))
    .addOption(new Option('--agent', 'sign of life: the guest agent answering'))
}

function testCommand (box: LocalBox): Command {
  return signOptions(new Command('test')
    .description('start a test failover: the recovery point (latest by default) served read-only, and the VM <name>-test on it with its NICs on an isolated network; replication goes on. With --check, a drill: wait for a sign of life, take a screenshot, stop, and mark the point proven')
    .argument('<name>', 'the protected VM\'s name or the relationship id (a relationship held here as Replica)')
    .addOption(new Option('--point <id|latest>', 'the recovery point (tandem points NAME lists them)').argParser(parsePoint).default('latest'))
    .addOption(new Option('--check', 'a drill: boot, wait for the sign of life, screenshot, stop; the point is marked proven')))
    .addOption(new Option('--timeout <duration>', 'with --check: how long to wait for the sign of life (default: the drill settings\', 5m at first)').argParser(parseDuration))
    .addOption(new Option('--dry-run', 'say what would happen, and start nothing'))
    .addOption(progressOption())
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples([
      'tandem failover test web                      # the latest point',
      'tandem failover test web --point 41 --dry-run',
      'tandem failover test web --check --serial "^web login: " --timeout 2m'
    ]))
    .action(async (name: string, opts: TestOpts) => {
      const point = opts.point === 'latest' ? {} : { point: opts.point }
      const sign = signOf(opts)
      const check = { ...(sign === undefined ? {} : { sign }), ...(opts.timeout === undefined ? {} : { timeoutMs: opts.timeout }) }
      if (opts.check !== true && (sign !== undefined || opts.timeout !== undefined)) throw new AppError(AppErrorCode.APP_USAGE, '--serial, --agent and --timeout go with --check')
      const service = await box.connect(dataPath(opts.data))
      if (opts.dryRun === true) {
        const plan = await service.failoverTestPlan(name, { ...point, ...(opts.check === true ? { check: true, ...check } : {}) })
        new Session(opts).output(plan, summaryText)
        return
      }
      if (opts.check !== true) {
        new Session(opts).output(await service.failoverTest(name, point), testText)
        return
      }
      await withSession(opts, async session => {
        const job = await followJob(service, await service.failoverDrill(name, { ...point, ...check }), session)
        session.output(job, drillText)
      })
    })
}

function stopTestCommand (box: LocalBox): Command {
  return new Command('stop-test')
    .description('stop the test failover: its VM, overlays and run directory are removed, the point is no longer served; nothing is left')
    .argument('<name>', 'the protected VM\'s name or the relationship id')
    .addOption(new Option('--dry-run', 'say what would happen, and stop nothing'))
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem failover stop-test web --dry-run', 'tandem failover stop-test web']))
    .action(async (name: string, opts: { data: string, json?: boolean, dryRun?: boolean }) => {
      const service = await box.connect(dataPath(opts.data))
      if (opts.dryRun === true) {
        new Session(opts).output(await service.failoverStopTestPlan(name), summaryText)
        return
      }
      new Session(opts).output(await service.failoverStopTest(name), stopText)
    })
}

function drillScheduleCommand (box: LocalBox): Command {
  return signOptions(new Command('drill-schedule')
    .description('set the drill settings of a relationship held here as Replica: a drill of the latest point every DURATION (or off), and its sign of life and time limit')
    .argument('<name>', 'the protected VM\'s name or the relationship id')
    .requiredOption('--every <duration|off>', 'time between drills, 1h to 90d (7d: weekly), or off')
    .option('--timeout <duration>', 'how long a drill waits for the sign of life (1s to 1h; 5m at first)'))
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples([
      'tandem failover drill-schedule web --every 7d --agent',
      'tandem failover drill-schedule web --every 1d --serial "^web login: " --timeout 10m',
      'tandem failover drill-schedule web --every off'
    ]))
    .action(async (name: string, opts: SignOpts & { every: string, timeout?: string, data: string, json?: boolean }) => {
      const sign = signOf(opts)
      const info = await (await box.connect(dataPath(opts.data))).failoverDrillSchedule(name, {
        every: opts.every,
        ...(sign === undefined ? {} : { sign }),
        ...(opts.timeout === undefined ? {} : { timeout: opts.timeout })
      })
      new Session(opts).output(info, drillSettingsText)
    })
}

const ms = (v: number | null): string => v === null ? '-' : `${v} ms`

/** A running test in words. Pure. */
export function testText (t: TestFailoverInfo): string {
  const p = t.point
  const head = t.testVm === null
    ? `test failover of ${t.vm}: point ${p.id} (${p.time}, ${p.consistency}-consistent) is served; no VM runs here: ${t.note ?? ''}`
    : `test failover of ${t.vm}: ${t.testVm} (${t.state ?? 'unknown'}) runs on point ${p.id} (${p.time}, ${p.consistency}-consistent), its NICs on an isolated network`
  return [
    head,
    `  served in ${t.timings.serveMs} ms${t.timings.startMs === null ? '' : `, overlays in ${ms(t.timings.overlayMs)}, QEMU running in ${ms(t.timings.startMs)}`}`,
    ...t.disks.map(d => `  disk ${d.name}  ${d.uri}`),
    `replication continues, and point ${p.id} is kept while the test runs; \`tandem failover stop-test ${t.vm}\` discards it`
  ].join('\n')
}

function stopText (r: TestStopResult): string {
  return `test failover of ${r.vm} stopped: ${r.testVm === null ? '' : `${r.testVm} and its overlays are gone, `}point ${r.point} is no longer served`
}

/** A successful drill in words. Pure. */
export function drillText (job: JobInfo): string {
  const d = job.drill!
  return [
    `point ${d.point} of ${d.vm} proven: ${d.reason}`,
    `  sign of life after ${d.proof.signOfLifeMs} ms; screenshot ${d.proof.screenshot}`,
    `  root ${d.root}`
  ].join('\n')
}

function drillSettingsText (s: DrillSettingsInfo): string {
  const when = s.everyMs === null ? 'no schedule: drills run when asked (`tandem failover test --check`)' : `a drill of the latest point every ${durationText(s.everyMs)}, next at ${s.nextAt ?? '-'}`
  return `drills of ${s.vm}: ${when}; sign of life: ${signText(s.sign)} within ${durationText(s.timeoutMs)}`
}
