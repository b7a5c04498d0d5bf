/**
 * How an error ends the `tandem` command: its exit status and the code on
 * stderr's `error CODE: message` line (docs/errors.md, docs/cli.md):
 *
 *   0  success
 *   1  the operation failed          any other TandemError keeps its code (CORE_*, P2P_*, APP_*)
 *   2  usage error (APP_USAGE)       bad arguments or options, commander's too,
 *                                    and WEB_BAD_REQUEST (the API refused what was sent)
 *   3  verification found problems   (APP_VERIFY_FAILED), after the report
 *
 * Anything that is not a TandemError is APP_UNEXPECTED with status 1.
 */
import { CommanderError } from 'commander'
import { TandemError } from '../../core/errors.ts'
import { AppErrorCode } from '../service/index.ts'

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2
export const EXIT_VERIFY_FAILED = 3

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
  const message = err instanceof Error ? err.message : String(err)
  if (err instanceof TandemError) {
    const code = err.code
    // WEB_BAD_REQUEST: the daemon's API refused what the command sent (its schema), which
    // the CLI did not check first: the command line was wrong, so it is a usage error too.
    if (code === AppErrorCode.APP_USAGE || code === 'WEB_BAD_REQUEST') return { status: EXIT_USAGE, code, message }
    if (code === AppErrorCode.APP_VERIFY_FAILED) return { status: EXIT_VERIFY_FAILED, code, message }
    return { status: EXIT_FAILED, code, message }
  }
  return { status: EXIT_FAILED, code: AppErrorCode.APP_UNEXPECTED, message }
}
