/**
 * `tandem init [--name NAME] [--listen MULTIADDR ...] [--api HOST:PORT [--plain-http]]`:
 * makes a data directory: config.json, the box's identity, and with `--api`
 * the web server's certificate, whose fingerprint it prints. Refuses one
 * already initialized (APP_DATA_ALREADY_INITIALIZED).
 */
import { Command } from 'commander'
import type { InitResult, LocalBox } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { jsonOption } from './common-options.ts'
import { collect } from './option-values.ts'
import { Session } from './session.ts'

interface InitOpts { data: string, name?: string, listen?: string[], api?: string, plainHttp?: boolean, json?: boolean }

export function initCommand (box: LocalBox): Command {
  return new Command('init')
    .description('create a box\'s data directory: its config and identity (peer id)')
    .addOption(dataOption())
    .option('--name <name>', 'the name other boxes see when pairing (default: the host name)')
    .option('--listen <multiaddr>', 'where the daemon listens for other boxes; repeatable (default /ip4/0.0.0.0/tcp/7450)', collect)
    .option('--api <host:port>', 'where the web page listens for browsers, over HTTPS with a self-signed certificate made now (0.0.0.0:7443 for every address)')
    .option('--plain-http', 'serve --api as plain HTTP, no certificate: only on a loopback host (127.0.0.1, ::1, localhost), for tests and demos')
    .addOption(jsonOption())
    .addHelpText('after', examples([
      'tandem init --data /var/lib/tandem --name branch-office',
      'tandem init --data /var/lib/tandem --api 0.0.0.0:7443',
      'tandem init --data ./box-a --listen /ip4/127.0.0.1/tcp/0'
    ]))
    .action(async (opts: InitOpts) => {
      const result = await box.init(dataPath(opts.data), {
        ...(opts.name === undefined ? {} : { name: opts.name }),
        ...(opts.listen === undefined ? {} : { listen: opts.listen }),
        ...(opts.api === undefined ? {} : { api: opts.api }),
        ...(opts.plainHttp === true ? { plainHttp: true } : {})
      })
      new Session(opts).output(result, initText)
    })
}

function initText (r: InitResult): string {
  const lines = [`initialized ${r.dataDir}`, `name         ${r.name}`, `peer id      ${r.peerId}`]
  if (r.web !== null) {
    lines.push(`web          ${r.web.url}`)
    if (r.web.fingerprint !== null) lines.push(`cert         ${r.web.fingerprint} (a browser shows it: compare before you trust the page)`)
  }
  lines.push(`start the daemon with: tandem start --data ${r.dataDir}`)
  return lines.join('\n')
}
