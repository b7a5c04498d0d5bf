/**
 * What the box's console shows (`tandem console`, docs/console.md), as a
 * pure function of what the console last read: the daemon's answers (or
 * why there are none), the interfaces' addresses, the clock and the
 * terminal's size. Lines out, no terminal codes: console.ts draws them. It
 * never throws on an answer it does not expect: a missing part is shown as
 * missing.
 */
import type { PairStatusInfo, ReplicaStatusInfo, ReplicationInfo, StatusInfo } from '../service/index.ts'
import { textQr, type TextQr } from './console-qr.ts'

/** The widest line of text: the console of a box without a framebuffer is 80 columns. */
export const MAX_TEXT_COLUMNS = 80

/** Addresses (and web URLs) listed at most; a box with more (bridges, containers) says how many are left out. */
export const MAX_ADDRESSES_SHOWN = 4

/** How long after a pairing its confirmation code stays on the screen: time to walk to the other box and compare. */
export const RECENT_PAIRING_MS = 10 * 60_000

/** Width of the labels column. */
const LABEL = 12

/** Lines the daemon's reason for not answering may take (a socket's path is long); more are cut. */
const MAX_REASON_LINES = 3

/** An address of one of the box's interfaces (loopback left out by the caller). */
export interface HostAddress {
  address: string
  family: 4 | 6
  /** The interface's name (eth0). */
  iface: string
}

/** What the daemon answered; each part that failed is the failure's words instead. */
export interface DaemonAnswers {
  status: StatusInfo
  pairing: PairStatusInfo | { failed: string }
  vms: { replication: Array<Pick<ReplicationInfo, 'vm' | 'health' | 'reason'>>, replica: Array<Pick<ReplicaStatusInfo, 'vm' | 'health' | 'healthReason'>> } | { failed: string }
}

/** The daemon did not answer: why (its code and words), and what the data directory alone says, when it could be read. */
export interface DaemonDown {
  code: string
  reason: string
  offline: StatusInfo | { failed: string }
}

export interface ConsoleView {
  daemon: DaemonAnswers | DaemonDown
  addresses: HostAddress[]
  /** ms since the epoch: the countdown and the "updated" line. */
  now: number
  /** How often the screen refreshes, ms (said on the screen). */
  refreshMs: number
  /** The terminal's size, when known: where the QR code goes. Null: print everything (not a terminal). */
  screen: { columns: number, rows: number } | null
}

/** A line of the screen; `qr` lines are drawn dark on light. */
export interface ScreenLine {
  text: string
  qr?: true
}

/** The screen's lines, top to bottom. Pure; never throws. */
export function consoleScreen (view: ConsoleView): ScreenLine[] {
  const width = Math.min(view.screen?.columns ?? MAX_TEXT_COLUMNS, MAX_TEXT_COLUMNS)
  let text: string[]
  let qr: TextQr | null = null
  let pin: string | null = null
  try {
    const d = view.daemon
    if ('code' in d) {
      text = downLines(d, view)
    } else {
      const pairing = 'failed' in d.pairing ? null : d.pairing
      const invite = pairing?.window?.open === true ? pairing.window.invite : null
      qr = invite === null ? null : textQr(invite)
      pin = pairing?.window?.open === true ? pairing.window.pin : null
      text = upLines(d, view)
    }
  } catch (err) {
    // An answer of a shape this version does not know: say so, and keep running.
    text = [`Tandem answered something this console cannot show: ${(err as Error).message}`, updatedLine(view)]
    qr = null
  }
  const fitted = text.map(l => ({ text: cut(l, width) }))
  if (qr === null) return fitted
  const qrLines = qr.lines.map(l => ({ text: l, qr: true as const }))
  const s = view.screen
  if (s === null || (qr.columns <= s.columns && fitted.length + 1 + qr.rows <= s.rows)) return [...fitted, { text: '' }, ...qrLines]
  if (qr.columns <= s.columns && qr.rows + 2 <= s.rows) {
    // The code alone: the screen cannot hold it with the rest, and while a window is open the code is what the other box needs.
    return [
      { text: cut(`Pairing open, ${countdown(openWindow(view)?.expiresAt, view.now)}: ${pin === null ? 'scan this code' : `PIN ${groupedPin(pin)}, or scan this code`}`, s.columns) },
      ...qrLines,
      { text: cut('The address and web page come back when the window closes.', s.columns) }
    ]
  }
  return [...fitted, { text: cut(`QR code     needs ${qr.columns}x${qr.rows + 2} characters, this screen has ${s.columns}x${s.rows}: enter the PIN instead`, width) }]
}

function openWindow (view: ConsoleView): NonNullable<PairStatusInfo['window']> | null {
  const d = view.daemon
  if ('code' in d || 'failed' in d.pairing) return null
  return d.pairing.window?.open === true ? d.pairing.window : null
}

function upLines (d: DaemonAnswers, view: ConsoleView): string[] {
  const s = d.status
  return [
    ...boxLines(s, view),
    ...passwordLines(s),
    ...pairingLines(d.pairing, view.now),
    ...vmLines(d.vms),
    updatedLine(view)
  ]
}

function downLines (d: DaemonDown, view: ConsoleView): string[] {
  return [
    `Tandem is starting or stopped (${d.code}):`,
    ...wrap(d.reason, MAX_TEXT_COLUMNS - LABEL, MAX_REASON_LINES).map(l => label('', l)),
    label('', `trying again every ${seconds(view.refreshMs)}`),
    ...('failed' in d.offline
      ? [...addressLines(view.addresses), label('data', `not readable: ${d.offline.failed}`)]
      : boxLines(d.offline, view)),
    updatedLine(view)
  ]
}

/** The box, its addresses, its web page and certificate. */
function boxLines (s: StatusInfo, view: ConsoleView): string[] {
  return [
    label('Tandem box', `${s.name} (${s.role})`),
    label('peer id', shortPeerId(s.peerId)),
    ...addressLines(view.addresses),
    ...webLines(s, view.addresses)
  ]
}

function addressLines (addresses: HostAddress[]): string[] {
  if (addresses.length === 0) return [label('addresses', 'none: this box has no network address yet (a cable? DHCP?)')]
  return listed('addresses', addresses.map(a => `${a.address} (${a.iface})`))
}

function webLines (s: StatusInfo, addresses: HostAddress[]): string[] {
  const web = s.web
  if (web === null) return [label('web page', 'none configured (config.json has no "api")')]
  const lines = listed('web page', webUrls(s.httpsApi, web.url, addresses))
  if (web.fingerprint !== null) lines.push(...fingerprintLines(web.fingerprint))
  return lines
}

/**
 * One URL per address a browser can open when the web server listens on a
 * wildcard (0.0.0.0: the IPv4 ones; `::`: all), else the configured one.
 * IPv6 link-local addresses get none: a browser cannot open a URL with the
 * zone they need (as web/tls leaves them out of the certificate). Pure.
 */
export function webUrls (api: string | null, url: string | null, addresses: HostAddress[]): string[] {
  const fallback = url === null ? [] : [url]
  if (api === null || url === null) return fallback
  const colon = api.lastIndexOf(':')
  const host = api.slice(0, colon).replace(/^\[(.*)\]$/, '$1')
  if (host !== '0.0.0.0' && host !== '::') return fallback
  const scheme = url.startsWith('http://') ? 'http' : 'https'
  const port = api.slice(colon + 1)
  const urls = addresses
    .filter(a => (host === '::' || a.family === 4) && !isLinkLocal6(a))
    .map(a => `${scheme}://${a.family === 6 ? `[${a.address}]` : a.address}:${port}/`)
  return urls.length === 0 ? fallback : urls
}

const isLinkLocal6 = (a: HostAddress): boolean => a.family === 6 && /^fe[89ab]/i.test(a.address)

/** `SHA256 AB:CD:...` (32 bytes, 102 characters) on two lines of 16 bytes: never cut, a browser shows all of it. */
function fingerprintLines (fingerprint: string): string[] {
  const [algorithm, hex = ''] = fingerprint.split(' ', 2)
  const bytes = hex.split(':')
  if (bytes.length <= 16) return [label('certificate', fingerprint)]
  return [
    label('certificate', `${algorithm ?? ''} ${bytes.slice(0, 16).join(':')}`),
    label('', `${' '.repeat((algorithm ?? '').length)} ${bytes.slice(16).join(':')}`)
  ]
}

function passwordLines (s: StatusInfo): string[] {
  const web = s.web
  if (web === null) return []
  if (web.passwordSet) return [label('password', 'set: log in on the web page')]
  return [label('password', web.setupCode === null
    ? 'not set, and no one-time code could be read (see the daemon\'s log)'
    : `not set: on the web page, enter the one-time code ${web.setupCode}`)]
}

function pairingLines (pairing: DaemonAnswers['pairing'], now: number): string[] {
  if ('failed' in pairing) return [label('pairing', `could not be read: ${pairing.failed}`)]
  const w = pairing.window
  const lines: string[] = []
  if (w?.open === true) {
    const secrets = [
      ...(w.pin === null ? [] : [`PIN ${groupedPin(w.pin)}`]),
      ...(w.invite === null ? [] : ['the QR code'])
    ]
    lines.push(label('pairing', `open, ${countdown(w.expiresAt, now)}`))
    lines.push(label('', w.joining ? 'a box is joining: confirming' : `on the other box's pairing page: ${secrets.join(' or ') || 'the secret its opener holds'}`))
  } else {
    lines.push(label('pairing', 'closed (open one on the web page\'s Pairing, or: tandem pair open)'))
  }
  const last = pairing.last
  const at = last === null ? Number.NaN : Date.parse(last.pairedAt)
  if (last !== null && now - at >= 0 && now - at < RECENT_PAIRING_MS) {
    lines.push(label('paired', `with ${last.name} at ${clock(at)}: confirmation code ${last.confirmationCode}`))
    lines.push(label('', `${last.name} shows the same code: compare them`))
  }
  return lines
}

const RANK = { critical: 0, warning: 1, normal: 2 } as const

function vmLines (vms: DaemonAnswers['vms']): string[] {
  if ('failed' in vms) return [label('VMs', `could not be read: ${vms.failed}`)]
  const rows = [
    ...vms.replication.map(r => ({ vm: r.vm, health: r.health, reason: r.reason })),
    ...vms.replica.map(r => ({ vm: r.vm, health: r.health, reason: r.healthReason }))
  ]
  if (rows.length === 0) return [label('VMs', 'none protected yet')]
  const count = (h: keyof typeof RANK): number => rows.filter(r => r.health === h).length
  const worst = [...rows].sort((a, b) => (RANK[a.health] ?? 3) - (RANK[b.health] ?? 3))[0]!
  return [
    label('VMs', `${rows.length} protected: ${count('normal')} normal, ${count('warning')} warning, ${count('critical')} critical`),
    label('', worst.health === 'normal' ? 'every one healthy' : `worst: ${worst.vm} (${worst.health}): ${worst.reason}`)
  ]
}

function updatedLine (view: ConsoleView): string {
  return label('updated', `${new Date(view.now).toISOString().slice(0, 19).replace('T', ' ')} UTC (every ${seconds(view.refreshMs)})`)
}

/** `label` then `value` in the labels column; an empty label continues the line above. */
function label (name: string, value: string): string {
  return `${name.padEnd(LABEL)}${value}`
}

/** The first MAX_ADDRESSES_SHOWN values under one label, and how many more there are. */
function listed (name: string, values: string[]): string[] {
  const shown = values.slice(0, MAX_ADDRESSES_SHOWN).map((v, i) => label(i === 0 ? name : '', v))
  if (values.length > MAX_ADDRESSES_SHOWN) shown.push(label('', `and ${values.length - MAX_ADDRESSES_SHOWN} more`))
  return shown
}

/** `text` in lines of at most `width` characters, broken at spaces (a word longer than a line is cut), at most `max` lines. */
export function wrap (text: string, width: number, max: number): string[] {
  const lines: string[] = []
  let line = ''
  for (const word of text.split(/\s+/).filter(w => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line)
      line = ''
    }
    line = line === '' ? word : `${line} ${word}`
  }
  if (line !== '') lines.push(line)
  const kept = lines.slice(0, max).map(l => cut(l, width))
  if (lines.length > max) kept[max - 1] = cut(`${kept[max - 1]!} …`, width)
  return kept
}

/** A line cut to `width` characters, the cut marked with `…`. */
export function cut (line: string, width: number): string {
  const chars = [...line]
  return chars.length <= width ? line : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`
}

/** `12D3KooW…9kSCVe2Xo`: enough to tell boxes apart on a screen; `tandem status` shows it whole. */
export function shortPeerId (peerId: string): string {
  return peerId.length <= 20 ? peerId : `${peerId.slice(0, 8)}…${peerId.slice(-8)}`
}

/** `1234 5678`: two groups of four, read aloud and typed without losing one's place. */
export function groupedPin (pin: string): string {
  return pin.length === 8 ? `${pin.slice(0, 4)} ${pin.slice(4)}` : pin
}

/** `closes in 9:41`, or `closing` once the time is up (the next refresh shows it closed). */
export function countdown (expiresAt: string | undefined, now: number): string {
  const left = Math.ceil(((expiresAt === undefined ? Number.NaN : Date.parse(expiresAt)) - now) / 1000)
  if (!(left > 0)) return 'closing'
  const h = Math.floor(left / 3600)
  const m = Math.floor((left % 3600) / 60)
  const s = String(left % 60).padStart(2, '0')
  return `closes in ${h > 0 ? `${h}:${String(m).padStart(2, '0')}` : m}:${s}`
}

const clock = (ms: number): string => `${new Date(ms).toISOString().slice(11, 16)} UTC`
const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`
