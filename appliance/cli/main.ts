/**
 * The `tandem` command line: the program definition and the one place where
 * errors become exit statuses (docs/errors.md, docs/cli.md):
 *
 *   0  success
 *   1  the operation failed          stderr: `error CODE: message`
 *   2  usage error (APP_USAGE)       bad arguments or options, commander's too
 *   3  verification found problems   (APP_VERIFY_FAILED), after the report
 *
 * The composition root (bin/cli-main.ts) runs `main` with the LocalBox
 * that reaches the daemon; this folder never knows how the daemon or its API
 * are built. The process ends by itself once a command is done, because
 * every command releases its store, threads and sockets.
 */
import { Command, CommanderError } from 'commander'
import { readFileSync } from 'node:fs'
import { AppErrorCode, errorCodeOf, type LocalBox } from '../service/index.ts'
import { imageCommand } from './image.ts'
import { initCommand } from './init.ts'
import { pairCommand } from './pair.ts'
import { pointsCommand } from './points.ts'
import { pruneCommand } from './prune.ts'
import { replicateCommand } from './replicate.ts'
import { restoreCommand } from './restore.ts'
import { seedCommand } from './seed.ts'
import { startCommand } from './start.ts'
import { statusCommand } from './status.ts'
import { storeCommand } from './store.ts'
import { verifyCommand } from './verify.ts'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2
export const EXIT_VERIFY_FAILED = 3

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
    .addCommand(pairCommand(box))
    .commandsGroup('Offline tools (work on a bare store, --store DIR / TANDEM_STORE):')
    .addCommand(replicateCommand())
    .addCommand(pointsCommand())
    .addCommand(restoreCommand())
    .addCommand(verifyCommand())
    .addCommand(pruneCommand())
    .addCommand(seedCommand())
    .addCommand(imageCommand())
    .addCommand(storeCommand())
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

/** Pure: the exit status, code and message an error is reported with. */
export function classify (err: unknown): { status: number, code: string, message: string } {
  if (err instanceof CommanderError) {
    // --help and --version end through here with exit code 0.
    if (err.exitCode === 0) return { status: EXIT_OK, code: '', message: '' }
    // 'commander.help' with a non-zero status: a command group was given no command.
    const message = err.code === 'commander.help'
      ? 'a command is required (see --help)'
      : err.message.replace(/^error: /, '')
    return { status: EXIT_USAGE, code: AppErrorCode.APP_USAGE, message }
  }
  const code = errorCodeOf(err)
  const message = err instanceof Error ? err.message : String(err)
  if (err instanceof Error && code !== undefined) {
    if (code === AppErrorCode.APP_USAGE) return { status: EXIT_USAGE, code, message }
    if (code === AppErrorCode.APP_VERIFY_FAILED) return { status: EXIT_VERIFY_FAILED, code, message }
    return { status: EXIT_FAILED, code, message }
  }
  return { status: EXIT_FAILED, code: AppErrorCode.APP_UNEXPECTED, message }
}
