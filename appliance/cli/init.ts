/**
 * `tandem init [--name NAME] [--listen MULTIADDR ...] [--api HOST:PORT]`:
 * makes a data directory: config.json and the box's identity. Refuses one
 * already initialized (APP_DATA_ALREADY_INITIALIZED).
 */
import { Command } from 'commander'
import type { InitResult, LocalBox } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { jsonOption } from './common-options.ts'
import { collect } from './option-values.ts'
import { Session } from './session.ts'

interface InitOpts { data: string, name?: string, listen?: string[], api?: string, json?: boolean }

export function initCommand (box: LocalBox): Command {
  return new Command('init')
    .description('create a box\'s data directory: its config and identity (peer id)')
    .addOption(dataOption())
    .option('--name <name>', 'the name other boxes see when pairing (default: the host name)')
    .option('--listen <multiaddr>', 'where the daemon listens for other boxes; repeatable (default /ip4/0.0.0.0/tcp/7450)', collect)
    .option('--api <host:port>', 'HTTPS API address for browsers (recorded for a later release)')
    .addOption(jsonOption())
    .addHelpText('after', examples([
      'tandem init --data /var/lib/tandem --name branch-office',
      'tandem init --data ./box-a --listen /ip4/127.0.0.1/tcp/0'
    ]))
    .action(async (opts: InitOpts) => {
      const result = await box.init(dataPath(opts.data), {
        ...(opts.name === undefined ? {} : { name: opts.name }),
        ...(opts.listen === undefined ? {} : { listen: opts.listen }),
        ...(opts.api === undefined ? {} : { api: opts.api })
      })
      new Session(opts).output(result, initText)
    })
}

function initText (r: InitResult): string {
  return `initialized ${r.dataDir}\nname     ${r.name}\npeer id  ${r.peerId}\nstart the daemon with: tandem start --data ${r.dataDir}`
}
