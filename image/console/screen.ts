/**
 * The console status screen of the appliance (tty1, and the serial console
 * as lines): what someone at the box needs to reach its web page. Pure: the
 * daemon's status document, the network interfaces and the time in, text
 * lines out (console-main.ts gathers them and writes).
 */

/** What the screen reads of `GET /v1/status` (docs/cli.md "tandem status"). */
export interface ScreenStatus {
  state?: string
  name?: string
  peerId?: string
  version?: string
  web?: { url?: string | null, fingerprint?: string | null, setupCode?: string | null, passwordSet?: boolean } | null
  pairing?: { open?: boolean, expiresAt?: string | null } | null
  peers?: number | unknown[]
  connectedPeers?: number
}

/** One address of a network interface (os.networkInterfaces()). */
export interface ScreenAddress {
  iface: string
  address: string
  family: 'IPv4' | 'IPv6'
  internal: boolean
}

export interface ScreenInput {
  /** The daemon's status, or null when it did not answer. */
  status: ScreenStatus | null
  /** Why it did not answer (shown while status is null). */
  problem: string | null
  addresses: readonly ScreenAddress[]
  hostname: string
}

/** Columns of the narrowest console the screen must fit (an 80-column VGA text screen). */
export const SCREEN_COLUMNS = 80

/** The web page's port in a URL like https://HOST:7443/, or null. */
function urlPort (url: string): string | null {
  const m = /^https?:\/\/(?:\[[^\]]+\]|[^/:]+)(?::(\d+))?\//.exec(url)
  return m === null ? null : (m[1] ?? '443')
}

/**
 * The addresses a browser on the LAN can use: not loopback, not IPv6
 * link-local (a browser needs its zone, which it cannot take in a URL).
 */
export function reachableAddresses (addresses: readonly ScreenAddress[]): ScreenAddress[] {
  return addresses.filter(a => !a.internal && !(a.family === 'IPv6' && /^fe80:/i.test(a.address)))
}

/** A fingerprint `SHA256 AB:CD:...` (95 hex characters and colons) split in two lines that fit. */
function fingerprintLines (fingerprint: string): string[] {
  const hex = fingerprint.replace(/^SHA256\s+/, '')
  const pairs = hex.split(':')
  if (pairs.length < 2) return [fingerprint]
  const half = Math.ceil(pairs.length / 2)
  return [`SHA256 ${pairs.slice(0, half).join(':')}`, `       ${pairs.slice(half).join(':')}`]
}

/** The screen's lines, without a clock: it changes only when what it shows changes. */
export function renderScreen (input: ScreenInput): string[] {
  const { status } = input
  const name = status?.name ?? input.hostname
  const lines = [`Tandem ${status?.version ?? ''}`.trimEnd() + ` - box "${name}"`, '']
  if (status === null) {
    lines.push('The Tandem service is not answering yet.', `(${input.problem ?? 'starting'})`, '')
  }
  const reachable = reachableAddresses(input.addresses)
  const port = status?.web?.url != null ? urlPort(status.web.url) : null
  if (status !== null && (status.web === null || status.web === undefined)) {
    lines.push('The web page is off (config.json has no "api").', '')
  } else if (port !== null) {
    lines.push('Open the web page from a computer on this network:')
    if (reachable.length === 0) lines.push('  (no network address yet: is a cable plugged in?)')
    for (const a of reachable) lines.push(`  https://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${port}/`)
    if (status?.web?.url != null) lines.push(`  ${status.web.url}`)
    lines.push('')
  }
  if (typeof status?.web?.fingerprint === 'string') {
    lines.push('The browser shows a certificate: trust it only if its SHA-256 fingerprint is')
    for (const l of fingerprintLines(status.web.fingerprint)) lines.push(`  ${l}`)
    lines.push('')
  }
  if (status?.web?.passwordSet === false && typeof status.web.setupCode === 'string') {
    lines.push(`No admin password yet. On the web page, enter the one-time code ${status.web.setupCode}`, '')
  }
  if (status?.pairing?.open === true) {
    lines.push(`Pairing is open until ${status.pairing.expiresAt ?? '?'}: the web page shows its PIN.`, '')
  }
  if (status !== null) {
    const peers = Array.isArray(status.peers) ? status.peers.length : status.peers
    if (peers !== undefined) lines.push(`Paired boxes: ${peers}${status.connectedPeers !== undefined ? `, ${status.connectedPeers} connected` : ''}`)
    if (status.peerId !== undefined) lines.push(`Peer id: ${status.peerId}`)
  }
  lines.push('Addresses: ' + (reachable.length === 0 ? 'none' : reachable.map(a => `${a.address} (${a.iface})`).join(', ')))
  lines.push('', 'Log in: Alt+F2. This screen refreshes by itself.')
  return lines.map(l => l.length > SCREEN_COLUMNS ? l.slice(0, SCREEN_COLUMNS - 1) + '~' : l)
}
