/**
 * The box commands' `--help` pages carry examples, and `tandem --help`
 * shows both kinds of commands (box commands and offline tools) on one page.
 */
import t from 'tap'
import type { Command } from 'commander'
import { buildProgram } from '../../appliance/cli/main.ts'
import type { LocalBox } from '../../appliance/service/index.ts'

const unused = async (): Promise<never> => { throw new Error('not called by --help') }
const box: LocalBox = { init: unused, run: unused, connect: unused, offlineStatus: unused }

function help (command: Command): string {
  let text = ''
  command.configureOutput({ writeOut: s => { text += s } })
  command.outputHelp()
  return text
}

function find (program: Command, path: string[]): Command {
  let c = program
  for (const name of path) c = c.commands.find(x => x.name() === name)!
  return c
}

t.test('every box command has examples', async t => {
  const program = buildProgram(box)
  for (const path of [['init'], ['start'], ['status'], ['pair'], ['pair', 'open'], ['pair', 'join'], ['pair', 'list'], ['pair', 'remove'], ['events'], ['points'],
    ['replication'], ...['enable', 'status', 'measure', 'suspend', 'resume', 'resync', 'remove'].map(c => ['replication', c]),
    ['vm'], ['vm', 'add'], ['vm', 'list'], ['vm', 'start'], ['vm', 'stop'], ['vm', 'remove']]) {
    const text = help(find(program, path))
    t.match(text, /Examples:\n {2}\$ tandem /, `tandem ${path.join(' ')} --help`)
    t.match(text, path.length === 1 && (path[0] === 'pair' || path[0] === 'replication' || path[0] === 'vm') ? /open|enable|add/ : /--data <dir>/, `tandem ${path.join(' ')} --help names its options`)
  }
})

t.test('one help page shows both kinds of commands', async t => {
  const text = help(buildProgram(box))
  t.match(text, /Box commands[^\n]*\n(?:.*\n)*? {2}init/)
  t.match(text, /Offline tools[^\n]*\n(?:.*\n)*? {2}replicate/)
})

t.test('tandem points --help explains both ways: NAME from the daemon, --store offline', async t => {
  const text = help(find(buildProgram(box), ['points']))
  t.match(text, /\[name\]/)
  t.match(text, /--store <dir>/)
  t.match(text, /--data <dir>/)
  t.match(text, /tandem points web/)
  t.match(text, /tandem points --store/)
})
