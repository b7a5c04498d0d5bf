/**
 * The `tandem` command line: the program definition and the one place where
 * errors are reported, with the exit statuses of exit-status.ts
 * (docs/errors.md, docs/cli.md). The composition root (bin/cli-main.ts)
 * runs `main` with the LocalBox that reaches the daemon; this folder never
 * knows how the daemon or its API are built. The process ends by itself
 * once a command is done, because every command releases its store,
 * threads and sockets.
 */
import { Command } from 'commander'
import { readFileSync } from 'node:fs'
import { AppErrorCode, type LocalBox } from '../service/index.ts'
import { completionCommand } from './completion.ts'
import { consoleCommand } from './console.ts'
import { eventsCommand } from './events.ts'
import { salvageCommand } from './salvage.ts'
import { failoverCommand } from './failover.ts'
import { classify, EXIT_OK } from './exit-status.ts'
import { imageCommand } from './image.ts'
import { initCommand } from './init.ts'
import { pairCommand } from './pair.ts'
import { replicationCommand } from './replication.ts'
import { pointsCommand } from './points.ts'
import { pruneCommand } from './prune.ts'
import { replicateCommand } from './replicate.ts'
import { restoreCommand } from './restore.ts'
import { seedCommand } from './seed.ts'
import { startCommand } from './start.ts'
import { statusCommand } from './status.ts'
import { storeCommand } from './store.ts'
import { verifyCommand } from './verify.ts'
import { vmCommand } from './vm.ts'

/** Set to print the stack of unexpected errors. */
const DEBUG_ENV = 'TANDEM_DEBUG'

/** The project's version (package.json). */
export function version (): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
}

/**
 * The commands in two groups on one help page: the box's (through its
 * daemon, `--data`) and the offline tools that work on a bare store
 * (`--store`).
 */
export function buildProgram (box: LocalBox): Command {
  const program = new Command('tandem')
    .description('Tandem: a box replicates VMs to a paired box (daemon commands, --data DIR); offline tools work on a bare store (--store DIR)')
    .version(version())
    .commandsGroup('Box commands (talk to the daemon of --data DIR / TANDEM_DATA):')
    .addCommand(initCommand(box))
    .addCommand(startCommand(box))
    .addCommand(statusCommand(box))
    .addCommand(consoleCommand(box))
    .addCommand(pairCommand(box))
    .addCommand(eventsCommand(box))
    .addCommand(replicationCommand(box))
    .addCommand(vmCommand(box))
    .addCommand(failoverCommand(box))
    .addCommand(salvageCommand(box))
    .commandsGroup('Offline tools (work on a bare store, --store DIR / TANDEM_STORE):')
    .addCommand(replicateCommand())
    .addCommand(pointsCommand(box))
    .addCommand(restoreCommand())
    .addCommand(verifyCommand())
    .addCommand(pruneCommand())
    .addCommand(seedCommand(box))
    .addCommand(imageCommand())
    .addCommand(storeCommand())
  program.addCommand(completionCommand(() => program))
  reportErrorsHere(program)
  return program
}

/** Commander throws instead of exiting and stays silent on errors: `main` reports them, in our format. */
function reportErrorsHere (command: Command): void {
  command.exitOverride()
  command.configureOutput({ outputError: () => {} })
  for (const sub of command.commands) reportErrorsHere(sub)
}

/** Runs the CLI on `argv` (node-style: program and script first) and returns the exit status. */
export async function main (argv: string[], box: LocalBox, stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    await buildProgram(box).parseAsync(argv)
    return EXIT_OK
  } catch (err) {
    const { status, code, message } = classify(err)
    if (status !== EXIT_OK) stderr.write(`error ${code}: ${message}\n`)
    if (code === AppErrorCode.APP_UNEXPECTED && process.env[DEBUG_ENV] === '1') stderr.write(`${(err as Error).stack ?? ''}\n`)
    return status
  }
}
