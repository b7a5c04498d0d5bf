/**
 * `tandem start`: runs the daemon in the foreground until SIGTERM or SIGINT
 * (systemd style), then stops it cleanly and exits 0. Once it serves its API
 * it prints `tandem: ready` on stderr; the logs go to stdout.
 */
import { Command } from 'commander'
import type { LocalBox } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { withSession } from './session.ts'

/** The line `tandem start` prints on stderr once the daemon serves its API (scripts and tests wait for it). */
export const READY_LINE = 'tandem: ready'

export function startCommand (box: LocalBox): Command {
  return new Command('start')
    .description('run the daemon in the foreground until SIGTERM or Ctrl-C (logs on stdout)')
    .addOption(dataOption())
    .addHelpText('after', examples([
      'tandem start --data /var/lib/tandem',
      'TANDEM_DATA=./box-a TANDEM_LOG_LEVEL=debug tandem start'
    ]))
    .action(async (opts: { data: string }) => {
      await withSession({}, async session => {
        await box.run(dataPath(opts.data), session.signal, status => {
          process.stderr.write(`${READY_LINE}: ${status.name} ${status.peerId} api ${status.api}\n`)
        })
      })
    })
}
