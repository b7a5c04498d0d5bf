/**
 * The box's own settings that the web page's Settings changes
 * (docs/api.md "Settings"): config.json's name, libp2p listen addresses and
 * web address. JSON-able, like every service value.
 */

/** `settings()`: config.json as it is now, what the running daemon uses, and what a restart would change. */
export interface SettingsInfo {
  /** config.json now: what the next start uses. */
  name: string
  listen: string[]
  /** HOST:PORT of the web server, or null for none. */
  api: string | null
  /** The web server is plain HTTP on loopback (`tandem init --plain-http`); changed only with config.json. */
  apiPlainHttp: boolean
  /** What the running daemon started with. */
  running: { name: string, listen: string[], api: string | null }
  /** The settings that differ between config.json and the running daemon: each takes effect when the daemon restarts. */
  restartNeeded: Array<'name' | 'listen' | 'api'>
}

/** `settingsUpdate()`: the settings to change, each checked as `tandem init` checks its option. */
export interface SettingsUpdateRequest {
  name?: string
  listen?: string[]
  api?: string
}
