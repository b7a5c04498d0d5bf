import type { ApplianceService } from './appliance-service.ts'
import type { StatusInfo } from './types.ts'

/** Environment variable naming the data directory when `--data` is not given. */
export const DATA_ENV = 'TANDEM_DATA'

/** The data directory when neither `--data` nor TANDEM_DATA names one: the appliance image's place for it. */
export const DEFAULT_DATA_DIR = '/var/lib/tandem'

/** `tandem init` options. */
export interface InitOptions {
  name?: string
  listen?: string[]
  /** HOST:PORT of the web server for browsers. */
  api?: string
  /** Serve `api` as plain HTTP (no certificate): only with a loopback `api` host, else APP_USAGE. */
  plainHttp?: boolean
}

export interface InitResult {
  name: string
  peerId: string
  dataDir: string
  /** The web server, when `api` is given: where a browser opens it, and its certificate's fingerprint (null for plain HTTP). */
  web: { url: string, fingerprint: string | null } | null
}

/**
 * What the CLI needs from the box it runs on, beyond the service: given by
 * the composition root (bin/), so that appliance/cli/ never knows how the
 * daemon or the API are built. `dataDir` is always absolute.
 */
export interface LocalBox {
  /** Creates the data directory, its config and identity, and the web server's certificate; APP_DATA_ALREADY_INITIALIZED when it holds a config. */
  init: (dataDir: string, options: InitOptions) => Promise<InitResult>
  /**
   * Runs the daemon until `signal` aborts, then stops it; resolves once it
   * has stopped. `onReady` is called once it serves its API.
   */
  run: (dataDir: string, signal: AbortSignal, onReady: (status: StatusInfo) => void) => Promise<void>
  /**
   * The running daemon's service; APP_DAEMON_NOT_RUNNING when none answers.
   * `timeoutMs`: how long each call may take before it fails with
   * APP_API_FAILED (default: the API client's, long enough for a pairing join).
   */
  connect: (dataDir: string, options?: { timeoutMs?: number }) => Promise<ApplianceService>
  /**
   * The facts known without the daemon (name, peer id from the identity,
   * configured addresses), with state 'stopped'. Reads only config.json,
   * the identity and the web server's files (its certificate, the admin
   * store), never the store or the peers file.
   */
  offlineStatus: (dataDir: string) => Promise<StatusInfo>
}
