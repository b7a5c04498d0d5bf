/**
 * `tandem pair open | join | status | list | remove`: pairing through the
 * daemon (docs/pairing.md). `remove` unpairs, which stops replication with that
 * box: it needs `--yes`.
 */
import { Command, Option } from 'commander'
import {
  AppError, AppErrorCode,
  type LocalBox, type PairingSecrets, type PairJoinRequest, type PairJoinResult, type PairOpenResult, type PairStatusInfo, type PeerInfo
} from '../service/index.ts'
import { MAX_FAILED_ATTEMPTS } from '../../p2p/pairing/window.ts'
import { dataOption, dataPath, examples, yesOption } from './box-options.ts'
import { jsonOption } from './common-options.ts'
import { parseDuration, parsePeerId, parsePin } from './option-values.ts'
import { Session } from './session.ts'

interface Opts { data: string, json?: boolean }

export function pairCommand (box: LocalBox): Command {
  return new Command('pair')
    .description('pair this box with another one (PIN or invite), list and remove paired boxes')
    .addHelpText('after', examples([
      'tandem pair open                       # on the box that shows the PIN',
      'tandem pair join --pin 12345678 --addr /ip4/192.0.2.10/tcp/7450   # on the other box',
      'tandem pair status                     # the window, and the confirmation code to compare',
      'tandem pair list'
    ]))
    .addCommand(openCommand(box))
    .addCommand(joinCommand(box))
    .addCommand(statusCommand(box))
    .addCommand(listCommand(box))
    .addCommand(removeCommand(box))
}

function openCommand (box: LocalBox): Command {
  return new Command('open')
    .description('open a pairing window: prints a PIN and an invite for the other box (one pairing, 5 wrong PINs close it)')
    .addOption(dataOption())
    .addOption(new Option('--ttl <duration>', 'how long the window stays open (default 10m)').argParser(parseDuration))
    .addOption(new Option('--mode <secrets>', 'which secret the window accepts: the PIN, the invite (no PIN to guess), or both').choices(['pin', 'invite', 'both']).default('both'))
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem pair open', 'tandem pair open --ttl 30m --json', 'tandem pair open --mode invite   # no PIN: pair with the invite only']))
    .action(async (opts: Opts & { ttl?: number, mode: PairingSecrets }) => {
      const service = await box.connect(dataPath(opts.data))
      const result = await service.pairOpen({ mode: opts.mode, ...(opts.ttl === undefined ? {} : { ttl: opts.ttl }) })
      new Session(opts).output(result, openText)
    })
}

function openText (r: PairOpenResult): string {
  return [
    ...(r.pin === null ? [] : [`PIN       ${r.pin}`]),
    `expires   ${r.expiresAt}`,
    ...(r.invite === null ? [] : [`invite    ${r.invite}`]),
    ...r.addresses.map(a => `address   ${a}`),
    'on the other box run:',
    ...(r.pin === null ? [] : [`  tandem pair join --pin ${r.pin} --addr ${r.addresses[0] ?? 'ADDRESS'}`]),
    ...(r.invite === null ? [] : [`  tandem pair join --invite ${r.invite}`]),
    'the confirmation code of the pairing appears in this daemon\'s log and in tandem pair status'
  ].join('\n')
}

function joinCommand (box: LocalBox): Command {
  return new Command('join')
    .description('pair with a box that opened a window: its PIN and address, or its invite')
    .addOption(dataOption())
    .option('--pin <pin>', 'the 8-digit PIN the other box shows', parsePin)
    .option('--addr <multiaddr>', 'an address of the other box (with --pin)')
    .option('--invite <payload>', 'the other box\'s invite (instead of --pin and --addr)')
    .addOption(jsonOption())
    .addHelpText('after', examples([
      'tandem pair join --pin 12345678 --addr /ip4/192.0.2.10/tcp/7450',
      'tandem pair join --invite tandem-pair:1:eyJwZWVySWQiOi...'
    ]))
    .action(async (opts: Opts & { pin?: string, addr?: string, invite?: string }) => {
      const service = await box.connect(dataPath(opts.data))
      const result = await service.pairJoin(joinRequest(opts))
      new Session(opts).output(result, joinText)
    })
}

/** `--pin` with `--addr`, or `--invite` alone; anything else is APP_USAGE. Pure. */
export function joinRequest (opts: { pin?: string, addr?: string, invite?: string }): PairJoinRequest {
  if (opts.invite !== undefined && opts.pin === undefined && opts.addr === undefined) return { invite: opts.invite }
  if (opts.invite === undefined && opts.pin !== undefined && opts.addr !== undefined) return { pin: opts.pin, addr: opts.addr }
  throw new AppError(AppErrorCode.APP_USAGE, 'give --pin PIN and --addr MULTIADDR, or --invite PAYLOAD')
}

function joinText (r: PairJoinResult): string {
  return `paired with ${r.peer.name} (${r.peer.role})\npeer id            ${r.peer.peerId}\nconfirmation code  ${r.confirmationCode} (the other box shows the same code in its log and on its pairing page: compare them)`
}

function statusCommand (box: LocalBox): Command {
  return new Command('status')
    .description('the pairing window opened last (open or not, expiry, attempts left) and the last pairing made, with its confirmation code')
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem pair status', 'tandem pair status --json']))
    .action(async (opts: Opts) => {
      const status = await (await box.connect(dataPath(opts.data))).pairStatus()
      new Session(opts).output(status, pairStatusText)
    })
}

const SECRETS: Record<PairingSecrets, string> = { both: 'PIN or invite', pin: 'PIN only', invite: 'invite only' }

/** The window and the last pairing in words (docs/cli.md "tandem pair status"). Pure. */
export function pairStatusText (s: PairStatusInfo): string {
  const w = s.window
  const window = w === null
    ? ['window    no pairing window opened']
    : w.open
      ? [
          `window    open (${SECRETS[w.mode]}) until ${w.expiresAt}, ${Math.max(0, MAX_FAILED_ATTEMPTS - w.failedAttempts)} of ${MAX_FAILED_ATTEMPTS} attempts left`,
          ...(w.joining ? ['          a box is joining: confirming'] : [])
        ]
      : [`window    closed (${w.paired !== null ? `used: ${w.paired.name} joined` : w.failedAttempts >= MAX_FAILED_ATTEMPTS ? `${w.failedAttempts} failed attempts` : 'expired, replaced or cancelled'}; it was open until ${w.expiresAt})`]
  const l = s.last
  const last = l === null
    ? ['last      no pairing made since the daemon started']
    : [
        `last      ${l.side === 'host' ? `${l.name} joined this box` : `this box joined ${l.name}`} at ${l.pairedAt}`,
        `peer id   ${l.peerId}`,
        `confirmation code  ${l.confirmationCode} (${l.name} shows the same code: compare them)`
      ]
  return [...window, ...last].join('\n')
}

function listCommand (box: LocalBox): Command {
  return new Command('list')
    .description('list the paired boxes')
    .addOption(dataOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem pair list', 'tandem pair list --json']))
    .action(async (opts: Opts) => {
      const peers = await (await box.connect(dataPath(opts.data))).pairList()
      new Session(opts).output(peers, listText)
    })
}

function listText (peers: PeerInfo[]): string {
  if (peers.length === 0) return 'no paired boxes'
  return peers.map(p => `${p.peerId}  ${p.name}  ${p.role}  paired ${p.pairedAt}  ${p.connected ? 'connected' : 'not connected'}`).join('\n')
}

function removeCommand (box: LocalBox): Command {
  return new Command('remove')
    .description('unpair a box: it can no longer connect or replicate (needs --yes)')
    .argument('<peer>', 'the peer id of the box (see tandem pair list)', parsePeerId)
    .addOption(dataOption())
    .addOption(yesOption())
    .addOption(jsonOption())
    .addHelpText('after', examples(['tandem pair remove 12D3KooW... --yes']))
    .action(async (peer: string, opts: Opts & { yes?: boolean }) => {
      if (opts.yes !== true) throw new AppError(AppErrorCode.APP_CONFIRMATION_REQUIRED, `unpairing ${peer} stops replication with it; add --yes to confirm`)
      const result = await (await box.connect(dataPath(opts.data))).pairRemove(peer)
      new Session(opts).output(result, r => `unpaired ${r.peerId}`)
    })
}
