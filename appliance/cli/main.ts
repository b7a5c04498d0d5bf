/**
 * The `tandem` command line: the program definition and the one place where
 * errors are reported, with the exit statuses of exit-status.ts
 * (docs/errors.md, docs/cli.md). Importing this module runs the CLI on
 * process.argv (bin/tandem.js does that); it sets process.exitCode and lets the process end by itself, which
 * it does because every command releases its store and threads.
 */
import { Command } from 'commander'
import { readFileSync } from 'node:fs'
import { AppErrorCode } from '../errors.ts'
import { completionCommand } from './completion.ts'
import { classify, EXIT_OK } from './exit-status.ts'
import { imageCommand } from './image.ts'
import { pointsCommand } from './points.ts'
import { pruneCommand } from './prune.ts'
import { replicateCommand } from './replicate.ts'
import { restoreCommand } from './restore.ts'
import { seedCommand } from './seed.ts'
import { storeCommand } from './store.ts'
import { verifyCommand } from './verify.ts'

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

process.exitCode = await main(process.argv)
