/**
 * The `tandem` command line: the program definition and the one place where
 * errors become exit statuses (docs/errors.md, docs/cli.md):
 *
 *   0  success
 *   1  the operation failed          stderr: `error CODE: message`
 *   2  usage error (APP_USAGE)       bad arguments or options, commander's too
 *   3  verification found problems   (APP_VERIFY_FAILED), after the report
 *
 * Importing this module runs the CLI on process.argv (bin/tandem.js does
 * that); it sets process.exitCode and lets the process end by itself, which
 * it does because every command releases its store and threads.
 */
import { Command, CommanderError } from 'commander'
import { readFileSync } from 'node:fs'
import { AppErrorCode } from '../errors.ts'
import { completionCommand } from './completion.ts'
import { imageCommand } from './image.ts'
import { pointsCommand } from './points.ts'
import { pruneCommand } from './prune.ts'
import { replicateCommand } from './replicate.ts'
import { restoreCommand } from './restore.ts'
import { seedCommand } from './seed.ts'
import { storeCommand } from './store.ts'
import { verifyCommand } from './verify.ts'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2
export const EXIT_VERIFY_FAILED = 3

/** Set to print the stack of unexpected errors. */
const DEBUG_ENV = 'TANDEM_DEBUG'

export function buildProgram (): Command {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  const program = new Command('tandem')
    .description('Tandem: replicate VM disk images into recovery points, restore, verify, carry seeds')
    .version(pkg.version)
    .addCommand(replicateCommand())
    .addCommand(pointsCommand())
    .addCommand(restoreCommand())
    .addCommand(verifyCommand())
    .addCommand(pruneCommand())
    .addCommand(seedCommand())
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
export async function main (argv: string[], stderr: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    await buildProgram().parseAsync(argv)
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
  const code = (err as { code?: unknown } | null)?.code
  const message = err instanceof Error ? err.message : String(err)
  if (err instanceof Error && typeof code === 'string' && /^(CORE|APP)_[A-Z0-9_]+$/.test(code)) {
    if (code === AppErrorCode.APP_USAGE) return { status: EXIT_USAGE, code, message }
    if (code === AppErrorCode.APP_VERIFY_FAILED) return { status: EXIT_VERIFY_FAILED, code, message }
    return { status: EXIT_FAILED, code, message }
  }
  return { status: EXIT_FAILED, code: AppErrorCode.APP_UNEXPECTED, message }
}

process.exitCode = await main(process.argv)
