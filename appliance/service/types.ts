/**
 * The JSON-able values the ApplianceService takes and returns. They cross
 * the local API unchanged (web/ gives each a JSON schema), so they hold only
 * strings, numbers, booleans, arrays and plain objects: times are ISO 8601
 * strings, durations milliseconds. docs/cli.md documents each as the `--json`
 * output of its command.
 */

/** The role a box announces when it pairs (p2p's BoxRole). */
export type BoxRole = 'primary' | 'replica' | 'both'

/** `tandem status`. */
export interface StatusInfo {
  /** 'running' from the daemon; 'stopped' when the CLI answers from the data directory alone. */
  state: 'running' | 'stopped'
  name: string
  peerId: string
  role: BoxRole
  dataDir: string
  /** The multiaddrs configured to listen on (config.json). */
  listen: string[]
  /** The multiaddrs the node is bound to (ports resolved), each ending in /p2p/<peerId>; empty when stopped. */
  addresses: string[]
  /** The local API: the unix socket's path. */
  api: string
  /** The HTTPS API address configured for browsers (HOST:PORT), or null. */
  httpsApi: string | null
  /** The browser-facing web server; null when no HTTPS address (`--api`) is configured. */
  web: WebStatusInfo | null
  /** Paired peers, and how many of them are connected now (0 when stopped). */
  peers: number
  connectedPeers: number
  /** The pairing window, when one is open. */
  pairing: { open: boolean, expiresAt: string | null }
  version: string
  /** When the daemon started (ISO), or null when stopped. */
  startedAt: string | null
  pid: number | null
}

/**
 * The web server as `tandem status` shows it (docs/web.md). It holds the
 * one-time setup code: only the local socket's status carries it (the HTTPS
 * server's status route drops it).
 */
export interface WebStatusInfo {
  /** Where a browser opens it: `https://HOST:PORT/` (`http://` when plain HTTP on loopback is configured), a wildcard host shown as the host name. */
  url: string | null
  /** The certificate's SHA-256 fingerprint (`SHA256 AB:CD:...`, as browsers show it); null for plain HTTP, or when there is no readable certificate. */
  fingerprint: string | null
  /** The one-time code that sets the first admin password; null once a password is set. */
  setupCode: string | null
  passwordSet: boolean
}

/** Which secret a pairing window accepts: the PIN, the invite's, or both (default). */
export type PairingSecrets = 'pin' | 'invite' | 'both'

/** `pairOpen` arguments. */
export interface PairOpenRequest {
  /** 'invite' opens a window with no PIN to guess at all; 'pin' one whose invite secret is refused. */
  mode?: PairingSecrets
  /** How long the window stays open, in ms (default: p2p's DEFAULT_WINDOW_MS, 10 min). */
  ttl?: number
}

/** `tandem pair open`: what the operator carries to the other box. */
export interface PairOpenResult {
  mode: PairingSecrets
  /** 8 digits, for `tandem pair join --pin PIN --addr ADDRESS` on the other box; null when the window accepts only the invite. */
  pin: string | null
  /** The QR payload (`tandem-pair:1:...`), for `tandem pair join --invite PAYLOAD`; null when the window accepts only the PIN. */
  invite: string | null
  /** Addresses the other box may dial (also inside the invite). */
  addresses: string[]
  expiresAt: string
}

/** `pairJoin` arguments: a PIN and the host's address, or the host's invite payload. */
export type PairJoinRequest = { pin: string, addr: string } | { invite: string }

/** A paired box, as `tandem pair list` shows it. */
export interface PeerInfo {
  peerId: string
  name: string
  role: BoxRole
  pairedAt: string
  /** True while a connection to it is open. */
  connected: boolean
}

/** `tandem pair join`: the box now paired, and the code both boxes show. */
export interface PairJoinResult {
  peer: PeerInfo
  /** Six digits the host logs too: the operator compares them. */
  confirmationCode: string
}

/**
 * `pairStatus()`: what the box that opened a window shows while a box joins
 * it and after (docs/pairing.md "Outcome"). Kept in memory: a restarted
 * daemon starts with nulls.
 */
export interface PairStatusInfo {
  /** The window opened last since the daemon started, open or closed; null when none was. */
  window: PairWindowInfo | null
  /** The last pairing this box made since the daemon started, as host or as joiner; null when none. */
  last: PairingDoneInfo | null
}

/** A pairing window; its `expiresAt` is the one `pairOpen` answered, so a page knows its own window. */
export interface PairWindowInfo {
  mode: PairingSecrets
  expiresAt: string
  /** False once used, expired, closed by failed attempts, cancelled or replaced. */
  open: boolean
  /** True while a joining box's attempt is being confirmed. */
  joining: boolean
  failedAttempts: number
  /** The pairing this window ended with, or null. */
  paired: PairingDoneInfo | null
  /**
   * While the window is open, its PIN and invite as `pairOpen` answered them
   * (each null when the window's mode refuses that secret), so the box's
   * console can show them to whoever stands at the box; null once it has
   * closed. Only the local socket carries them: the HTTPS server answers
   * null, as it drops the setup code (web/server.ts).
   */
  pin: string | null
  invite: string | null
}

/** A completed pairing and the code both boxes show. */
export interface PairingDoneInfo {
  /** 'host': the other box joined this one's window; 'joiner': this box joined the other's. */
  side: 'host' | 'joiner'
  peerId: string
  /** The other box's name. */
  name: string
  /** Six digits: the other box shows the same (docs/pairing.md "Cryptography"). */
  confirmationCode: string
  pairedAt: string
}

export interface PairRemoveResult {
  peerId: string
  removed: true
}
