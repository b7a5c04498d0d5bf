/**
 * `tandem status [--json]`: who this box is and what it listens on, from
 * the daemon. With no daemon running it shows what the data directory alone
 * says (name, peer id, configured addresses) with state `stopped`, and
 * exits 0 (docs/cli.md "status").
 */
import { Command } from 'commander'
import { AppErrorCode, errorCodeOf, type LocalBox, type StatusInfo } from '../service/index.ts'
import { dataOption, dataPath, examples } from './box-options.ts'
import { jsonOption } from './common-options.ts'
import { Session } from './session.ts'

export function statusCommand (box: LocalBox): Command {
  return new Command('status')
    .description('show the box: name, peer id, addresses, API socket, peers; "stopped" when no daemon runs')
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem status --data /var/lib/tandem', 'tandem status --json']))
    .action(async (opts: { data: string, json?: boolean }) => {
      const dir = dataPath(opts.data)
      let status: StatusInfo
      try {
        status = await (await box.connect(dir)).status()
      } catch (err) {
        if (errorCodeOf(err) !== AppErrorCode.APP_DAEMON_NOT_RUNNING) throw err
        status = await box.offlineStatus(dir)
      }
      new Session(opts).output(status, statusText)
    })
}

function statusText (s: StatusInfo): string {
  const lines = [
    `state     ${s.state}${s.state === 'stopped' ? ' (start it with: tandem start)' : ''}`,
    `name      ${s.name} (${s.role})`,
    `peer id   ${s.peerId}`,
    `data      ${s.dataDir}`,
    `listen    ${s.listen.join(' ')}`
  ]
  for (const a of s.addresses) lines.push(`address   ${a}`)
  lines.push(`api       ${s.api}`)
  if (s.web !== null) {
    if (s.web.url !== null) lines.push(`web       ${s.web.url}`)
    if (s.web.fingerprint !== null) lines.push(`cert      ${s.web.fingerprint}`)
    lines.push(s.web.passwordSet
      ? 'password  set (the web page\'s admin password)'
      : `password  not set: open the web page and enter the one-time code ${s.web.setupCode ?? '(shown on the box\'s console)'}`)
  }
  if (s.state === 'running') {
    lines.push(`peers     ${s.peers} paired, ${s.connectedPeers} connected`)
    lines.push(`pairing   ${s.pairing.open ? `open until ${s.pairing.expiresAt ?? ''}` : 'closed'}`)
  }
  return lines.join('\n')
}
