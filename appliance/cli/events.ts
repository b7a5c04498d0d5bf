/**
 * `tandem events [NAME] [--last N] [--json]`: the box's event log from the
 * daemon, oldest first so the newest is last (docs/cli.md "events").
 */
import { Command, InvalidArgumentError, Option } from 'commander'
import { DEFAULT_EVENTS_SHOWN, MAX_EVENTS_SHOWN, type EventInfo, type EventsResult, type LocalBox } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { jsonOption } from './common-options.ts'
import { Session } from './session.ts'

/** `--last`: a whole number from 1 to MAX_EVENTS_SHOWN. */
function parseLast (text: string): number {
  const n = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN
  if (!(n >= 1 && n <= MAX_EVENTS_SHOWN)) throw new InvalidArgumentError(`expected a whole number from 1 to ${MAX_EVENTS_SHOWN}`)
  return n
}

export function eventsCommand (box: LocalBox): Command {
  return new Command('events')
    .description('show the event log, newest last: state changes, cycles, relationships offered, points received (all, or one VM\'s or relationship\'s)')
    .argument('[name]', 'a VM name or relationship id: only its events')
    .addOption(new Option('--last <N>', `only the newest N events (1-${MAX_EVENTS_SHOWN})`).argParser(parseLast).default(DEFAULT_EVENTS_SHOWN))
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem events', 'tandem events web --last 20', 'tandem events web --json']))
    .action(async (name: string | undefined, opts: { data: string, json?: boolean, last: number }) => {
      const service = await box.connect(dataPath(opts.data))
      const result = await service.listEvents({ ...(name === undefined ? {} : { name }), last: opts.last })
      new Session(opts).output(result, eventsText)
    })
}

function eventLine (e: EventInfo): string {
  const about = e.vm ?? e.relationship
  const phase = e.phase === undefined ? '' : e.phase === 'end' ? ` end(${e.outcome ?? ''})` : ' begin'
  return `${e.time}  ${String(e.seq).padStart(5)}  ${about === undefined ? '' : `${about}  `}${e.kind}${phase}  ${e.reason}${e.code === undefined ? '' : `  [${e.code}]`}`
}

function eventsText (r: EventsResult): string {
  const lines = r.events.length === 0 ? ['no events'] : r.events.map(eventLine)
  if (r.problems > 0) lines.push(`(${r.problems} damaged line(s) of the log skipped)`)
  return lines.join('\n')
}
