import type { SettingsInfo, SettingsUpdateRequest } from './settings-types.ts'

/**
 * The box's settings in config.json (docs/daemon.md "config.json"): read,
 * and changed from the web page. Every change takes effect when the daemon
 * restarts (the name is announced by the libp2p node and pairing, the
 * listen addresses are the node's, the web address is the web server's:
 * each is set up once at start), so `restartNeeded` says which differ.
 */
export interface SettingsApi {
  settings: () => Promise<SettingsInfo>
  /**
   * Changes the given settings in config.json, written atomically (a crash
   * leaves the old file or the new one), one update at a time. Checked as
   * `tandem init` checks its options, before anything is written: APP_USAGE
   * names a bad one (a name of 1-64 printable characters, listen addresses
   * that are multiaddrs, at least one; a web address HOST:PORT, on a
   * loopback host while the web server is plain HTTP). Nothing given:
   * APP_USAGE. APP_CONFIG_INVALID when config.json cannot be read.
   */
  settingsUpdate: (request: SettingsUpdateRequest) => Promise<SettingsInfo>
}
